"""Text encoders behind one protocol, chosen by name."""

from __future__ import annotations

from pathlib import Path

from kb.config import Settings
from kb.errors import ConfigError
from kb.search.encoders.base import Encoder, ModelInfo

ENCODERS = ("onnx", "sentence-transformers")

__all__ = ["ENCODERS", "Encoder", "ModelInfo", "get_encoder", "get_query_encoder", "model_info"]


def model_info(settings: Settings) -> ModelInfo:
    """The configured model's description."""
    return ModelInfo.read(settings.model_path(), settings.model_name())


def get_encoder(settings: Settings, *, threads: int = 0) -> Encoder:
    """The configured encoder; ConfigError listing valid names otherwise."""
    info = model_info(settings)
    if settings.encoder == "onnx":
        from kb.search.encoders.onnx import shared_encoder

        return shared_encoder(info, settings.cache_path(), threads=threads)
    if settings.encoder == "sentence-transformers":
        from kb.search.encoders.st import SentenceTransformerEncoder

        return SentenceTransformerEncoder(info)
    raise ConfigError(
        f"unknown encoder {settings.encoder!r}; valid encoders: {', '.join(ENCODERS)}"
    )


def get_query_encoder(
    settings: Settings, fp32: Encoder, record: Path, *, threads: int = 0
) -> Encoder | None:
    """The int8 copy of the model for queries of the lengths the ingest's check (its `record`,
    in the generation) approved it for, `fp32` for the others (kb.search.encoders.int8); None
    when queries use `fp32` only."""
    if not settings.query_int8 or settings.encoder != "onnx":
        return None
    from kb.search.encoders import int8
    from kb.search.encoders.onnx import shared_encoder

    info = model_info(settings)
    approved = int8.approved(info, settings.cache_path(), record)
    if approved is None:
        return None
    model, least = approved
    quick = shared_encoder(info, settings.cache_path(), threads=threads, model_file=model)
    return int8.QueryEncoder(quick, fp32, least)
