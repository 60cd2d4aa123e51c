"""The Slack app: slash commands, mentions, DMs, thread follow-ups, file uploads and feedback buttons.

Thin by design: every listener turns a Slack payload into a bot-core call (`BotCore`) and renders the view it gets
back (`render.py`). Slash commands are acked at once and worked on in lazy listeners; events are acked by bolt
before the listener runs, and events Slack retries are processed once.

Who may read what is the core's policy (`bot.access`); this module only establishes the Slack facts it needs:
the verified workspace (auth.test, never a team id from the payload), the kind of conversation
(`conversations.info`: public, private, group DM, DM, shared with another organisation), whether the user is an
admin (`users.info`), and where a file was shared (`files.info`). Each lookup is cached briefly; one that fails
(a missing scope, an API error) is logged and read as "unknown", which the core treats as fail-closed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import ChangePolicy, Conversation, Kind, Place, conversation_at, parse_ids
from bot.adapters.slack.files import SlackFiles, file_id_from_url, is_slack_link, slack_error
from bot.adapters.slack.render import (
    FEEDBACK,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    Message,
    answer_messages,
    answer_tail,
    context,
    escape,
    feedback_actions,
    home_view,
    section,
    streaming_message,
    view_message,
)
from bot.adapters.slack.stream import NativeStream
from bot.core import BotCore, failure, fetch_each, help_text, ingest_intent
from bot.feedback import FeedbackStore
from bot.jobs import Fetch, Job, JobStore, ingest_upload, resume
from bot.settings import Settings
from bot.streaming import ProgressReporter, ThrottledEditor, follow
from bot.terms import ConfigError, FileResult, NotAllowedError, SourceFile, Turn, is_url, last_turns
from bot.views import AnswerView, DocumentsView, ForgottenView, IngestView, MessageView, SharedView, StatsView, View

log = logging.getLogger(__name__)

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
POSTING_FAILURES = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
RECENT_FILES_WINDOW_S = 300  # files shared together with the newest one count as "most recently shared"
INGEST_VARIABLE = "SLACK_INGEST_ALLOWED"
SLACK_HELP = help_text(
    {"ask": "/ask <question>", "ingest": "/ingest [file link or URL]", "sources": "/bitrag sources",
     "forget": "/bitrag forget <doc>", "share": "/bitrag share <doc> workspace", "audit": "/bitrag audit",
     "help": "/bitrag help"},
    "You can also mention me or DM me with a question. To add files, share them in a message that mentions me, or "
    "in a DM. A document is read only where everyone present may see it: shared in a public channel it serves the "
    "whole workspace, in a private channel or group DM its members, in a DM you alone.")
ADD_MESSAGE = "bitrag_add_message"  # the "Add to knowledge base" message shortcut
CACHE_S = 60  # conversation kinds and admin flags are re-read after this long (a channel made private, an admin)
SHARED_REFUSAL = ("I don't work in channels shared with other organisations: their members would see answers from "
                  "this workspace's documents. An admin can allow it with SLACK_ALLOW_SHARED_CHANNELS=true; answers "
                  "there then use only documents shared in that very channel.")
FILE_NOT_HERE = ("That file was not shared in this conversation, so I won't add it from here. Share it here first "
                 "(or run /ingest where it was shared).")
NARROWER = {"channels": 3, "groups": 2, "ims": 1}  # files.info lists where a file is shared; fewer readers = lower


def strip_mentions(text: str) -> str:
    return " ".join(MENTION.sub(" ", text or "").split())


def conversation_markdown(messages: list[dict[str, Any]], kind: str) -> str:
    """A Slack message or thread as a document: one paragraph per message, with who wrote it and when."""
    lines = [f"# Slack {kind}"]
    for message in messages:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(message.get("ts") or 0)))
        text = (message.get("text") or "").strip()
        if text:
            lines += ["", f"**{message.get('user') or message.get('username') or 'someone'}** ({when} UTC):", "", text]
    return "\n".join(lines) + "\n"


def kind_of(info: dict[str, Any] | None) -> Kind:
    """The core's kind of a conversation from `conversations.info`; anything unclear is UNKNOWN (fail closed)."""
    if not info:
        return Kind.UNKNOWN
    if info.get("is_ext_shared") or info.get("is_org_shared") or info.get("is_pending_ext_shared"):
        return Kind.EXTERNAL  # people outside this workspace read it
    if info.get("is_im"):
        return Kind.DM
    if info.get("is_mpim"):
        return Kind.GROUP_DM
    if info.get("is_private") or info.get("is_group"):
        return Kind.PRIVATE
    if info.get("is_channel"):
        return Kind.PUBLIC
    return Kind.UNKNOWN


def check_tokens(settings: Settings) -> None:
    """Fail fast, naming the variable, before any network call."""
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your Slack app's "
                          "OAuth & Permissions page into .env")
    if not settings.slack_bot_token.get_secret_value().startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb- (not a user or app token)")
    if settings.slack_app_token is not None:
        if not settings.slack_app_token.get_secret_value().startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp- (Basic Information › "
                              "App-Level Tokens, with the connections:write scope)")
    elif settings.slack_signing_secret is None:
        raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information › App Credentials); or set "
                          "SLACK_APP_TOKEN to use Socket Mode")
    ChangePolicy.parse(settings.slack_ingest_allowed, INGEST_VARIABLE)


def make_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url or AsyncWebClient.BASE_URL)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))  # honours Retry-After
    return client


def file_name(file: dict[str, Any]) -> str:
    """What a user calls a shared file (events may carry only its id)."""
    return str(file.get("name") or file.get("id"))


async def verify_token(client: AsyncWebClient) -> dict[str, Any]:
    """`auth.test`: the workspace and bot user the token belongs to, or a `ConfigError` that says what to do."""
    try:
        return dict((await client.auth_test()).data)  # type: ignore[arg-type]
    except SlackApiError as exc:
        raise ConfigError(f"Slack rejected SLACK_BOT_TOKEN ({slack_error(exc)}): copy the current Bot "
                          "User OAuth Token from the app's OAuth & Permissions page") from None


class SlackAdapter:
    def __init__(self, core: BotCore, settings: Settings, feedback: FeedbackStore) -> None:
        check_tokens(settings)
        self.core = core
        self.settings = settings
        self.feedback = feedback
        self.jobs = JobStore(settings.uploads)
        self.policy = ChangePolicy.parse(settings.slack_ingest_allowed, INGEST_VARIABLE)
        self.admin_ids = parse_ids(settings.slack_admin_ids)
        self.client = make_client(settings)
        socket_mode = settings.slack_app_token is not None
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        self.app = AsyncApp(client=self.client, signing_secret=secret, request_verification_enabled=not socket_mode,
                            ignoring_self_events_enabled=True)
        self.files = SlackFiles(self.client, settings.slack_bot_token.get_secret_value(),  # type: ignore[union-attr]
                                core.service.parser, int(settings.max_file_mb * 1024 * 1024),
                                settings.slack_api_url)
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._kinds: dict[str, tuple[float, Kind, dict[str, Any] | None]] = {}
        self._admins: dict[str, tuple[float, bool]] = {}
        self._team: str | None = None
        self._team_url: str | None = None
        self._register()

    def _register(self) -> None:
        app = self.app
        app.use(self._process_each_event_once)
        app.command("/ask")(ack=self._ack_ask, lazy=[self._answer_ask])
        app.command("/ingest")(ack=self._ack_ingest, lazy=[self._run_ingest])
        app.command("/bitrag")(ack=self._ack_bitrag, lazy=[self._run_bitrag])
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("file_shared")(self._ignore)  # uploads are handled through the message that carries them
        app.event("app_home_opened")(self._on_home_opened)
        app.event("assistant_thread_started")(self._on_assistant_thread)
        app.event("assistant_thread_context_changed")(self._ignore)  # answers follow where they are asked
        app.shortcut(ADD_MESSAGE)(self._on_add_message)
        app.action(FEEDBACK_UP)(self._on_vote)
        app.action(FEEDBACK_DOWN)(self._on_vote)
        app.action(FEEDBACK)(self._on_feedback_buttons)

    async def verify(self) -> dict[str, Any]:
        """auth.test once at start-up, so a revoked or mistyped token is a clear error, not a silent bot."""
        result = await verify_token(self.client)
        self._team, self._team_url = result.get("team_id"), result.get("url")
        return result

    async def installed_team(self, context: Any) -> str:
        """The workspace bitrag is installed in, as auth.test verified it — never a team id from the payload
        (Enterprise Grid and Slack Connect payloads name other teams)."""
        result = getattr(context, "authorize_result", None) if context is not None else None
        if result is not None and result.team_id:
            return str(result.team_id)
        if self._team is None:
            await self.verify()
        return str(self._team)

    async def conversation(self, context: Any, user: str, channel: str, user_team: str | None = None,
                           with_admin: bool = False) -> Conversation:
        """The core's conversation for `user` in `channel`. Raises `NotAllowedError` in a channel shared with
        another organisation (or for a user from one) unless SLACK_ALLOW_SHARED_CHANNELS allows it."""
        team = await self.installed_team(context)
        kind, info = await self._kind(channel)
        if kind is Kind.DM and (info or {}).get("user") not in (None, user):
            kind = Kind.UNKNOWN  # someone else's DM: should not happen; read as public, add nothing
        if user_team and user_team != team:
            kind = Kind.EXTERNAL  # a guest from another organisation, whatever the channel
        if kind is Kind.EXTERNAL and not self.settings.slack_allow_shared_channels:
            raise NotAllowedError(SHARED_REFUSAL)
        admin = with_admin and kind is not Kind.EXTERNAL and await self._is_admin(user)
        return conversation_at(Place("slack", team, channel, kind), user, admin, self.settings.slack_channel_scoped)

    async def _kind(self, channel: str) -> tuple[Kind, dict[str, Any] | None]:
        cached = self._kinds.get(channel)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        try:
            info: dict[str, Any] | None = (await self.client.conversations_info(channel=channel))["channel"]
        except SlackApiError as exc:
            error = slack_error(exc)
            needed = exc.response.data.get("needed") if isinstance(exc.response.data, dict) else None
            log.warning("conversations.info for %s failed (%s%s): answering there from workspace documents only "
                        "and refusing uploads; give the app channels:read, groups:read, im:read and mpim:read",
                        channel, error, f", needs {needed}" if needed else "")
            return Kind.UNKNOWN, None  # not cached: the next message tries again
        kind = kind_of(info)
        self._kinds[channel] = (time.monotonic() + CACHE_S, kind, info)
        return kind, info

    async def _is_admin(self, user: str) -> bool:
        """A workspace admin or owner (users.info), or listed in SLACK_ADMIN_IDS."""
        if user in self.admin_ids:
            return True
        cached = self._admins.get(user)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            info = (await self.client.users_info(user=user))["user"]
        except SlackApiError as exc:
            log.warning("users.info for %s failed (%s): treating them as a member, not an admin (needs users:read)",
                        user, slack_error(exc))
            return False
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._admins[user] = (time.monotonic() + CACHE_S, admin)
        return admin

    # --- middleware --------------------------------------------------------------------------------------------

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

    async def _ignore(self) -> None:
        return None

    # --- the agent DM and App Home ----------------------------------------------------------------------------

    async def _on_assistant_thread(self, event: dict[str, Any], context: Any) -> None:
        """A new thread in bitrag's Messages tab: suggest questions about documents this person may read."""
        thread = event.get("assistant_thread") or {}
        channel, ts, user = thread.get("channel_id"), thread.get("thread_ts"), thread.get("user_id")
        if not (channel and ts and user):
            return
        try:
            conversation = await self.conversation(context, user, channel)
        except NotAllowedError:
            return
        prompts = [{"title": title, "message": message} for title, message in await self.core.suggestions(conversation)]
        await self._quietly("assistant.threads.setSuggestedPrompts", self.client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=ts, title="Ask about your team's documents", prompts=prompts))

    async def _on_home_opened(self, event: dict[str, Any], context: Any) -> None:
        if event.get("tab", "home") == "home":
            await self.publish_home(context, event["user"])

    async def publish_home(self, context: Any, user: str) -> None:
        """The App Home tab of `user`: what they may read — the workspace's documents, their own, and those of the
        conversations they are a member of — the index's numbers, their last questions. Published again when they
        add or forget a document. Only they see it."""
        team = await self.installed_team(context)
        own = conversation_at(Place("slack", team, "home", Kind.DM), user)
        member_of = tuple(f"{team}:{channel}" for channel in await self._memberships(user))
        conversation = replace(own, also_reads=own.also_reads + member_of)
        documents, stats = await self.core.sources(conversation), await self.core.stats(conversation)
        if not isinstance(documents, DocumentsView) or not isinstance(stats, StatsView):
            return
        if self._team_url is None:
            await self.verify()
        recent = [(question, self._message_link(channel, ts)) for question, channel, ts in
                  await asyncio.to_thread(self.feedback.recent_questions, "slack", user)]
        await self._quietly("views.publish", self.client.views_publish(user_id=user,
                                                                       view=home_view(documents, stats, recent)))

    async def _memberships(self, user: str, most: int = 1000) -> list[str]:
        """The conversations `user` is a member of (as far as bitrag can see them), for the Home tab; none when Slack
        will not say (a missing scope is logged), which only shortens the list."""
        channels: list[str] = []
        cursor = None
        try:
            while len(channels) < most:
                page = await self.client.users_conversations(user=user, types="public_channel,private_channel,mpim",
                                                             exclude_archived=True, limit=200, cursor=cursor)
                channels += [c["id"] for c in page.get("channels") or []]
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            log.info("users.conversations for %s failed (%s): the Home tab lists only workspace and own documents",
                     user, slack_error(exc))
        return channels[:most]

    def _message_link(self, channel: str | None, ts: str | None) -> str | None:
        if not (channel and ts and self._team_url):
            return None
        return f"{self._team_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"

    # --- "Add to knowledge base" ----------------------------------------------------------------------------

    async def _on_add_message(self, ack: Any, body: dict[str, Any], respond: Any, context: Any) -> None:
        """The message shortcut: the message — or, on a thread's parent, the whole thread with its files — becomes
        a document of that conversation's audience, cited by its permalink."""
        await ack()
        user, channel, message = body["user"]["id"], body["channel"]["id"], body["message"]
        try:
            conversation = await self.conversation(context, user, channel, body["user"].get("team_id"),
                                                   with_admin=True)
            if not await self._may_add(user):
                raise NotAllowedError(self.policy.refusal(INGEST_VARIABLE))
            messages = [message]
            if message.get("reply_count") or message.get("thread_ts") == message["ts"]:
                messages = await self._whole_thread(channel, message["ts"])
        except NotAllowedError as exc:
            await respond(text=str(exc), response_type="ephemeral")
            return
        permalink = await self._permalink(channel, message["ts"])
        files = [f for m in messages for f in m.get("files") or []]
        kind = "thread" if len(messages) > 1 else "message"
        name = f"slack-{kind}-{channel}-{message['ts'].replace('.', '-')}.md"

        async def fetch(folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
            (folder / name).write_text(conversation_markdown(messages, kind))
            document = SourceFile(path=folder / name, name=name, key=f"slack:{kind}:{channel}:{message['ts']}",
                                  link=permalink)
            fetched, failed = await self._fetch_files(files, folder)
            return [document, *fetched], failed

        view = await ingest_upload(self.core, self.jobs, conversation, [name, *(file_name(f) for f in files)],
                                   {"channel": channel, "thread": message.get("thread_ts")}, fetch)
        text, blocks = view_message(view)
        await respond(text=text, blocks=blocks, response_type="ephemeral")
        await self.publish_home(context, user)

    async def _whole_thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        try:
            replies = await self.client.conversations_replies(channel=channel, ts=ts, limit=200)
        except SlackApiError as exc:
            raise NotAllowedError(f"I can't read that thread ({slack_error(exc)}): invite me to the channel with "
                                  "/invite @bitrag, then try again.") from None
        return list(replies.get("messages") or [])

    async def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str((await self.client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
        except SlackApiError as exc:
            log.info("No permalink for %s/%s: %s", channel, ts, slack_error(exc))
            return None

    # --- /ask ------------------------------------------------------------------------------------------------

    async def _ack_ask(self, ack: Any, command: dict[str, Any]) -> None:
        question = command.get("text", "").strip()
        if not question:
            await ack("Ask me something, e.g. `/ask what is our vacation policy?`")
        else:
            await ack(f":mag: Looking for an answer to: {escape(question)}")

    async def _answer_ask(self, command: dict[str, Any], respond: Any, context: Any) -> None:
        question = command.get("text", "").strip()
        if not question:
            return
        header = f"*<@{command['user_id']}> asked:* {escape(question)}"
        try:
            conversation = await self._command_conversation(command, context)
            await self._answer(conversation, question, [], command["channel_id"], None, header)
        except SlackApiError as exc:
            if slack_error(exc) not in POSTING_FAILURES:
                log.warning("Could not post an answer to /ask: %s", slack_error(exc))
                await respond(text=f":warning: I could not post the answer ({slack_error(exc)}).",
                              response_type="ephemeral")
                return
            # Not a member of this channel (or a DM with someone else): answer through the response_url. The same
            # reading rule holds: `conversation` was built for this channel.
            view = await self.core.ask(conversation, question)
            await self._respond_view(respond, view, conversation, header)
        except Exception as exc:
            await respond(text=failure(exc).text, response_type="ephemeral")

    async def _respond_view(self, respond: Any, view: View, conversation: Conversation, header: str) -> None:
        if not isinstance(view, AnswerView):
            text, blocks = view_message(view)
            await respond(text=text, blocks=blocks, response_type="ephemeral")
            return
        answer_id = await self.feedback.record(view, conversation)
        for text, blocks in answer_messages(view, header, answer_id)[:5]:  # Slack allows 5 responses per URL
            await respond(text=text, blocks=blocks, response_type="in_channel", replace_original=False)

    # --- mentions, DMs, thread follow-ups --------------------------------------------------------------------

    async def _on_mention(self, event: dict[str, Any], context: Any) -> None:
        await self._handle_message(event, context)

    async def _on_message(self, event: dict[str, Any], context: Any) -> None:
        if event.get("subtype") not in (None, "file_share", "thread_broadcast"):
            return  # edits, deletions, joins…
        if event.get("bot_id") or not event.get("user") or event.get("user") == context.bot_user_id:
            return
        text = event.get("text") or ""
        if event.get("channel_type") == "im":
            await self._handle_message(event, context)
        elif context.bot_user_id and f"<@{context.bot_user_id}>" in text:
            return  # app_mention delivers this one
        elif event.get("thread_ts") and event["thread_ts"] != event.get("ts"):
            await self._handle_message(event, context, follow_up_only=True)

    async def _command_conversation(self, command: dict[str, Any], context: Any,
                                    with_admin: bool = False) -> Conversation:
        return await self.conversation(context, command["user_id"], command["channel_id"], command.get("team_id"),
                                       with_admin)

    async def _handle_message(self, event: dict[str, Any], context: Any, follow_up_only: bool = False) -> None:
        channel, ts = event["channel"], event["ts"]
        thread = event.get("thread_ts") or ts
        question = strip_mentions(event.get("text", ""))
        history: list[Turn] = []
        if thread != ts:
            participated, history = await self._thread_history(channel, thread, ts, context.bot_user_id)
            if follow_up_only and not participated:
                return  # a thread bitrag is not part of
        try:
            conversation = await self.conversation(context, event.get("user", ""), channel,
                                                   event.get("user_team") or event.get("team"),
                                                   with_admin=bool(event.get("files")))
        except NotAllowedError as exc:
            await self._post_view(MessageView(str(exc), "error"), channel, thread)
            return
        if event.get("files"):
            await self._ingest_files(conversation, event["files"], channel, thread)
            if ingest_intent(question):
                return
        if not question:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread, text=SLACK_HELP)
            return
        if conversation.kind == Kind.DM and not history:  # the first question names the agent DM's thread
            await self._quietly("assistant.threads.setTitle", self.client.assistant_threads_setTitle(
                channel_id=channel, thread_ts=thread, title=question[:80]))
        status = await self._set_status(conversation, channel, thread)
        if not status:  # no assistant status here: the 👀 reaction says "working on it"
            await self._react(channel, ts, "eyes", add=True)
        try:
            await self._answer(conversation, question, history, channel, thread)
        except SlackApiError as exc:
            log.warning("Could not answer in %s: %s", channel, slack_error(exc))
        finally:
            if status:
                await self._quietly("assistant.threads.setStatus", self.client.assistant_threads_setStatus(
                    channel_id=channel, thread_ts=thread, status=""))
            else:
                await self._react(channel, ts, "eyes", add=False)

    async def _set_status(self, conversation: Conversation, channel: str, thread: str) -> bool:
        """`assistant.threads.setStatus` while bitrag works ("Searching 1,204 documents…"); False where Slack does
        not take it, so that the caller falls back to the reaction."""
        documents = await self.core.sources(conversation)
        count = len(documents.documents) if isinstance(documents, DocumentsView) else 0
        try:
            await self.client.assistant_threads_setStatus(
                channel_id=channel, thread_ts=thread, status=f"Searching {count:,} document{'s' * (count != 1)}…",
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
        """Whether bitrag took part in the thread, and its earlier turns (bounded) as history."""
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
        return participated, last_turns(turns, self.settings.history_turns)

    async def _react(self, channel: str, ts: str, name: str, add: bool) -> None:
        try:
            if add:
                await self.client.reactions_add(channel=channel, timestamp=ts, name=name)
            else:
                await self.client.reactions_remove(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:  # a missing reactions:write scope must not stop the answer
            log.info("reaction %s failed: %s", name, slack_error(exc))

    # --- answering -------------------------------------------------------------------------------------------

    async def _answer(self, conversation: Conversation, question: str, history: list[Turn], channel: str,
                      thread: str | None, header: str | None = None) -> str:
        """Answer in `thread` by Slack's native streaming where Slack allows it (STREAM_MODE), else by a placeholder
        edited as the LLM writes; returns the answer message's ts."""
        if thread is not None and self.settings.stream_mode != "edit":
            stream = NativeStream(self.client, channel, thread)
            try:
                await stream.start(conversation.user, conversation.space)
            except SlackApiError as exc:
                level = logging.WARNING if self.settings.stream_mode == "native" else logging.INFO
                log.log(level, "Slack would not stream an answer in %s (%s): answering by edits", channel,
                        slack_error(exc))
            else:
                await self._stream(stream, conversation, question, history)
                return stream.ts
        return await self._answer_by_edits(conversation, question, history, channel, thread, header)

    async def _stream(self, stream: NativeStream, conversation: Conversation, question: str,
                      history: list[Turn]) -> None:
        editor = ThrottledEditor(stream.show, self.settings.stream_interval_s)
        view = await follow(self.core.ask_stream(conversation, question, history), editor)
        if isinstance(view, AnswerView):
            answer_id = await self.feedback.record(view, conversation, stream.ts)
            body, blocks = view.body, [*answer_tail(view), feedback_actions(answer_id)]
            messages = answer_messages(view, None, answer_id)
        else:
            messages = [view_message(view)]
            body, blocks = messages[0][0], []
        await editor.finish(lambda: stream.finish(
            body, blocks, lambda: self._show_messages(stream.channel, stream.ts, stream.thread, messages)))

    async def _answer_by_edits(self, conversation: Conversation, question: str, history: list[Turn], channel: str,
                               thread: str | None, header: str | None) -> str:
        """Post a placeholder at once, edit it as the LLM streams (throttled), then replace it with the answer."""
        placeholder = [section(header)] if header else []
        posted = await self.client.chat_postMessage(channel=channel, thread_ts=thread, text="Searching…",
                                                    blocks=[*placeholder, context("_:mag: Searching your documents…_")])
        ts = posted["ts"]

        async def edit(partial: str) -> None:
            text, blocks = streaming_message(header, partial)
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

        editor = ThrottledEditor(edit, self.settings.stream_interval_s)
        view = await follow(self.core.ask_stream(conversation, question, history), editor)
        if isinstance(view, AnswerView):
            messages = answer_messages(view, header, await self.feedback.record(view, conversation, ts))
        else:
            messages = [view_message(view)]
            if header:
                messages[0][1].insert(0, section(header))
        await editor.finish(lambda: self._show_messages(channel, ts, thread or ts, messages))
        return ts

    async def _show_messages(self, channel: str, ts: str, thread: str, messages: list[Message]) -> None:
        """An answer's messages: the first replaces message `ts`, any more continue in `thread`."""
        text, blocks = messages[0]
        await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        for more_text, more_blocks in messages[1:]:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread, text=more_text, blocks=more_blocks)

    async def _on_feedback_buttons(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A click on Slack's own feedback buttons: the value says which answer and which way."""
        await ack()
        vote, _, answer_id = str(action.get("value", "")).partition(":")
        if vote in ("up", "down") and answer_id:
            await asyncio.to_thread(self.feedback.vote, answer_id, body["user"]["id"], 1 if vote == "up" else -1)

    async def _on_vote(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        vote = 1 if action["action_id"] == FEEDBACK_UP else -1
        known = await asyncio.to_thread(self.feedback.vote, action["value"], body["user"]["id"], vote)
        text = "Thanks for the feedback!" if known else "That answer is too old to rate."
        await respond(text=text, response_type="ephemeral", replace_original=False)

    # --- ingestion -------------------------------------------------------------------------------------------

    async def _may_add(self, user: str) -> bool:
        return await self.policy.allows(user, self._is_admin)

    async def _post_view(self, view: View, channel: str, thread: str | None) -> None:
        text, blocks = view_message(view)
        await self.client.chat_postMessage(channel=channel, thread_ts=thread, text=text, blocks=blocks)

    async def _ingest_files(self, conversation: Conversation, files: list[dict[str, Any]], channel: str,
                            thread: str | None) -> View:
        """Download, ingest and report on files, updating one status message as it goes."""
        if not await self._may_add(conversation.user):
            view: View = MessageView(self.policy.refusal(INGEST_VARIABLE), "error")
            await self._post_view(view, channel, thread)
            return view
        return await self._ingest_job(conversation, [file_name(f) for f in files],
                                      lambda folder: self._fetch_files(files, folder), channel, thread)

    async def _ingest_job(self, conversation: Conversation, names: list[str], fetch: Fetch, channel: str,
                          thread: str | None) -> View:
        """One upload job (Slack files or web pages), reported in one status message that is edited as it goes."""
        status = await self.client.chat_postMessage(channel=channel, thread_ts=thread,
                                                    text=f":inbox_tray: Ingesting {escape(', '.join(names))}…",
                                                    unfurl_links=False)
        editor = ThrottledEditor(lambda text: self.client.chat_update(channel=channel, ts=status["ts"], text=text),
                                 self.settings.stream_interval_s)
        progress = ProgressReporter(editor, ":inbox_tray:")
        view = await ingest_upload(self.core, self.jobs, conversation, names, {"channel": channel, "thread": thread},
                                   fetch, progress)
        await progress.drain()
        text, blocks = view_message(view)
        await editor.finish(lambda: self.client.chat_update(channel=channel, ts=status["ts"], text=text,
                                                            blocks=blocks))
        if isinstance(view, IngestView) and view.report.documents:
            await self.publish_home(None, conversation.user)
        return view

    async def _fetch_files(self, files: list[dict[str, Any]], folder: Path,
                           ) -> tuple[list[SourceFile], list[FileResult]]:
        """Download each file into `folder`."""
        return await fetch_each(files, lambda file: self.files.fetch(file, folder), file_name)

    async def resume_jobs(self) -> int:
        """Finish or report the uploads a previous run of the bot accepted but did not complete."""
        async def post(job: Job, view: View) -> None:
            await self._post_view(view, job.reply["channel"], job.reply.get("thread"))

        return await resume(self.core, self.jobs, "slack", post)

    async def _ack_ingest(self, ack: Any, command: dict[str, Any]) -> None:
        if command.get("text", "").strip():
            await ack(":inbox_tray: Fetching that…")
        else:
            await ack("To add documents, share files in a message that mentions me, or send them to me in a DM. "
                      "I'm now looking for the files you shared most recently in this channel…")

    async def _run_ingest(self, command: dict[str, Any], respond: Any, context: Any) -> None:
        argument = command.get("text", "").strip()
        channel = command["channel_id"]
        try:
            conversation = await self._command_conversation(command, context, with_admin=True)
            if not await self._may_add(conversation.user):
                await respond(text=self.policy.refusal(INGEST_VARIABLE), response_type="ephemeral")
                return
            url = argument.strip("<>").split("|", 1)[0]  # Slack sends links as <url> or <url|label>
            if is_url(url) and not is_slack_link(url):
                await self._ingest_job(conversation, [url], lambda folder: self.core.fetch_urls([url], folder),
                                       channel, None)
                return
            if argument:
                file_id = file_id_from_url(argument)
                if file_id is None:
                    await respond(text="That is neither a Slack file link nor a web address: use *Copy link to "
                                       "file* on a file in Slack, or an https:// link, then `/ingest <link>`.",
                                  response_type="ephemeral")
                    return
                info = await self.files.info({"id": file_id}, refresh=True)
                conversation = await self._narrowest(conversation, info, channel)
                files = [info]
            else:
                files = await self._recent_files(command["user_id"], channel)
                if not files:
                    await respond(text="I found no files you shared in this channel recently. Share a file in a "
                                       "message that mentions me, or DM it to me.", response_type="ephemeral")
                    return
            await self._ingest_files(conversation, files, channel, None)
        except SlackApiError as exc:
            await respond(text=f":warning: Slack refused ({slack_error(exc)}). Is bitrag in this channel?",
                          response_type="ephemeral")
        except Exception as exc:
            await respond(text=failure(exc).text, response_type="ephemeral")

    async def _narrowest(self, conversation: Conversation, info: dict[str, Any], channel: str) -> Conversation:
        """A file linked with `/ingest` must have been shared in this conversation, and its document gets the
        narrowest audience among the places it was shared (a file also in a DM stays that DM's user's)."""
        places = {where: list(info.get(where) or []) for where in NARROWER}
        if not any(channel in ids for ids in places.values()):
            raise NotAllowedError(FILE_NOT_HERE)
        where = min((w for w, ids in places.items() if ids), key=NARROWER.__getitem__)
        if channel in places[where]:
            return conversation  # this conversation is already among the narrowest places
        other = places[where][0]
        kind, details = await self._kind(other)
        if kind not in (Kind.PRIVATE, Kind.GROUP_DM, Kind.DM):
            raise NotAllowedError("I could not check who can see the other places this file was shared, so I won't "
                                  "add it from here; run /ingest where it was shared.")
        owner = (details or {}).get("user") if kind is Kind.DM else conversation.user
        narrowed = conversation_at(Place("slack", conversation.space, other, kind), str(owner),
                                   conversation.admin)
        return replace(conversation, tenant=narrowed.tenant, also_reads=conversation.read_scope)

    async def _recent_files(self, user: str, channel: str) -> list[dict[str, Any]]:
        listed = (await self.client.files_list(user=user, channel=channel, count=20)).get("files", [])
        if not listed:
            return []
        newest = max(int(f.get("created") or 0) for f in listed)
        if time.time() - newest > 24 * 3600:
            return []
        return [f for f in listed if newest - int(f.get("created") or 0) <= RECENT_FILES_WINDOW_S]

    # --- /bitrag sources | forget | help ---------------------------------------------------------------------

    async def _ack_bitrag(self, ack: Any) -> None:
        await ack()

    async def _run_bitrag(self, command: dict[str, Any], respond: Any, context: Any) -> None:
        word, _, argument = command.get("text", "").strip().partition(" ")
        word, argument = word.lower(), argument.strip()
        if word == "ask" and argument:
            await self._answer_ask({**command, "text": argument}, respond, context)
            return
        try:
            conversation = await self._command_conversation(command, context,
                                                            with_admin=word in ("forget", "share", "audit"))
        except NotAllowedError as exc:
            await respond(text=str(exc), response_type="ephemeral")
            return
        if word == "sources":
            view = await self.core.sources(conversation)
        elif word == "forget":
            view = await self.core.forget(conversation, argument)
        elif word == "share":
            reference, _, target = argument.rpartition(" ")
            if target.lower() != "workspace" or not reference.strip():
                view = MessageView("Usage: /bitrag share <document> workspace", "error")
            else:
                view = await self.core.share(conversation, reference, str(conversation.space))
        elif word == "audit":
            view = await self.core.audit(conversation, conversation.space)
        else:
            view = MessageView(SLACK_HELP)
        # Changes are announced where they were made only when everyone there may read the document; everything
        # else (listings, refusals, the audit log) is shown to the asker alone.
        announce = isinstance(view, ForgottenView | SharedView) and view.document.audience in conversation.read_scope
        text, blocks = view_message(view)
        await respond(text=text, blocks=blocks, response_type="in_channel" if announce else "ephemeral")
        if isinstance(view, ForgottenView | SharedView):
            await self.publish_home(context, conversation.user)
