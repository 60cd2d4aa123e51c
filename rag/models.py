"""Plain data passed between the layers: what goes into ingestion and what comes out of a question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest. `name` is what citations show; `key` identifies "the same document" across versions
    (a local path, a Slack file id…): a new version under the same key replaces the old one."""

    path: Path
    name: str
    key: str
    link: str | None = None  # where a user can open the original (a Slack permalink, a Discord message)

    @classmethod
    def local(cls, path: Path) -> SourceFile:
        resolved = path.resolve()
        return cls(path=resolved, name=resolved.name, key=str(resolved))


@dataclass
class Chunk:
    """A piece of a document. `embed_text` is what the embedder sees (text plus its heading context);
    `location` is the human-readable place in the document ("p. 3", "slide 2", "Setup › Linux")."""

    text: str
    embed_text: str
    location: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedDocument:
    chunks: list[Chunk]
    content_hash: str
    kind: str  # file type, for summaries
    timings_ms: dict[str, float] = field(default_factory=dict)  # read, split: where ingestion time goes


class DocumentParser(Protocol):
    """What `RagService` needs from the ingestion layer (implemented by `ingest.parser.FileParser`)."""

    def parse(self, file: SourceFile) -> ParsedDocument:
        """Read and chunk one file. Raises `rag.errors.ParseError` with a user-facing reason."""
        ...

    def check(self, name: str, size: int) -> str:
        """Validate type and size from the name and byte count alone, before anything is downloaded."""
        ...


@dataclass
class Source:
    """A cited source, numbered as in the answer text."""

    n: int
    source: str
    doc_id: str
    location: str | None
    score: float
    text: str
    link: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"n": self.n, "source": self.source, "doc_id": self.doc_id, "location": self.location,
                "score": round(self.score, 4), "text": self.text}


AnswerMode = Literal["groq", "openai-compatible", "extractive"]


@dataclass
class Answer:
    text: str
    sources: list[Source]
    timings_ms: dict[str, float]
    mode: AnswerMode
    grounded: bool = True  # False when nothing retrieved was similar enough: the answer says "I don't know"
    warning: str | None = None  # e.g. the LLM failed and the extractive fallback answered
    language: str = "en"  # the question's (rag/replies.py): bitrag's own words around the answer are in it

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "answer": self.text,
            "sources": [s.as_json() for s in self.sources],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "mode": self.mode,
        }
        if self.warning:
            data["warning"] = self.warning
        return data


@dataclass
class Turn:
    """One earlier message of a conversation, passed as history."""

    role: Literal["user", "assistant"]
    text: str


def last_turns(history: Sequence[Turn], turns: int) -> list[Turn]:
    """The last `turns` question/answer pairs of a history (none for 0: `history[-0:]` would be all of it)."""
    return list(history)[-turns * 2:] if turns > 0 else []


IngestStatus = Literal["added", "replaced", "unchanged", "skipped", "failed"]


@dataclass(frozen=True)
class Origin:
    """Who added a document and where: recorded with every document so that its audience can be explained and
    only its owner (or an admin) changes it. `owner` is a platform user id; `kind` is the kind of conversation
    (public, private, group_dm, dm, external, web, cli…). Documents ingested before origins were recorded have
    none (`DocumentInfo.origin is None`)."""

    owner: str
    platform: str
    conversation: str | None = None
    kind: str = "cli"


@dataclass
class FileResult:
    name: str
    status: IngestStatus
    chunks: int = 0
    reason: str | None = None
    doc_id: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)  # read, split, embed, quantize, store
    note: str | None = None  # something the uploader must know about an added file (kept beside another's)

    @property
    def detail(self) -> str:
        """What a report line says after the status: the chunk count (and note), or why the file was not added."""
        if self.status not in ("added", "replaced", "unchanged"):
            return self.reason or ""
        return f"{self.chunks} chunks" + (f"; {self.note}" if self.note else "")


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, *statuses: IngestStatus) -> int:
        return sum(1 for r in self.results if r.status in statuses)

    @property
    def documents(self) -> int:
        return self.count("added", "replaced")

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results if r.status in ("added", "replaced"))

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]


@dataclass
class DocumentInfo:
    doc_id: str
    source: str
    chunks: int
    created_at: float
    key: str
    link: str | None = None
    audience: str = ""  # the tenant key that decides who may read it (see bot/access.py)
    origin: Origin | None = None  # None: added before bitrag recorded owners ("origin unknown")


@dataclass(frozen=True)
class AuditEntry:
    """One change to a knowledge base: who did what to which document, where and when."""

    at: float
    actor: str
    platform: str
    action: str  # add | replace | forget | share
    audience: str
    doc_id: str
    source: str
    place: str | None
    detail: str | None = None


@dataclass
class IndexStats:
    """What the index holds and costs: the numbers behind "1 bit per dimension"."""

    documents: int  # in the asked scope
    scope_chunks: int  # chunks of those documents
    index_chunks: int  # every chunk in the Milvus collection, all tenants
    dim: int
    model: str
    milvus: str  # "Milvus Lite, ./data/bitrag.db" or "Milvus server, host:19530, BIN_FLAT"
    rescore: str
    answers_by: str  # groq, openai-compatible or extractive
    retrieval: str = "dense"  # the store's keyword_note: hybrid, or dense and why
    text_in_milvus: bool = False  # a collection made before the registry held chunk text (until `bitrag reindex`)

    @property
    def binary_bytes(self) -> int:
        return self.index_chunks * self.dim // 8

    @property
    def float32_bytes(self) -> int:
        return self.index_chunks * self.dim * 4


class Progress(Protocol):
    """Called while a file is being ingested: `done` of `total` chunks embedded and stored."""

    def __call__(self, name: str, done: int, total: int) -> None: ...
