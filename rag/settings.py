"""Settings of the retrieval and generation layer, read from the environment and `.env`.

`bot.settings.Settings` extends this class with the chat-platform settings, so a running bitrag has exactly
one settings object. Field names map to upper-case environment variables (`milvus_uri` → `MILVUS_URI`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.database import POSTGRES_PREFIXES, SQLITE_PREFIX, SUPPORTED
from rag.errors import ConfigError

NETWORK_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")
NO_PRIVATE, ALL_PRIVATE = ("", "false", "0", "no"), ("true", "1", "yes")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def private_networks(value: str) -> tuple[bool, tuple[Network, ...]]:
    """URL_ALLOW_PRIVATE → (every private address allowed, the private networks allowed). Raises ValueError naming
    a part that is not a network or address."""
    value = value.strip().lower()
    if value in NO_PRIVATE:
        return False, ()
    if value in ALL_PRIVATE:
        return True, ()
    return False, tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(","))


def default_home() -> Path:
    """Where bitrag keeps its data when BITRAG_HOME is not set: the same folder whichever directory it is run
    from (a `./data` that depended on the working directory gave a second, empty knowledge base elsewhere)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bitrag"


RescoreMode = Literal["precise", "asymmetric", "none"]
RetrievalMode = Literal["hybrid", "dense"]
Analyzer = Literal["english", "standard", "chinese"]  # Milvus's built-in analyzers
KeywordIndexChoice = Literal["registry", "milvus"]
LLMChoice = Literal["auto", "groq", "openai-compatible", "extractive"]


class RagSettings(BaseSettings):
    """Everything `rag/` and `ingest/` need; see `.env.example` for the documentation of each variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage. Empty paths are filled in from BITRAG_HOME (`_paths_in_home`).
    bitrag_home: Path = Field(default_factory=default_home)
    milvus_uri: str = ""  # default BITRAG_HOME/bitrag.db
    milvus_token: SecretStr | None = None
    milvus_collection: str = Field(default="bitrag_chunks", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    milvus_timeout_s: float = Field(default=10.0, gt=0)
    milvus_startup_wait_s: float = Field(default=60.0, ge=0)  # how long start-up waits for a server to come up
    milvus_index: Literal["BIN_FLAT", "BIN_IVF_FLAT"] = "BIN_FLAT"  # server only; Lite has BIN_FLAT alone
    milvus_nlist: int = Field(default=1024, ge=1, le=65536)
    milvus_nprobe: int = Field(default=256, ge=1, le=65536)
    registry_url: str = ""  # default sqlite:///BITRAG_HOME/registry.sqlite3

    # Embeddings
    embedder: Literal["local", "openai"] = "local"
    embed_model: str | None = None
    embed_dimensions: int | None = Field(default=None, ge=8)
    embed_batch_size: int = Field(default=64, ge=1, le=2048)
    embed_device: Literal["auto", "cpu", "cuda"] = "auto"  # local model: auto = a CUDA GPU when torch sees one
    embed_precision: Literal["float32", "float16"] = "float32"  # float16 halves GPU memory and time; GPU only
    # local model: auto = torch on a CUDA GPU, else ONNX Runtime in float32 (rag/embed.py resolve_runtime)
    embed_runtime: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    # put before questions / chunks when embedding; unset: the model's own ("query: " / "passage: " for E5 models)
    embed_query_prefix: str | None = None
    embed_passage_prefix: str | None = None
    embed_cache_dir: str | None = None  # where ONNX exports are kept; default ~/.cache/bitrag/encoders
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None

    # Retrieval
    rescore: RescoreMode = "precise"
    oversample: int = Field(default=10, ge=1, le=100)
    top_k: int = Field(default=5, ge=1, le=50)
    min_similarity: float = Field(default=0.2, ge=-1.0, le=1.0)
    # "I don't know" unless the top chunks hold this share of the question's words (rag/abstain.py; 0 = off), or
    # the best score reaches ABSTAIN_TRUSTED_SCORE
    abstain_min_coverage: float = Field(default=0.34, ge=0.0, le=1.0)
    abstain_trusted_score: float = Field(default=0.5, ge=-1.0, le=1.0)
    # ... and unless every name the question uses ("Berlin", "CEO", "v3") is in one of them, whatever the score
    abstain_check_names: bool = True
    # ... and every word of an English question that everyday English seldom uses ("bereavement", "pension")
    abstain_check_rare_words: bool = True
    # ... and the nouns of what an English question asks for ("What is the *price* of…", "Is there a *shower*?")
    abstain_check_asked_for: bool = True
    # hybrid adds BM25 keyword search to the 1-bit dense search: +12 % NDCG@10 on SciFact, 1.09x float32 on held-out
    # data; its index costs ~1.7-1.9 KB of disk per chunk (benchmarks/keywords.py) and ~14 % of the asks/s at 1M
    # chunks (benchmarks/e2e.py). Under dense, questions in a script the model does not cover use keywords alone
    retrieval: RetrievalMode = "hybrid"
    # where hybrid's keyword search runs: the registry's BM25 index (on disk, every language: rag/keywords.py) or
    # Milvus's BM25 (in RAM, ~2 KB per chunk; BM25_ANALYZER; Lite and servers >= 2.5)
    keyword_index: KeywordIndexChoice = "registry"
    bm25_analyzer: Analyzer = "english"  # KEYWORD_INDEX=milvus: how Milvus tokenizes chunk text; fixed at creation
    hybrid_dense_weight: float = Field(default=0.7, ge=0.0, le=1.0)  # share of the dense score (fusion.py)
    # Many askers at once (rag/queries.py): questions that arrive together share one forward pass and one search
    ask_batching: bool = True
    ask_batch_max: int = Field(default=64, ge=1, le=1024)  # questions per forward pass / search request
    ask_batch_wait_ms: float = Field(default=0.0, ge=0.0, le=100.0)  # extra wait for company (0: only while busy)
    ask_queue_limit: int = Field(default=500, ge=1)  # questions being retrieved at once; more are refused as busy

    # Ingestion
    chunk_tokens: int = Field(default=200, ge=32, le=8192)
    chunk_overlap: int = Field(default=30, ge=0, le=1024)
    max_file_mb: float = Field(default=50.0, gt=0)
    max_file_chunks: int = Field(default=10_000, ge=1)  # ~7 minutes of embedding on 2 CPU cores
    parse_memory_mb: int = Field(default=2048, ge=256)  # address-space cap of the reader process
    parse_timeout_s: float = Field(default=120.0, gt=0)
    ocr_languages: str = Field(default="eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")  # Tesseract packs: eng+deu
    url_timeout_s: float = Field(default=30.0, gt=0)  # /ingest <url>: the whole fetch
    url_allow_private: str = "false"  # private/loopback hosts `ingest <url>` may fetch: false, true, or CIDRs
    transcribe_model: str = "whisper-large-v3-turbo"  # audio, through Groq (needs GROQ_API_KEY)
    transcribe_max_upload_mb: float = Field(default=25.0, gt=0)  # Groq's per-request limit; longer audio is cut

    # Generation
    llm: LLMChoice = "auto"
    groq_api_key: SecretStr | None = None
    groq_base_url: str | None = None
    groq_model: str = "llama-3.3-70b-versatile"
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "llama3.1"
    llm_temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    llm_timeout_s: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    history_turns: int = Field(default=6, ge=0, le=50)
    llm_concurrency: int = Field(default=16, ge=1, le=1024)  # answers being written at once; the rest wait

    @field_validator("milvus_uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        if "://" in uri and not uri.startswith(NETWORK_SCHEMES):
            raise ValueError("use a file path for Milvus Lite (~/bitrag/bitrag.db) or http(s)://host:19530 for a "
                             "server, or leave it unset for BITRAG_HOME/bitrag.db")
        return uri

    @model_validator(mode="after")
    def _paths_in_home(self) -> RagSettings:
        """Unset storage paths go under BITRAG_HOME (made absolute, so every process finds the same files)."""
        self.bitrag_home = self.bitrag_home.expanduser().absolute()
        self.milvus_uri = self.milvus_uri or str(self.bitrag_home / "bitrag.db")
        self.registry_url = self.registry_url or f"{SQLITE_PREFIX}{self.bitrag_home / 'registry.sqlite3'}"
        return self

    @field_validator("url_allow_private")
    @classmethod
    def _networks(cls, value: str) -> str:
        private_networks(value)
        return value

    @field_validator("registry_url", "feedback_url", check_fields=False)
    @classmethod
    def _known_database(cls, url: str) -> str:
        if url and not url.startswith((SQLITE_PREFIX, *POSTGRES_PREFIXES)):
            raise ValueError(SUPPORTED)
        return url

    def make_home(self) -> None:
        """Create BITRAG_HOME, readable by its owner only (it holds the documents' text), if it is not there."""
        self.bitrag_home.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def milvus_is_lite(self) -> bool:
        """A URI without a network scheme is a Milvus Lite database file."""
        return not self.milvus_uri.startswith(NETWORK_SCHEMES)

    @property
    def resolved_embed_model(self) -> str:
        if self.embed_model:
            return self.embed_model
        return "all-MiniLM-L6-v2" if self.embedder == "local" else "text-embedding-3-small"


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings, turning pydantic's errors into one `ConfigError` that names each bad variable.

    Values of secret fields are never echoed back.
    """
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            annotation = cls.model_fields.get(field)
            secret = annotation is not None and "SecretStr" in str(annotation.annotation)
            given = re.sub(r"//[^/@]*@", "//***@", str(err.get("input")))  # no credentials from a URI
            shown = "" if secret else f" (got {given!r})"
            problems.append(f"{field.upper()}: {err['msg']}{shown}")
        raise ConfigError("Invalid configuration — fix these environment variables or .env entries:\n  "
                          + "\n  ".join(problems)) from None
