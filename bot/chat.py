"""The chat flows every platform shares — ask, messages with files, uploads with progress, forget/share and the
other commands, votes, uploads resumed after a restart — behind the small contract an adapter implements.

An adapter translates platform facts into core terms (`Person`, `Room`, the files a message carries, the earlier
turns of a thread) and implements `Surface` for one request: `send` a finished view, or `open` a message that
shows work in progress (an answer being written, an upload's progress) and is then `finish`ed. Everything that is
policy is decided here, once: who reads what (`bot.access.conversation_for`), whether a reply may be seen by the
conversation or only by the asker, who may add, which answers are recorded, when a change is announced, how a
question, its history and its files are read, how a document is keyed, how an upload survives a restart.

A surface may make a reply *more* private than asked (a Slack shortcut answers ephemerally), never less.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bot.access import UNCHECKED, ChangePolicy, Conversation, Kind, Person, Room, conversation_for
from bot.core import BotCore, ingest_intent
from bot.feedback import FeedbackStore
from bot.helpdesk import HelpChannels, looks_like_question
from bot.jobs import Fetch, Job, JobStore, ingest_upload, resume
from bot.safety import inert
from bot.settings import Settings
from bot.streaming import ProgressReporter, ThrottledEditor, follow
from bot.views import (
    AnswerView,
    DocumentsView,
    ForgottenView,
    Gap,
    IngestView,
    InsightsView,
    MessageView,
    SharedView,
    StatsView,
    View,
)
from rag.errors import BitragError, NotAllowedError
from rag.models import FileResult, SourceFile, Turn, last_turns

log = logging.getLogger(__name__)

URL = re.compile(r"<?(https?://[^\s<>|]+)(?:\|[^>]*)?>?")  # bare, <url> (Discord, Slack) or <url|label> (Slack)
INGEST_WORD = re.compile(r"(?i)^(?:please\s+)?(?:ingest|add|index|save)\b")
UPLOADING = "📥"


class Reply(Protocol):
    """A message that shows work in progress and is then replaced by its result."""

    message: str | None  # the platform's id of the message once posted (a Slack ts), for links back to it

    async def show(self, text: str) -> None:
        """The answer written so far (safe Markdown from the core), or an upload's progress line."""

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        """The final view; `answer_id` when it is a recorded answer that vote buttons may carry."""


class Surface(Protocol):
    """One request's way back to the people, as the platform does it."""

    address: dict[str, Any]  # where a resumed upload reports (JSON-safe): what `ChatFlow.resume` is given back

    async def send(self, view: View, private: bool = False) -> None:
        """A finished message: to the conversation, or (`private`) to the asker alone."""

    async def open(self, waiting: str, private: bool = False, answer: bool = False) -> Reply:
        """A message that will show an `answer` as it is written, or an upload's progress, starting with
        `waiting`."""


@dataclass
class Upload:
    """Files a message or command carries, fetched into a folder when the upload runs."""

    names: list[str]
    fetch: Callable[[Path], Awaitable[tuple[list[SourceFile], list[FileResult]]]]


@dataclass
class Message:
    """A message addressed to bitrag (a mention, a DM, a thread follow-up), in core terms."""

    text: str
    files: Upload | None = None
    history: Sequence[Turn] = field(default_factory=list)


def split_message(text: str) -> tuple[str, list[str]]:
    """(the text without links, the links) of a message that asks to ingest them ("ingest https://…"); links in any
    other message are part of the question."""
    urls = [m.group(1) for m in URL.finditer(text)]
    rest = " ".join(URL.sub(" ", text).split())
    if urls and INGEST_WORD.match(rest):
        return rest, urls
    return text.strip(), []


def message_document(title: str, messages: Sequence[tuple[str, float, str]]) -> str:
    """Chat messages as a Markdown document (the "Add to knowledge base" action): one paragraph per message, with
    who wrote it and when (UTC)."""
    lines = [f"# {title}"]
    for author, at, text in messages:
        if text.strip():
            lines += ["", f"**{author}** ({time.strftime('%Y-%m-%d %H:%M', time.gmtime(at))} UTC):", "", text.strip()]
    return "\n".join(lines) + "\n"


def document_name(key: str) -> str:
    """The file name a saved conversation is listed and cited by: its key, readable."""
    return re.sub(r"[:.]", "-", key) + ".md"


def document_key(platform: str, name: str) -> str:
    """What makes a new upload "the same document" as an earlier one of the same audience: its name there."""
    return f"{platform}:{name}"


class ChatFlow:
    """The flows of one chat platform over the bot core. `help_text` is the platform's own help; `on_change` is
    called with a person after their documents changed (Slack re-publishes their App Home)."""

    def __init__(self, core: BotCore, feedback: FeedbackStore | None, jobs: JobStore | None, settings: Settings,
                 platform: str, help_text: str, on_change: Callable[[Person], Awaitable[None]] | None = None) -> None:
        self.core, self.feedback, self.jobs, self.settings, self.platform = core, feedback, jobs, settings, platform
        self.help_text, self.on_change = help_text, on_change
        allowed = {"slack": settings.slack_ingest_allowed, "discord": settings.discord_ingest_allowed}
        self.policy = ChangePolicy.parse(allowed.get(platform, "all"), f"{platform.upper()}_INGEST_ALLOWED")
        self._help_channels: HelpChannels | None = None

    @property
    def help_channels(self) -> HelpChannels:
        """Where questions are answered without a mention (opened on first use: the terminal never needs it)."""
        if self._help_channels is None:
            self._help_channels = HelpChannels(self.settings.feedback_url)
        return self._help_channels

    def here(self, person: Person, room: Room) -> Conversation:
        """The conversation of `person` in `room` (raises `NotAllowedError` where bitrag does not work)."""
        return conversation_for(person, room, self.platform == "slack" and self.settings.slack_channel_scoped,
                                self.settings.slack_allow_shared_channels)

    async def _here_or_refuse(self, surface: Surface, person: Person, room: Room) -> Conversation | None:
        try:
            return self.here(person, room)
        except NotAllowedError as exc:
            await surface.send(MessageView(str(exc), "error"), private=True)
            return None

    # --- asking --------------------------------------------------------------------------------------------------

    async def ask(self, surface: Surface, person: Person, room: Room, question: str,
                  history: Sequence[Turn] = ()) -> View | None:
        here = await self._here_or_refuse(surface, person, room)
        return None if here is None else await self.answer(surface, here, question, history)

    async def answer(self, surface: Surface, here: Conversation, question: str,
                     history: Sequence[Turn] = ()) -> View:
        """Stream an answer into a message (the asker's alone where nobody knows who reads the conversation),
        record it, then show it whole with its sources and vote buttons."""
        reply = await surface.open("Searching your documents…", private=here.private, answer=True)
        editor = ThrottledEditor(reply.show, self.settings.stream_interval_s)
        bounded = last_turns(history, self.settings.history_turns)
        view = await follow(self.core.ask_stream(here, question, bounded), editor)
        answer_id = None
        if isinstance(view, AnswerView) and self.feedback is not None:
            answer_id = await self.feedback.record(view, here, reply.message)
        await editor.finish(lambda: reply.finish(view, answer_id))
        return view

    async def message(self, surface: Surface, person: Person, room: Room, message: Message) -> None:
        """A message addressed to bitrag: its files (and the links it asks to ingest) are added, and what else it
        says is answered — unless it only asks to add them ("ingest", "add these", nothing)."""
        here = await self._here_or_refuse(surface, person, room)
        if here is None:
            return
        text, urls = split_message(message.text)
        upload = message.files
        if urls:
            pages = Upload(urls, lambda folder: self.core.fetch_urls(urls, folder))
            upload = pages if upload is None else _joined(upload, pages)
        if upload is not None:
            await self._upload(surface, person, here, upload)
            if ingest_intent(text):
                return
        if not text:
            await surface.send(MessageView(self.help_text), private=not _alone(here))
            return
        await self.answer(surface, here, text, message.history)

    # --- adding --------------------------------------------------------------------------------------------------

    def refusal(self, person: Person, here: Conversation) -> str | None:
        """Why `person` may not add documents here (nobody knows who reads it; *_INGEST_ALLOWED, which holds in
        DMs too), or None."""
        if here.private:
            return UNCHECKED
        return None if self.policy.allows(here, person.roles) else self.policy.refusal

    async def upload(self, surface: Surface, person: Person, room: Room, upload: Upload,
                     private: bool = False) -> View | None:
        """An upload as one durable job, its progress shown in one message that ends with the report."""
        here = await self._here_or_refuse(surface, person, room)
        return None if here is None else await self._upload(surface, person, here, upload, private)

    async def keep(self, surface: Surface, person: Person, room: Room, key: str, title: str,
                   messages: Sequence[tuple[str, float, str]], link: str | None, files: Upload | None) -> None:
        """"Add to knowledge base": chat messages — (author, when, text) — become one document of the place's
        audience keyed `key` and cited by `link`, with the `files` they carry; the person alone is told."""
        name = document_name(key)

        async def fetch(folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
            (folder / name).write_text(message_document(title, messages))
            fetched, failed = await files.fetch(folder) if files else ([], [])
            return [SourceFile(folder / name, name, key, link), *fetched], failed

        await self.upload(surface, person, room, Upload([name, *(files.names if files else [])], fetch), private=True)

    async def _upload(self, surface: Surface, person: Person, here: Conversation, upload: Upload,
                      private: bool = False) -> View:
        if (refused := self.refusal(person, here)) is not None:
            view: View = MessageView(refused, "error")
            await surface.send(view, private=not _alone(here))
            return view
        names = ", ".join(inert(n) for n in upload.names)
        reply = await surface.open(f"{UPLOADING} Ingesting {names}…", private=private)
        editor = ThrottledEditor(reply.show, self.settings.stream_interval_s)
        progress = ProgressReporter(editor, UPLOADING)
        assert self.jobs is not None, "uploads need a JobStore"
        view = await ingest_upload(self.core, self.jobs, here, upload.names, surface.address,
                                   self._keyed(upload.fetch), progress)
        await progress.drain()
        await editor.finish(lambda: reply.finish(view))
        if isinstance(view, IngestView) and view.report.documents:
            await self.changed(person)
        return view

    def _keyed(self, fetch: Fetch) -> Fetch:
        """Files without a key of their own are keyed by their name on this platform."""
        async def keyed(folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
            files, failed = await fetch(folder)
            return [f if f.key else replace(f, key=document_key(self.platform, f.name)) for f in files], failed

        return keyed

    async def changed(self, person: Person) -> None:
        if self.on_change is not None:
            try:
                await self.on_change(person)
            except Exception:  # a nicety (App Home) must not fail the change itself
                log.exception("Could not refresh what %s sees after a change", person.user)

    # --- commands ------------------------------------------------------------------------------------------------

    async def command(self, surface: Surface, person: Person, room: Room, name: str, argument: str = "") -> None:
        """`sources`, `forget <doc>`, `share <doc>`, `audit`, `help` (and `ask <question>`). Listings, refusals and
        the audit log go to the asker alone; a change is announced where it was made only when everyone there may
        read the document."""
        if name == "ask" and argument:
            await self.ask(surface, person, room, argument)
            return
        here = await self._here_or_refuse(surface, person, room)
        if here is None:
            return
        view: View
        if name == "sources":
            view = await self.core.sources(here)
        elif name == "forget":
            view = await self.core.forget(here, argument)
        elif name in ("share", "audit") and (here.space is None or here.private):
            view = MessageView(f"Run {name} in a channel of the workspace or server, not in a DM.", "error")
        elif name == "share":
            view = await self.core.share(here, argument, str(here.space))
        elif name == "audit":
            view = await self.core.audit(here, here.space)
        elif name == "help-channel":
            view = await self._set_help_channel(here, person, argument)
        else:
            view = MessageView(self.help_text + await self._help_mode_line(here))
        changed = isinstance(view, ForgottenView | SharedView)
        announce = changed and not here.private and view.document.audience in here.read_scope  # type: ignore[union-attr]
        await surface.send(view, private=not (announce or _alone(here)))
        if changed:
            await self.changed(person)

    # --- help channels and solved threads (bot.helpdesk) ------------------------------------------------------

    async def _set_help_channel(self, here: Conversation, person: Person, argument: str) -> View:
        """`help-channel on|off`: admins only, in a channel (a DM or a place whose readers are unknown is not one)."""
        if argument.strip().lower() not in ("on", "off"):
            return MessageView("Say help-channel on (answer every question asked here, when confident) or "
                               "help-channel off.", "error")
        if not here.admin:
            return MessageView("Only admins can change whether a channel answers questions by itself.", "error")
        if here.private or _alone(here) or here.channel is None or here.space is None:
            return MessageView("Help-channel mode is for channels whose members bitrag can see.", "error")
        on = argument.strip().lower() == "on"
        await asyncio.to_thread(self.help_channels.set, self.platform, here.space, here.channel, person.user, on)
        return MessageView("This channel now answers questions by itself: every new question gets a threaded answer "
                           "when bitrag is confident, from documents everyone here may read." if on else
                           "This channel no longer answers questions without a mention.")

    async def _help_mode_line(self, here: Conversation) -> str:
        if here.channel is None or here.space is None or _alone(here) or here.private:
            return ""
        on = await asyncio.to_thread(self.help_channels.is_on, self.platform, here.space, here.channel)
        return ("\n\nThis channel is a help channel: questions asked here are answered without a mention." if on else
                "\n\nAn admin can make this channel answer every question by itself: help-channel on.")

    async def help_channel_list(self, space: str) -> list[str]:
        return await asyncio.to_thread(self.help_channels.listed, self.platform, space)

    async def answer_if_confident(self, surface: Surface, person: Person, room: Room, text: str) -> bool:
        """A question in a help channel (`is_help_question` said so): True when answered in its thread; False when
        bitrag looked and had no confident answer readable by everyone there (nothing is posted: the adapter may
        react so a human knows). Unanswered questions are recorded for the knowledge-gap report."""
        try:
            here = self.here(person, room)
        except NotAllowedError:
            return False
        if here.private:
            return False  # nobody knows who reads it: nothing is posted, and nobody asked privately
        view = await self.core.ask(here, text)
        if not isinstance(view, AnswerView):
            return False
        answer_id = await self.feedback.record(view, here) if self.feedback is not None else None
        if not view.grounded:
            return False
        reply = await surface.open("Searching your documents…", answer=True)
        await reply.finish(view, answer_id)
        return True

    async def file_solved(self, surface: Surface, person: Person, room: Room, asker: str, key: str,
                          messages: Sequence[tuple[str, float, str]], link: str | None) -> bool:
        """The solved-reaction on a thread: filed as a document of the thread's audience when it comes from the
        asker or an admin (anyone else's is ignored); True when filed."""
        here = await self._here_or_refuse(surface, person, room)
        if here is None or (person.user != asker and not here.admin):
            return False
        await self.keep(surface, person, room, key, "Solved thread", messages, link, None)
        return True

    async def unfile_solved(self, person: Person, room: Room, key: str) -> bool:
        """The solved-reaction taken back (by who filed it, or an admin), or the thread's first message deleted
        (`person` is then bitrag itself, an admin): the filed thread is forgotten. True when it was."""
        try:
            here = self.here(person, room)
        except NotAllowedError:
            return False
        if here.space is None or room.conversation is None:
            return False
        # Filed where the thread's audience was then: its channel's own, or the whole space's.
        filed = replace(here, tenant=f"{here.space}:{room.conversation}", also_reads=(here.space,))
        view = await self.core.forget(filed, document_name(key))
        if isinstance(view, ForgottenView):
            await self.changed(person)
        return isinstance(view, ForgottenView)

    async def is_help_question(self, space: str | None, conversation: str | None, text: str) -> bool:
        """Cheap first look at every top-level message: a question, in a help channel (before any platform call)."""
        return bool(space and conversation and looks_like_question(text)) and await asyncio.to_thread(
            self.help_channels.is_on, self.platform, str(space), str(conversation))

    async def gaps(self, person: Person) -> list[Gap]:
        """The knowledge gaps an admin may close where only they look (App Home): unanswered and 👎 questions of
        answers they may read in full. Nobody else gets any."""
        here = _where_alone(person)
        view = await self.core.insights(here, here.space) if here.admin else None
        return view.insights.gaps if isinstance(view, InsightsView) else []

    async def close_gap(self, person: Person, answer_id: str, text: str) -> View:
        """An admin's answer to a gap, saved as a document where the question was asked (`BotCore.close_gap`)."""
        view = await self.core.close_gap(_where_alone(person, "home"), answer_id, text)
        if isinstance(view, IngestView) and view.report.documents:
            await self.changed(person)
        return view

    async def personal(self, person: Person) -> tuple[DocumentsView | None, StatsView | None]:
        """What a person may read where only they look (App Home, the web UI): documents and the index's numbers."""
        here = _where_alone(person)
        documents, stats = await self.core.sources(here), await self.core.stats(here)
        return (documents if isinstance(documents, DocumentsView) else None,
                stats if isinstance(stats, StatsView) else None)

    async def suggestions(self, person: Person) -> list[tuple[str, str]]:
        """Questions to suggest to a person where only they read (an assistant thread), from what they may read."""
        return await self.core.suggestions(_where_alone(person))

    # --- votes, restarts, places that changed -------------------------------------------------------------------

    async def vote(self, answer_id: str, user: str, up: bool) -> str:
        """Store a vote; the text to show the voter (privately)."""
        if self.feedback is None:
            return "Votes are not stored here."
        known = await asyncio.to_thread(self.feedback.vote, answer_id, user, 1 if up else -1)
        return "Thanks for the feedback!" if known else "That answer is too old to rate."

    async def resume(self, surface_at: Callable[[dict[str, Any]], Awaitable[Surface]]) -> int:
        """Finish or report this platform's uploads that a previous run accepted but did not complete."""
        async def post(job: Job, view: View) -> None:
            await (await surface_at(job.reply)).send(view)

        return 0 if self.jobs is None else await resume(self.core, self.jobs, self.platform, post)

    async def narrow(self, space: str, conversation: str) -> list[str]:
        """A conversation that everyone could read no longer is (made private, shared with another organisation,
        a role gate added): the documents shared there while it was public narrow to it. Returns their names."""
        try:
            moved = await self.core.service.narrow(space, self.platform, conversation, f"{space}:{conversation}")
        except BitragError as exc:
            log.warning("Could not narrow the documents of %s: %s", conversation, exc)
            return []
        if moved:
            log.warning("%s is no longer readable by everyone: %d document(s) shared there now serve only it (%s)",
                        conversation, len(moved), ", ".join(moved))
        return moved

    async def reconcile(self, still_public: Callable[[str, str], Awaitable[bool | None]]) -> int:
        """Check every place whose documents serve a whole workspace or server (at start-up, so that a conversion
        while bitrag was down is not missed): `still_public(space, conversation)` is False where everyone can no
        longer read it (then its documents narrow), None where it cannot be told now (left as they are)."""
        narrowed = 0
        for space, conversation in await self.core.service.public_origins(self.platform):
            if await still_public(space, conversation) is False:
                narrowed += len(await self.narrow(space, conversation))
        return narrowed


def _where_alone(person: Person, conversation: str | None = None) -> Conversation:
    """The person where only they look (App Home, an assistant thread, a modal): what they alone may read."""
    return conversation_for(person, Room(kind=Kind.DM, conversation=conversation), allow_shared=True)


def _alone(here: Conversation) -> bool:
    """Only the asker reads this conversation (a DM, the terminal): a private reply is an ordinary one there."""
    return here.kind in (Kind.DM, Kind.LOCAL)


def _joined(first: Upload, second: Upload) -> Upload:
    async def fetch(folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
        a, failed_a = await first.fetch(folder)
        b, failed_b = await second.fetch(folder)
        return a + b, failed_a + failed_b

    return Upload(first.names + second.names, fetch)
