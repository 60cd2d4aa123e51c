"""The platform-neutral bot: commands in, views out. Slack, Discord, the web UI and the terminal all call this.

Adapters give a `Conversation` (who asks, in which tenant) and get back views (`bot.views`); every user-facing
failure becomes a `MessageView(level="error")` with an actionable text, and unexpected ones are logged with a
reference the user can quote.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from bot import metrics
from bot.access import Conversation, Kind, authorize_change, check_can_add_here, may_replace, require_admin
from bot.feedback import FeedbackStore
from bot.ratelimit import RateLimiter
from bot.safety import inert_text, safe_markdown
from bot.views import (
    AnswerView,
    AuditView,
    DocumentsView,
    ForgottenView,
    IngestView,
    InsightsView,
    MessageView,
    SharedView,
    StatsView,
    View,
)
from ingest.discover import MISSING, discover
from ingest.fetch import AddressPolicy, UrlFetcher, is_url
from rag.citations import renumber
from rag.errors import BitragError
from rag.models import FileResult, Progress, SourceFile, Turn
from rag.service import AnswerDelta, AnswerDone, RagService

log = logging.getLogger(__name__)
T = TypeVar("T")

@dataclass(frozen=True)
class Command:
    """One word of the command vocabulary every surface shares; each platform says how it is typed there."""

    name: str
    summary: str
    admin: bool = False
    chat: bool = False  # a chat platform's only (no meaning in the terminal, CLI or web UI)


COMMAND_LIST = (
    Command("ask", "ask a question (or just type it)"),
    Command("ingest", "add files, folders or web pages (URLs): Markdown, text, PDF, Office, HTML, code, …"),
    Command("sources", "list the documents answers here may use"),
    Command("forget", "remove a document you added (admins: any)"),
    Command("share", "make a document readable by the whole workspace or server", admin=True),
    Command("audit", "who added, replaced, shared or forgot which document, and when", admin=True),
    Command("help-channel", "answer every question asked in this channel, when confident (on|off)", admin=True,
            chat=True),
    Command("help", "this text"),
)
COMMANDS = tuple(c.name for c in COMMAND_LIST if not c.chat)  # what the terminal understands
INTRO = "bitrag answers questions from this team's documents and cites where each answer comes from."
LOCAL_SYNTAX = {"ask": "ask <question>", "ingest": "ingest <path or URL>...", "sources": "sources",
                "forget": "forget <doc>", "share": "share <doc> <knowledge base>", "audit": "audit", "help": "help"}


def help_text(syntax: dict[str, str], notes: str = "", chat: bool = True) -> str:
    """The help of one surface, built from the shared vocabulary: `syntax` must say how each command is typed
    there (a missing one is a KeyError, so the help texts cannot drift apart); `chat`: a chat platform's."""
    commands = [c for c in COMMAND_LIST if chat or not c.chat]
    width = max(len(syntax[c.name]) for c in commands) + 2
    lines = [INTRO, ""]
    lines += [f"  {syntax[c.name]:<{width}} {c.summary}{' (admins)' if c.admin else ''}" for c in commands]
    return "\n".join(lines) + (f"\n\n{notes}" if notes else "")


HELP = help_text(LOCAL_SYNTAX, chat=False)
MAX_QUESTION_CHARS = 2000  # a question, not a document: Slack shows it in a 3,000-character block, Discord in 2,000
INGEST_WORDS = re.compile(r"(?i)^(?:please\s+)?(?:ingest|add|index|save)(?:\s+(?:this|these|it|them|files?))?[.!]?$")


def ingest_intent(text: str) -> bool:
    """Whether a message that carries files asks for nothing but adding them ("ingest", "add these", or no text)."""
    return not text.strip() or bool(INGEST_WORDS.match(text.strip()))


def failure(exc: BaseException) -> MessageView:
    """The view for a failed request: our own errors are shown as they are, anything else gets a log reference."""
    if isinstance(exc, BitragError):  # may quote a file name or what the user typed: no link, no mention
        return MessageView(inert_text(str(exc)), level="error")
    reference = uuid.uuid4().hex[:8]
    log.error("Unexpected error (ref %s)", reference, exc_info=exc)
    return MessageView(f"Something went wrong on our side (ref {reference}); it has been logged. "
                       "Please try again.", level="error")


class BotCore:
    def __init__(self, service: RagService, limiter: RateLimiter | None = None,
                 feedback: FeedbackStore | None = None) -> None:
        self.service = service
        self.limiter = limiter
        self.feedback = feedback  # stored answers and votes: purged with the documents they quote
        settings = service.settings
        self.fetcher = UrlFetcher(int(settings.max_file_mb * 2**20), settings.url_timeout_s,
                                  AddressPolicy.parse(settings.url_allow_private))

    def _refusal(self, conversation: Conversation, question: str) -> MessageView | None:
        """Why a question is not answered at all: too long to be a question, or over a rate limit."""
        if len(question) > MAX_QUESTION_CHARS:
            return MessageView(f"Your question is {len(question):,} characters long; bitrag takes questions of up to "
                               f"{MAX_QUESTION_CHARS:,}. Ask it shorter — to ask about a long text, add it as a "
                               "document first, then ask about it.", level="error")
        refusal = self.limiter.check(*conversation.limit_keys) if self.limiter else None
        if refusal is None:
            return None
        metrics.REFUSED.labels(conversation.platform).inc()
        return MessageView(refusal.message, level="error")

    async def ask(self, conversation: Conversation, question: str, history: Sequence[Turn] = (),
                  top_k: int | None = None) -> View:
        if refused := self._refusal(conversation, question):
            return refused
        started = time.perf_counter()
        try:
            view: View = AnswerView.of(question, await self.service.ask(question, conversation.read_scope, history,
                                                                        top_k))
        except Exception as exc:
            view = failure(exc)
        metrics.observe_answer(conversation.platform, view, started)
        return view

    async def ask_stream(self, conversation: Conversation, question: str,
                         history: Sequence[Turn] = ()) -> AsyncIterator[str | View]:
        """Yields the answer written so far each time the LLM adds to it, then the final view (answer or error).

        The text so far is what the final answer will start with, as far as can be known: citations renumbered as
        they appear (the same first-appearance order the final answer uses) and made safe (no live links, images
        or mentions), so a platform that can only append (Slack's native streaming) shows the answer's own text."""
        if refused := self._refusal(conversation, question):
            yield refused
            return
        started = time.perf_counter()
        written = ""
        try:
            async for event in self.service.ask_stream(question, conversation.read_scope, history):
                if isinstance(event, AnswerDelta):
                    written += event.text
                    # No source link is known to be cited yet: none is live while the answer streams.
                    yield safe_markdown(renumber(written, event.available)[0])
                elif isinstance(event, AnswerDone):
                    view = AnswerView.of(question, event.answer)
                    metrics.observe_answer(conversation.platform, view, started)
                    yield view
        except Exception as exc:
            error = failure(exc)
            metrics.observe_answer(conversation.platform, error, started)
            yield error

    async def ingest(self, conversation: Conversation, files: Sequence[SourceFile],
                     progress: Progress | None = None, skipped: Sequence[tuple[str, str]] = ()) -> View:
        """Add files to the conversation's audience, recording who added them and where; a same-name document is
        replaced only when it is the uploader's own (or they are an admin)."""
        try:
            check_can_add_here(conversation)
            report = await self.service.ingest(files, conversation.tenant, progress, conversation.origin,
                                               may_replace(conversation))
        except Exception as exc:
            return failure(exc)
        view = IngestView(report, list(skipped))
        metrics.observe_ingest(view)
        return view

    async def ingest_paths(self, conversation: Conversation, paths: Sequence[Path | str],
                           progress: Progress | None = None) -> View:
        """Files, folders and http(s) URLs (web pages and linked documents, fetched first)."""
        if not paths:
            return MessageView("Say which files, folders or URLs to ingest, e.g. ingest docs/handbook.md", "error")
        urls = [str(p) for p in paths if is_url(str(p))]
        files, skipped = discover([Path(p) for p in paths if not is_url(str(p))])
        missing = [FileResult(name, "failed", reason=f"{MISSING}: check the path") for name, why in skipped
                   if why == MISSING]  # a path the user named: a failure (exit code 1), not a quiet skip
        with tempfile.TemporaryDirectory(prefix="bitrag-urls-") as folder:
            fetched, failed = await self.fetch_urls(urls, Path(folder))
            view = await self.ingest(conversation, [*files, *fetched], progress,
                                     [entry for entry in skipped if entry[1] != MISSING])
        if isinstance(view, IngestView):
            view.report.results[:0] = [*failed, *missing]
        return view

    async def fetch_urls(self, urls: Sequence[str], folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
        """Download each URL into `folder`."""
        return await fetch_each(urls, lambda url: self.fetcher.fetch(url, folder), str)

    async def sources(self, conversation: Conversation) -> View:
        try:
            return DocumentsView(await self.service.sources(conversation.read_scope))
        except Exception as exc:
            return failure(exc)

    async def suggestions(self, conversation: Conversation, limit: int = 4) -> list[tuple[str, str]]:
        """(title, question) prompts to offer someone, built from the newest documents they may read here; a
        first step to add documents when there are none."""
        view = await self.sources(conversation)
        documents = sorted(view.documents, key=lambda d: -d.created_at) if isinstance(view, DocumentsView) else []
        prompts = [(f"About {Path(d.source).stem.replace('-', ' ').replace('_', ' ')}"[:75],
                    f"What are the key points of {d.source}?") for d in documents[:limit]]
        return prompts or [("Add documents", "help")]

    async def stats(self, conversation: Conversation) -> View:
        try:
            return StatsView(await self.service.stats(conversation.read_scope))
        except Exception as exc:
            return failure(exc)

    async def forget(self, conversation: Conversation, reference: str) -> View:
        """Only documents this conversation may read can be named, and only their owner or an admin forgets."""
        if not reference.strip():
            return MessageView("Say which document to forget: forget <name or id> (see sources).", "error")
        try:
            document = await self.service.forget(conversation.read_scope, reference, conversation.origin,
                                                 authorize_change(conversation))
            if self.feedback is not None:  # stored answers quote it: they go too
                await asyncio.to_thread(self.feedback.forget_document, document.doc_id)
            return ForgottenView(document)
        except Exception as exc:
            return failure(exc)

    async def share(self, conversation: Conversation, reference: str, audience: str) -> View:
        """An admin widens a document readable here to the whole workspace/server (`audience` = its key)."""
        try:
            require_admin(conversation, "change who can read a document")
            document = await self.service.share(conversation.read_scope, reference, audience, conversation.origin,
                                                authorize_change(conversation))
            return SharedView(document)
        except Exception as exc:
            return failure(exc)

    async def insights(self, conversation: Conversation, space: str | None = None) -> View:
        """The knowledge gaps (admins only), from the stored answers the viewer may read in full. The local
        operator (CLI, web UI without sign-in) reads every answer, optionally of one `space`."""
        try:
            require_admin(conversation, "see the knowledge-gap report")
            if self.feedback is None:
                raise BitragError("No answers are stored here (FEEDBACK_URL is not in use by this process).")
            return InsightsView(await asyncio.to_thread(self.feedback.insights, _reviewable(conversation), space))
        except Exception as exc:
            return failure(exc)

    async def close_gap(self, conversation: Conversation, answer_id: str, text: str) -> View:
        """An admin answers a question the documents did not (a knowledge gap): the question and their answer
        become a document of the audience of the place it was asked (a DM's question stays its asker's), so the
        next asker there is answered. Only gaps of answers the admin may read in full can be closed."""
        try:
            require_admin(conversation, "answer questions for the knowledge base")
            stored = await asyncio.to_thread(self.feedback.answer, answer_id) if self.feedback else None
            readable = _reviewable(conversation)
            if stored is None or (readable is not None and not set(stored["scope"]) <= set(readable)):
                raise BitragError("That question is not in the knowledge-gap report you can see (it may have "
                                  "expired or been forgotten).")
            if not text.strip():
                raise BitragError("Write the answer first: it is saved as a document for the next person who asks.")
            with tempfile.TemporaryDirectory(prefix="bitrag-gap-") as folder:
                path = Path(folder) / f"answer-{answer_id}.md"
                path.write_text(f"# {' '.join(stored['question'].split())}\n\n{text.strip()}\n")
                view = await self.ingest(replace(conversation, tenant=stored["tenant"]),
                                         [SourceFile(path, path.name, f"gap:{answer_id}")])
        except Exception as exc:
            return failure(exc)
        return view

    async def audit(self, conversation: Conversation, space: str | None = None) -> View:
        """The audit log of a workspace/server (or everything, for the local operator): admins only."""
        try:
            require_admin(conversation, "read the audit log")
            return AuditView(await self.service.audit(space))
        except Exception as exc:
            return failure(exc)

    @staticmethod
    def help() -> MessageView:
        return MessageView(HELP)


def _reviewable(conversation: Conversation) -> tuple[str, ...] | None:
    """The audiences whose stored answers an admin may review (None: all of them, for the local operator)."""
    return None if conversation.kind == Kind.LOCAL and conversation.space is None else conversation.read_scope


async def fetch_each(items: Sequence[T], fetch: Callable[[T], Awaitable[SourceFile]],
                     name: Callable[[T], str]) -> tuple[list[SourceFile], list[FileResult]]:
    """Fetch every item (a URL, a Slack file, a Discord attachment); one that fails with a `BitragError` is reported
    as a failed `FileResult` under its name, with the reason, instead of stopping the others."""
    fetched, failed = [], []
    for item in items:
        try:
            fetched.append(await fetch(item))
        except BitragError as exc:
            failed.append(FileResult(name(item), "failed", reason=str(exc)))
    return fetched, failed


@dataclass(frozen=True)
class ParsedCommand:
    name: str  # one of COMMANDS, or unknown
    argument: str


def parse_command(text: str) -> ParsedCommand:
    """`/ingest a.md`, `/forget x`, `sources`, `help` → that command; any other text is a question.

    Only a leading `/` (or `!`) makes a command, except the bare words `sources` and `help`, so that a question
    such as "help me find the expense policy" is still asked."""
    stripped = text.strip()
    if stripped.lower() in ("sources", "help"):
        return ParsedCommand(stripped.lower(), "")
    if stripped.startswith(("/", "!")):
        word, _, rest = stripped[1:].partition(" ")
        if word.lower() not in COMMANDS:
            return ParsedCommand("unknown", word)
        return ParsedCommand(word.lower(), rest.strip())
    return ParsedCommand("ask", stripped)


def split_paths(argument: str) -> list[Path | str]:
    """Paths as a shell would split them (quotes allowed for names with spaces); URLs stay strings."""
    return [p if is_url(p) else Path(p).expanduser() for p in shlex.split(argument)]
