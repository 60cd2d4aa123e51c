"""The Slack app: slash commands, mentions, DMs, thread follow-ups, file uploads, the message shortcut, votes, App
Home and the assistant thread's prompts.

Thin by design: each listener establishes the Slack facts (`facts.py`: who asks, who reads the conversation),
turns the payload into core terms and hands it to the chat flows (`bot.chat.ChatFlow`), which decide everything
that is policy; `replies.py` says how a reply reaches Slack. Slash commands are acked at once and worked on in
lazy listeners; events are acked by bolt before the listener runs, and events Slack retries are processed once.
Places that stop being readable by everyone — `channel_convert_to_private`, `channel_shared` — narrow the
documents shared there at once, and every such place is checked again at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.access import Kind, Person, Room, parse_ids
from bot.adapters.slack.facts import SlackFacts, kind_of, make_client
from bot.adapters.slack.files import SlackFiles, file_id_from_url, is_slack_link, slack_error
from bot.adapters.slack.render import (
    FEEDBACK,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    GAP,
    GAP_MODAL,
    escape,
    gap_blocks,
    gap_modal,
    home_view,
)
from bot.adapters.slack.replies import SlackSurface
from bot.chat import ChatFlow, Message, Upload
from bot.core import failure, fetch_each, help_text
from bot.feedback import FeedbackStore
from bot.jobs import JobStore
from bot.settings import Settings
from bot.terms import NotAllowedError, Turn, is_url
from bot.views import MessageView

log = logging.getLogger(__name__)

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
RECENT_FILES_WINDOW_S = 300  # files shared together with the newest one count as "most recently shared"
SLACK_HELP = help_text(
    {"ask": "/ask <question>", "ingest": "/ingest [file link or URL]", "sources": "/bitrag sources",
     "forget": "/bitrag forget <doc>", "share": "/bitrag share <doc> workspace", "audit": "/bitrag audit",
     "help-channel": "/bitrag help-channel on|off", "help": "/bitrag help"},
    "You can also mention me or DM me with a question. To add files, share them in a message that mentions me, or "
    "in a DM. A document is read only where everyone present may see it: shared in a public channel it serves the "
    "whole workspace, in a private channel or group DM its members, in a DM you alone; guests read only what was "
    "shared where they are. React with :white_check_mark: on a thread you asked in to keep it as knowledge.")
ADD_MESSAGE = "bitrag_add_message"  # the "Add to knowledge base" message shortcut
FILE_NOT_HERE = ("That file was not shared in this conversation, so I won't add it from here. Share it here first "
                 "(or run /ingest where it was shared).")
NARROWER = {"ims": 1, "groups": 2, "channels": 3}  # files.info lists where a file is shared; fewer readers = lower


def strip_mentions(text: str) -> str:
    return " ".join(MENTION.sub(" ", text or "").split())


def file_name(file: dict[str, Any]) -> str:
    """What a user calls a shared file (events may carry only its id)."""
    return str(file.get("name") or file.get("id"))


class SlackAdapter:
    def __init__(self, core: Any, settings: Settings, feedback: FeedbackStore) -> None:
        token = settings.slack_token()  # checked (naming the variable) before any network call
        self.core, self.settings, self.feedback = core, settings, feedback
        self.client = make_client(settings)
        self.facts = SlackFacts(self.client, parse_ids(settings.slack_admin_ids))
        self.jobs = JobStore(settings.uploads)
        self.flow = ChatFlow(core, feedback, self.jobs, settings, "slack", SLACK_HELP,
                             on_change=lambda person: self.publish_home(person.user))
        socket_mode = settings.slack_app_token is not None
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        self.app = AsyncApp(client=self.client, signing_secret=secret, request_verification_enabled=not socket_mode,
                            ignoring_self_events_enabled=True)
        self.files = SlackFiles(self.client, token, core.service.parser, int(settings.max_file_mb * 2**20),
                                settings.slack_api_url)
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        app = self.app
        app.use(self._process_each_event_once)
        app.command("/ask")(ack=self._ack_ask, lazy=[self._answer_ask])
        app.command("/ingest")(ack=self._ack_ingest, lazy=[self._run_ingest])
        app.command("/bitrag")(ack=self._ack, lazy=[self._run_bitrag])
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("app_home_opened")(self._on_home_opened)
        app.event("assistant_thread_started")(self._on_assistant_thread)
        app.event("channel_shared")(self._on_narrowed)
        for ignored in ("file_shared", "assistant_thread_context_changed"):  # uploads come with their message;
            app.event(ignored)(self._ack)  # answers follow where they are asked
        app.event("reaction_added")(self._on_reaction)
        app.event("reaction_removed")(self._on_reaction)
        app.event("user_change")(self._on_account)
        app.event("team_join")(self._on_account)
        app.shortcut(ADD_MESSAGE)(self._on_add_message)
        app.action(FEEDBACK_UP)(self._on_vote)
        app.action(FEEDBACK_DOWN)(self._on_vote)
        app.action(FEEDBACK)(self._on_vote)
        app.action(GAP)(self._on_gap)
        app.view(GAP_MODAL)(self._on_gap_answer)

    async def verify(self) -> dict[str, Any]:
        """auth.test once at start-up, so a revoked or mistyped token is a clear error, not a silent bot."""
        return await self.facts.verify()

    async def resume_jobs(self) -> int:
        """Finish or report the uploads a previous run accepted but did not complete, then check every place
        whose documents serve the whole workspace (a conversion while bitrag was down)."""
        resumed = await self.flow.resume(self._surface_at)
        await self.flow.reconcile(self._still_public)
        return resumed

    async def _surface_at(self, address: dict[str, Any]) -> SlackSurface:
        return SlackSurface(self.client, address["channel"], "", None, address.get("thread"))

    async def _still_public(self, space: str, channel: str) -> bool | None:
        try:
            info = (await self.client.conversations_info(channel=channel))["channel"]
        except SlackApiError as exc:  # not found: deleted, or made private without bitrag in it
            return False if slack_error(exc) == "channel_not_found" else None
        return kind_of(info) is Kind.PUBLIC

    async def _process_each_event_once(self, body: dict[str, Any], next: Any) -> BoltResponse | None:
        """Slack retries an event it thinks was not delivered (X-Slack-Retry-Num); answer it only once.
        A repeat gets a plain 200, so Slack stops retrying, and goes no further."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id:
            if event_id in self._seen_events:
                log.info("Skipping retried event %s", event_id)
                return BoltResponse(status=200, body="")
            self._seen_events[event_id] = None
            while len(self._seen_events) > 10_000:
                self._seen_events.popitem(last=False)
        await next()
        return None

    async def _ack(self, ack: Any = None) -> None:
        if ack is not None:
            await ack()

    async def _here(self, user: str, channel: str, user_team: str | None = None) -> tuple[Person, Room]:
        """Who asks and who reads `channel`; where only the asker will read the reply (a DM, a conversation whose
        readers are unknown) also the conversations they are in, which they alone may read from there."""
        room = await self.facts.room(channel, user)
        alone = room.kind is Kind.DM or not room.readers_known
        return await self.facts.person(user, alone, user_team), room

    # --- places and accounts that changed --------------------------------------------------------------------

    async def _on_narrowed(self, event: dict[str, Any]) -> None:
        await self.flow.narrow(await self.facts.workspace(), event["channel"])

    async def _on_account(self, event: dict[str, Any]) -> None:
        self.facts.remember(event["user"])

    # --- App Home and the assistant thread -------------------------------------------------------------------

    async def _on_assistant_thread(self, event: dict[str, Any]) -> None:
        """A new thread in bitrag's Messages tab: suggest questions about documents this person may read."""
        thread = event.get("assistant_thread") or {}
        channel, ts, user = thread.get("channel_id"), thread.get("thread_ts"), thread.get("user_id")
        if channel and ts and user:
            person = await self.facts.person(user, member_of=True)
            prompts = [{"title": t, "message": m} for t, m in await self.flow.suggestions(person)]
            await self._quietly("assistant.threads.setSuggestedPrompts",
                                self.client.assistant_threads_setSuggestedPrompts(
                                    channel_id=channel, thread_ts=ts, title="Ask about your team's documents",
                                    prompts=prompts))

    async def _on_home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            await self.publish_home(event["user"])

    async def publish_home(self, user: str) -> None:
        """The App Home tab of `user`: what they alone may read (their own, their conversations', the workspace's
        when they are a full member), the index's numbers, their last questions. Only they see it."""
        person = await self.facts.person(user, member_of=True)
        documents, stats = await self.flow.personal(person)
        if documents is None or stats is None:
            return
        recent = [(question, self._message_link(channel, ts)) for question, channel, ts in
                  await asyncio.to_thread(self.feedback.recent_questions, "slack", user)]
        channels = await self.flow.help_channel_list(await self.facts.workspace())
        gaps = [(g.question, g.count, g.answer_id, self._message_link(g.channel, g.message))
                for g in await self.flow.gaps(person) if g.platform == "slack"]
        await self._quietly("views.publish", self.client.views_publish(
            user_id=user, view=home_view(documents, stats, recent, channels, gap_blocks(gaps) if gaps else [])))

    async def _on_gap(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        """"Answer it" on a knowledge gap: a modal for the admin's answer."""
        await ack()
        stored = await asyncio.to_thread(self.feedback.answer, action["value"])
        if stored is not None:
            await self._quietly("views.open", self.client.views_open(
                trigger_id=body["trigger_id"], view=gap_modal(stored["question"], action["value"])))

    async def _on_gap_answer(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The admin's answer: saved as a document where the question was asked; they are told in their DM."""
        await ack()
        user = body["user"]["id"]
        text = view["state"]["values"]["answer"]["text"]["value"] or ""
        result = await self.flow.close_gap(await self.facts.person(user, member_of=True), view["private_metadata"],
                                           text)
        await SlackSurface(self.client, user, user, self.facts.team).send(result)

    def _message_link(self, channel: str | None, ts: str | None) -> str | None:
        if not (channel and ts and self.facts.url):
            return None
        return f"{self.facts.url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"

    # --- "Add to knowledge base" ----------------------------------------------------------------------------

    async def _on_add_message(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        """The message shortcut: the message — or, on a thread's parent, the whole thread with its files — becomes
        a document of that conversation's audience, cited by its permalink. Told to the person alone."""
        await ack()
        user, channel, message = body["user"]["id"], body["channel"]["id"], body["message"]
        surface = SlackSurface(self.client, channel, user, None, message.get("thread_ts"), respond,
                               only_private=True)
        person, room = await self._here(user, channel)
        messages = [message]
        if message.get("reply_count") or message.get("thread_ts") == message["ts"]:
            try:
                messages = list((await self.client.conversations_replies(channel=channel, ts=message["ts"],
                                                                         limit=200)).get("messages") or [])
            except SlackApiError as exc:
                await surface.send(MessageView(f"I can't read that thread ({slack_error(exc)}): invite me to the "
                                               "channel with /invite @bitrag, then try again.", "error"))
                return
        kind = "thread" if len(messages) > 1 else "message"
        files = [f for m in messages for f in m.get("files") or []]
        await self.flow.keep(surface, person, room, f"slack:{kind}:{channel}:{message['ts']}", f"Slack {kind}",
                             [(m.get("user") or m.get("username") or "someone", float(m.get("ts") or 0),
                               m.get("text") or "") for m in messages], await self._permalink(channel, message["ts"]),
                             self._files(files))

    async def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str((await self.client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
        except SlackApiError as exc:
            log.info("No permalink for %s/%s: %s", channel, ts, slack_error(exc))
            return None

    # --- /ask, /bitrag, votes ------------------------------------------------------------------------------

    async def _ack_ask(self, ack: Any, command: dict[str, Any]) -> None:
        question = command.get("text", "").strip()
        await ack(f":mag: Looking for an answer to: {escape(question[:200])}" if question else
                  "Ask me something, e.g. `/ask what is our vacation policy?`")

    def _command_surface(self, command: dict[str, Any], respond: Any, header: str | None = None) -> SlackSurface:
        return SlackSurface(self.client, command["channel_id"], command["user_id"], self.facts.team, None, respond,
                            header, self.settings.stream_mode)

    async def _answer_ask(self, command: dict[str, Any], respond: Any) -> None:
        question = command.get("text", "").strip()
        if question:
            shown = escape(question[:300]) + ("…" if len(question) > 300 else "")
            surface = self._command_surface(command, respond, f"*<@{command['user_id']}> asked:* {shown}")
            await self.flow.ask(surface, *await self._here(command["user_id"], command["channel_id"]), question)

    async def _run_bitrag(self, command: dict[str, Any], respond: Any) -> None:
        word, _, argument = command.get("text", "").strip().partition(" ")
        word, argument = word.lower(), argument.strip()
        if word == "share":
            argument, _, target = argument.rpartition(" ")
            if target.lower() != "workspace" or not argument.strip():
                await respond(text="Usage: /bitrag share <document> workspace", response_type="ephemeral")
                return
        person, room = await self._here(command["user_id"], command["channel_id"])
        await self.flow.command(self._command_surface(command, respond), person, room, word, argument)

    async def _on_vote(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        """Bitrag's own 👍/👎 (value: the answer id) and Slack's feedback buttons (value: "up:<id>" / "down:<id>")."""
        await ack()
        value = str(action.get("value", ""))
        vote, _, answer_id = value.partition(":") if action["action_id"] == FEEDBACK else (
            "up" if action["action_id"] == FEEDBACK_UP else "down", "", value)
        if vote in ("up", "down") and answer_id:
            text = await self.flow.vote(answer_id, body["user"]["id"], vote == "up")
            if action["action_id"] != FEEDBACK:  # Slack's own buttons acknowledge themselves
                await respond(text=text, response_type="ephemeral", replace_original=False)

    # --- /ingest ---------------------------------------------------------------------------------------------

    async def _ack_ingest(self, ack: Any, command: dict[str, Any]) -> None:
        if command.get("text", "").strip():
            await ack(":inbox_tray: Fetching that…")
        else:
            await ack("To add documents, share files in a message that mentions me, or send them to me in a DM. "
                      "I'm now looking for the files you shared most recently in this channel…")

    async def _run_ingest(self, command: dict[str, Any], respond: Any) -> None:
        argument, channel, user = command.get("text", "").strip(), command["channel_id"], command["user_id"]
        surface = self._command_surface(command, respond)
        url = argument.strip("<>").split("|", 1)[0]  # Slack sends links as <url> or <url|label>
        try:
            person, room = await self._here(user, channel)
            if is_url(url) and not is_slack_link(url):
                upload = Upload([url], lambda folder: self.core.fetch_urls([url], folder))
            elif argument:
                file_id = file_id_from_url(argument)
                if file_id is None:
                    raise NotAllowedError("That is neither a Slack file link nor a web address: use *Copy link to "
                                          "file* on a file in Slack, or an https:// link, then `/ingest <link>`.")
                info = await self.files.info({"id": file_id}, refresh=True)
                if room.kind is not Kind.UNKNOWN:  # where nobody knows who reads, nothing is added (nor said)
                    room = await self._narrowest(info, channel, user, room)
                upload = self._files([info])
            else:
                files = await self._recent_files(user, channel)
                if not files:
                    raise NotAllowedError("I found no files you shared in this channel recently. Share a file in a "
                                          "message that mentions me, or DM it to me.")
                upload = self._files(files)
            await self.flow.upload(surface, person, room, upload)
        except SlackApiError as exc:
            await respond(text=f":warning: Slack refused ({slack_error(exc)}). Is bitrag in this channel?",
                          response_type="ephemeral")
        except Exception as exc:
            await surface.send(failure(exc), private=True)

    async def _narrowest(self, info: dict[str, Any], channel: str, user: str, here: Room) -> Room:
        """A file linked with `/ingest` must have been shared in this conversation, and its document gets the
        audience of the narrowest place it was shared (a file also in the asker's DM stays theirs)."""
        places = sorted((NARROWER[w], c) for w in NARROWER for c in info.get(w) or [])
        if channel not in (c for _, c in places):
            raise NotAllowedError(FILE_NOT_HERE)
        rank, narrowest = places[0]
        return here if rank == next(r for r, c in places if c == channel) else await self.facts.room(narrowest, user)

    async def _recent_files(self, user: str, channel: str) -> list[dict[str, Any]]:
        listed = (await self.client.files_list(user=user, channel=channel, count=20)).get("files", [])
        if not listed:
            return []
        newest = max(int(f.get("created") or 0) for f in listed)
        if time.time() - newest > 24 * 3600:
            return []
        return [f for f in listed if newest - int(f.get("created") or 0) <= RECENT_FILES_WINDOW_S]

    def _files(self, files: list[dict[str, Any]]) -> Upload | None:
        """Slack files as an upload: each checked from files.info, then downloaded with the bot token."""
        if not files:
            return None
        return Upload([file_name(f) for f in files], lambda folder: fetch_each(
            files, lambda file: self.files.fetch(file, folder), file_name))

    # --- mentions, DMs, thread follow-ups --------------------------------------------------------------------

    async def _on_mention(self, event: dict[str, Any], context: Any) -> None:
        await self._handle_message(event, context)

    async def _on_message(self, event: dict[str, Any], context: Any) -> None:
        if event.get("subtype") == "channel_convert_to_private":
            await self.flow.narrow(await self.facts.workspace(), event["channel"])
            return
        if event.get("subtype") == "message_deleted":  # a solved thread's first message gone: forget it
            root = event.get("previous_message") or {}
            if root.get("reply_count") or root.get("thread_ts") == event.get("deleted_ts"):
                await self._unfile(event["channel"], str(event.get("deleted_ts")), None)
            return
        if event.get("subtype") not in (None, "file_share", "thread_broadcast"):
            return  # edits, deletions, joins…
        if event.get("bot_id") or not event.get("user") or event.get("user") == context.bot_user_id:
            return
        if event.get("channel_type") == "im":
            await self._handle_message(event, context)
        elif context.bot_user_id and f"<@{context.bot_user_id}>" in (event.get("text") or ""):
            return  # app_mention delivers this one
        elif event.get("thread_ts") and event["thread_ts"] != event.get("ts"):
            await self._handle_message(event, context, follow_up_only=True)
        elif await self.flow.is_help_question(self.facts.team, event["channel"], event.get("text") or ""):
            await self._answer_help_question(event)

    # --- help channels and solved threads ----------------------------------------------------------------------

    async def _answer_help_question(self, event: dict[str, Any]) -> None:
        """A new question in a help channel: a threaded answer when confident, else a 🔍 so people know it looked."""
        channel, ts, user = event["channel"], event["ts"], event["user"]
        person, room = await self._here(user, channel, event.get("user_team"))
        surface = SlackSurface(self.client, channel, user, self.facts.team, ts, stream_mode=self.settings.stream_mode)
        if not await self.flow.answer_if_confident(surface, person, room, strip_mentions(event.get("text", ""))):
            await self._quietly("reactions.add", self.client.reactions_add(channel=channel, timestamp=ts, name="mag"))

    async def _on_reaction(self, event: dict[str, Any]) -> None:
        """The solved-reaction (SLACK_SOLVED_REACTION) on a thread's message, by the asker or an admin: the thread
        is filed as a document of its channel's audience; taken back, it is forgotten."""
        item = event.get("item") or {}
        if event.get("reaction") != self.settings.slack_solved_reaction or item.get("type") != "message":
            return
        channel, user = item["channel"], event["user"]
        try:
            reacted = (await self.client.conversations_replies(channel=channel, ts=item["ts"], limit=1))["messages"][0]
            root_ts = reacted.get("thread_ts") or reacted["ts"]
            if event["type"] == "reaction_removed":  # the thread itself is not needed to forget it
                await self._unfile(channel, root_ts, user)
                return
            thread = list((await self.client.conversations_replies(channel=channel, ts=root_ts, limit=200))["messages"])
        except (SlackApiError, IndexError, KeyError) as exc:
            log.info("No thread to file at %s/%s: %s", channel, item.get("ts"), exc)
            return
        accepted = reacted["ts"] if reacted["ts"] != root_ts else None
        messages = [(("Accepted answer — " if m["ts"] == accepted else "") + str(m.get("user") or "someone"),
                     float(m["ts"]), m.get("text") or "") for m in thread]
        person, room = await self._here(user, channel)
        surface = SlackSurface(self.client, channel, user, self.facts.team, root_ts, only_private=True)
        await self.flow.file_solved(surface, person, room, str(thread[0].get("user")),
                                    f"slack:solved:{channel}:{root_ts}", messages,
                                    await self._permalink(channel, accepted or root_ts))

    async def _unfile(self, channel: str, root_ts: str, user: str | None) -> None:
        """`user` took the solved-reaction back; None: the thread's first message was deleted (bitrag forgets it)."""
        room = await self.facts.room(channel, user or "")
        person = await self.facts.person(user) if user else Person("slack", await self.facts.workspace(), "bitrag",
                                                                      admin=True)
        await self.flow.unfile_solved(person, room, f"slack:solved:{channel}:{root_ts}")

    async def _handle_message(self, event: dict[str, Any], context: Any, follow_up_only: bool = False) -> None:
        channel, ts, user = event["channel"], event["ts"], event.get("user", "")
        thread = event.get("thread_ts") or ts
        history: list[Turn] = []
        if thread != ts:
            participated, history = await self._thread_history(channel, thread, ts, context.bot_user_id)
            if follow_up_only and not participated:
                return  # a thread bitrag is not part of
        person, room = await self._here(user, channel, event.get("user_team"))
        text = strip_mentions(event.get("text", ""))

        if room.kind is Kind.DM and text and not history:  # the first question names the agent DM's thread
            await self._quietly("assistant.threads.setTitle", self.client.assistant_threads_setTitle(
                channel_id=channel, thread_ts=thread, title=text[:80]))
        status = await self._set_status(channel, thread)
        if not status:  # no assistant status here: the 👀 reaction says "working on it"
            await self._quietly("reactions.add", self.client.reactions_add(channel=channel, timestamp=ts,
                                                                           name="eyes"))
        surface = SlackSurface(self.client, channel, user, self.facts.team, thread,
                               stream_mode=self.settings.stream_mode)
        try:
            await self.flow.message(surface, person, room, Message(text, self._files(event.get("files") or []),
                                                                   history))
        except SlackApiError as exc:
            log.warning("Could not answer in %s: %s", channel, slack_error(exc))
        finally:
            if status:
                await self._quietly("assistant.threads.setStatus", self.client.assistant_threads_setStatus(
                    channel_id=channel, thread_ts=thread, status=""))
            else:
                await self._quietly("reactions.remove", self.client.reactions_remove(channel=channel, timestamp=ts,
                                                                                     name="eyes"))

    async def _set_status(self, channel: str, thread: str) -> bool:
        """`assistant.threads.setStatus` while bitrag works; False where Slack does not take it, so that the
        caller falls back to the reaction."""
        try:
            await self.client.assistant_threads_setStatus(
                channel_id=channel, thread_ts=thread, status="Searching your documents…",
                loading_messages=["Searching your documents…", "Reading the closest passages…",
                                  "Writing an answer with citations…"])
            return True
        except SlackApiError as exc:
            log.info("assistant.threads.setStatus refused in %s (%s): using the reaction", channel, slack_error(exc))
            return False

    async def _quietly(self, method: str, call: Awaitable[Any]) -> None:
        """A nicety Slack may refuse (a missing scope, a conversation that is not an agent thread): logged only."""
        try:
            await call
        except SlackApiError as exc:
            log.info("%s refused: %s", method, slack_error(exc))

    async def _thread_history(self, channel: str, thread: str, current_ts: str,
                              bot_user: str | None) -> tuple[bool, list[Turn]]:
        """Whether bitrag took part in the thread, and its earlier turns as history."""
        try:
            replies = await self.client.conversations_replies(channel=channel, ts=thread, limit=100)
        except SlackApiError as exc:
            log.info("No thread history for %s/%s: %s", channel, thread, slack_error(exc))
            return False, []
        turns, participated = [], False
        for message in replies.get("messages", []):
            if message.get("ts") == current_ts:
                break
            mine = message.get("user") == bot_user or bool(message.get("bot_id"))
            participated |= mine or (bot_user is not None and f"<@{bot_user}>" in (message.get("text") or ""))
            text = message.get("text") if mine else strip_mentions(message.get("text", ""))
            if text:
                turns.append(Turn("assistant" if mine else "user", text))
        return participated, turns
