"""What the bot core hands to adapters: plain data, no platform markup. Each adapter renders these its own way
(Block Kit, Discord embeds, rich in a terminal)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from bot.safety import inert, neutralize_mentions, safe_markdown
from rag.models import Answer, AuditEntry, DocumentInfo, IndexStats, IngestReport
from rag.replies import replies_in


@dataclass
class SourceLine:
    n: int
    name: str
    location: str | None
    score: float
    doc_id: str
    excerpt: str
    link: str | None = None


@dataclass
class AnswerView:
    question: str
    body: str  # Markdown with [n] markers
    sources: list[SourceLine]
    mode: str
    timings_ms: dict[str, float]
    grounded: bool
    notice: str | None = None  # shown apart from the answer, e.g. "the LLM failed, extractive answer"
    answer: Answer | None = field(default=None, repr=False)
    language: str = "en"  # the question's: the heading of the sources is written in it

    @property
    def sources_title(self) -> str:
        """Cited sources, or — for "I don't know" answers — merely the closest ones, in the question's language."""
        replies = replies_in(self.language)
        return replies.sources if self.grounded else replies.closest_sources

    @property
    def timing_line(self) -> str:
        return " · ".join(f"{k} {v:.0f} ms" for k, v in self.timings_ms.items())

    @classmethod
    def of(cls, question: str, answer: Answer) -> AnswerView:
        """The view of an answer, made safe for every renderer: the body keeps only links to its own sources,
        file names and locations are inert labels, and no text can mention anyone (see `bot.safety`)."""
        sources = [SourceLine(n=s.n, name=inert(s.source), location=inert(s.location) if s.location else None,
                              score=s.score, doc_id=s.doc_id, excerpt=neutralize_mentions(s.text), link=s.link)
                   for s in answer.sources]
        body = safe_markdown(answer.text, [s.link for s in answer.sources if s.link])
        return cls(question=question, body=body, sources=sources, mode=answer.mode,
                   timings_ms=answer.timings_ms, grounded=answer.grounded, notice=answer.warning, answer=answer,
                   language=answer.language)


@dataclass
class MessageView:
    text: str
    level: Literal["info", "error"] = "info"


@dataclass
class IngestView:
    report: IngestReport
    skipped: list[tuple[str, str]] = field(default_factory=list)  # found while walking folders

    @property
    def rows(self) -> list[tuple[str, str, str]]:
        """(status, name, detail) per file, names and details as inert labels (uploads name themselves)."""
        return [(r.status, inert(r.name), inert(r.detail)) for r in self.report.results]

    @property
    def summary(self) -> str:
        report = self.report
        parts = [f"{report.documents} document(s) added or updated ({report.chunks} chunks)"]
        unchanged = report.count("unchanged")
        if unchanged:
            parts.append(f"{unchanged} unchanged")
        skipped = report.count("skipped") + len(self.skipped)
        if skipped:
            parts.append(f"{skipped} skipped")
        if report.failed:
            parts.append(f"{len(report.failed)} failed")
        return ", ".join(parts)


WHERE = {"public": "a public channel", "private": "a private conversation", "group_dm": "a group DM",
         "dm": "a DM", "external": "a shared channel", "local": "the command line or web UI",
         "shared": "a conversation, then shared with everyone by an admin"}


def origin_line(document: DocumentInfo) -> str:
    """Who added a document and where, in words (no mentions: listings must not ping anyone)."""
    origin = document.origin
    if origin is None:
        return "origin unknown (added before owners were recorded; an admin may review it)"
    return f"added by {origin.owner} in {WHERE.get(origin.kind, origin.kind)}"


@dataclass
class DocumentsView:
    documents: list[DocumentInfo]

    def lines(self) -> list[str]:
        """One plain line per document: name, id, size and origin."""
        return [inert(f"{d.source} ({d.doc_id[:12]}, {d.chunks} chunks) · {origin_line(d)}") for d in self.documents]


@dataclass
class ForgottenView:
    document: DocumentInfo

    @property
    def text(self) -> str:
        return f"Forgot {inert(self.document.source)} ({self.document.chunks} chunks)."


@dataclass
class SharedView:
    document: DocumentInfo

    @property
    def text(self) -> str:
        return f"{inert(self.document.source)} is now readable by everyone in this workspace."


@dataclass
class AuditView:
    entries: list[AuditEntry]

    def lines(self) -> list[str]:
        """Newest first: when, who (on which platform), what, which document, which audience, where."""
        if not self.entries:
            return ["The audit log is empty."]
        return [inert(f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(e.at))} UTC · {e.actor} ({e.platform}) · "
                      f"{e.action} · {e.source} ({e.doc_id[:12]}) · audience {e.audience}"
                      + (f" · in {e.place}" if e.place else "") + (f" · {e.detail}" if e.detail else ""))
                for e in self.entries]


@dataclass
class Gap:
    """A question the documents did not answer well (unanswered, or voted 👎), to close: `answer_id` is its latest
    stored answer (where it was asked, for a link and for the audience an admin's answer gets)."""

    question: str
    count: int
    why: Literal["unanswered", "downvoted"]
    answer_id: str
    platform: str
    channel: str | None
    message: str | None


@dataclass
class Insights:
    """What to document next: plain data for every surface."""

    unanswered: list[tuple[str, int]] = field(default_factory=list)  # "I don't know" questions, most frequent first
    downvoted: list[tuple[str, str, list[str]]] = field(default_factory=list)  # question, answer, cited sources
    topics: list[tuple[str, int]] = field(default_factory=list)  # words most asked about
    answers: int = 0  # how many stored answers the report covers
    gaps: list[Gap] = field(default_factory=list)  # unanswered and 👎 questions, each with a way to close it


@dataclass
class InsightsView:
    insights: Insights

    def sections(self) -> list[tuple[str, list[str]]]:
        """(title, lines) for every surface; model and user text made inert (no links, images or mentions)."""
        i = self.insights
        return [
            (f"Questions answered \"I don't know\" ({i.answers} answers reviewed)",
             [inert(f"{q} ×{n}") for q, n in i.unanswered] or ["none"]),
            ("Answers voted 👎", [safe_markdown(f"{q} → {a[:200]} (cited: {', '.join(c) or 'nothing'})")
                                 for q, a, c in i.downvoted] or ["none"]),
            ("Most asked about", [", ".join(f"{w} ({n})" for w, n in i.topics) or "nothing yet"]),
        ]


@dataclass
class StatsView:
    stats: IndexStats

    @property
    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs, the same on every surface that shows them."""
        s = self.stats
        saving = f" ({s.float32_bytes // s.binary_bytes}× less)" if s.binary_bytes else ""
        return [("Documents", f"{s.documents} ({s.scope_chunks:,} chunks)"),
                ("Chunks in the index", f"{s.index_chunks:,} (all knowledge bases)"),
                ("Vectors in RAM", f"{human_bytes(s.binary_bytes)} at 1 bit/dim vs {human_bytes(s.float32_bytes)} "
                                   f"as float32{saving}"),
                ("Rest of the index", self._rest),
                ("Model", f"{s.model} ({s.dim}-d)"), ("Vector store", s.milvus), ("Retrieval", s.retrieval),
                ("Rescoring", s.rescore),
                ("Answers by", s.answers_by)]


    @property
    def _rest(self) -> str:
        """Where the rest of a chunk is kept, and what it costs, truthfully: the 32× is the vectors' alone."""
        s = self.stats
        halves = (f", float16 copies for rescoring ({human_bytes(s.index_chunks * s.dim * 2)})"
                  if s.rescore == "precise" else "")
        if s.text_in_milvus:
            return ("this collection keeps each chunk's text and metadata in Milvus's RAM (measured at 1M chunks: "
                    "~1.6 KB per chunk, the whole Milvus process ~1.9× smaller than with float32 vectors, not 32×): "
                    f"`bitrag reindex` moves them to disk; the keyword index{halves} are on disk, in the registry")
        return (f"chunk text and metadata{halves} and the keyword index are on disk, in the registry; Milvus holds "
                "the 1-bit codes with their ids and audiences")


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


View = (AnswerView | MessageView | IngestView | DocumentsView | ForgottenView | SharedView | AuditView | InsightsView
        | StatsView)
ICONS = {"added": "✅", "replaced": "🔄", "unchanged": "💤", "skipped": "⏭️", "failed": "❌"}


@dataclass
class Listing:
    """A non-answer view as a chat message: `title` in bitrag's own words (Markdown allowed), then `items`, inert
    labels a renderer shows as plain text (they name documents)."""

    title: str
    items: list[str] = field(default_factory=list)
    error: bool = False


def listing(view: View) -> Listing:
    if isinstance(view, MessageView):
        return Listing(view.text, error=view.level == "error")
    if isinstance(view, IngestView):
        return Listing(view.summary, [f"{ICONS[status]} {name}: {status} — {detail}" for status, name, detail
                                      in view.rows])
    if isinstance(view, DocumentsView):
        if not view.documents:
            return Listing("No documents yet. Share a file with me (mention me with it, or send it in a DM), or use "
                           "/ingest.")
        return Listing(f"{len(view.documents)} document(s) answers here may use",
                       [f"• {line}" for line in view.lines()])
    if isinstance(view, ForgottenView | SharedView):
        return Listing("", [view.text])
    if isinstance(view, AuditView):
        return Listing("Audit log (newest first)", [f"• {line}" for line in view.lines()])
    raise TypeError(f"no chat listing for {type(view).__name__}")
