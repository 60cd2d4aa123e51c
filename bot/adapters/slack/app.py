"""The Slack app: slash commands, mentions, DMs, thread follow-ups, file uploads and feedback buttons.

Thin by design: every listener turns a Slack payload into a bot-core call (`BotCore`) and renders the view it gets
back (`render.py`). The tenant is the Slack team id. Slash commands are acked at once and worked on in lazy
listeners; events are acked by bolt before the listener runs, and events Slack retries are processed once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.files import SlackFiles, file_id_from_url, is_slack_link, slack_error
from bot.adapters.slack.render import (
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    answer_messages,
    context,
    escape,
    section,
    streaming_message,
    view_message,
)
from bot.core import HELP, BotCore, Conversation, failure, fetch_each
from bot.feedback import FeedbackStore
from bot.jobs import Fetch, Job, JobStore, ingest_upload, resume
from bot.permissions import ChangePolicy
from bot.settings import Settings
from bot.streaming import ProgressReporter, ThrottledEditor, follow
from bot.views import AnswerView, MessageView, View
from ingest.fetch import is_url
from rag.errors import ConfigError
from rag.models import FileResult, SourceFile, Turn, last_turns

log = logging.getLogger(__name__)

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
POSTING_FAILURES = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
RECENT_FILES_WINDOW_S = 300  # files shared together with the newest one count as "most recently shared"
INGEST_VARIABLE = "SLACK_INGEST_ALLOWED"
SLACK_HELP = HELP.replace("  ask <question>     ask (or just type the question)",
                          "  /ask <question>    or mention me, or DM me").replace(
    "  ingest <path>...   add files or folders", "  /ingest            add files: share them with a mention or in a DM")


def strip_mentions(text: str) -> str:
    return " ".join(MENTION.sub(" ", text or "").split())


WORKSPACE_WIDE = re.compile(r"(?i)(?:--)?workspace(?:-wide)?\b")


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
        self.jobs = JobStore(settings.uploads_dir)
        self.policy = ChangePolicy.parse(settings.slack_ingest_allowed, INGEST_VARIABLE)
        self.client = make_client(settings)
        socket_mode = settings.slack_app_token is not None
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        self.app = AsyncApp(client=self.client, signing_secret=secret, request_verification_enabled=not socket_mode,
                            ignoring_self_events_enabled=True)
        self.files = SlackFiles(self.client, settings.slack_bot_token.get_secret_value(),  # type: ignore[union-attr]
                                core.service.parser, int(settings.max_file_mb * 1024 * 1024))
        self._seen_events: OrderedDict[str, None] = OrderedDict()
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
        app.action(FEEDBACK_UP)(self._on_vote)
        app.action(FEEDBACK_DOWN)(self._on_vote)

    async def verify(self) -> dict[str, Any]:
        """auth.test once at start-up, so a revoked or mistyped token is a clear error, not a silent bot."""
        return await verify_token(self.client)

    def conversation(self, team: str, user: str, channel: str, workspace_wide: bool = False) -> Conversation:
        """The tenant is the workspace; with SLACK_CHANNEL_SCOPED, documents added in a channel belong to that
        channel (`team:channel`) unless marked workspace-wide, and a channel reads its own plus the workspace's."""
        if not self.settings.slack_channel_scoped or channel.startswith("D"):
            return Conversation(tenant=team, user=user, platform="slack", channel=channel)
        own = f"{team}:{channel}"
        if workspace_wide:
            return Conversation(tenant=team, user=user, platform="slack", channel=channel, also_reads=(own,))
        return Conversation(tenant=own, user=user, platform="slack", channel=channel, also_reads=(team,))

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

    # --- /ask ------------------------------------------------------------------------------------------------

    async def _ack_ask(self, ack: Any, command: dict[str, Any]) -> None:
        question = command.get("text", "").strip()
        if not question:
            await ack("Ask me something, e.g. `/ask what is our vacation policy?`")
        else:
            await ack(f":mag: Looking for an answer to: {escape(question)}")

    async def _answer_ask(self, command: dict[str, Any], respond: Any) -> None:
        question = command.get("text", "").strip()
        if not question:
            return
        conversation = self.conversation(command["team_id"], command["user_id"], command["channel_id"])
        header = f"*<@{command['user_id']}> asked:* {escape(question)}"
        try:
            await self._answer(conversation, question, [], command["channel_id"], None, header)
        except SlackApiError as exc:
            if slack_error(exc) not in POSTING_FAILURES:
                log.warning("Could not post an answer to /ask: %s", slack_error(exc))
                await respond(text=f":warning: I could not post the answer ({slack_error(exc)}).",
                              response_type="ephemeral")
                return
            # Not a member of this channel (or a DM with someone else): answer through the response_url.
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

    async def _handle_message(self, event: dict[str, Any], context: Any, follow_up_only: bool = False) -> None:
        channel, ts = event["channel"], event["ts"]
        thread = event.get("thread_ts") or ts
        question = strip_mentions(event.get("text", ""))
        conversation = self.conversation(context.team_id or event.get("team", ""), event.get("user", ""), channel,
                                         workspace_wide=bool(WORKSPACE_WIDE.search(question)))
        history: list[Turn] = []
        if thread != ts:
            participated, history = await self._thread_history(channel, thread, ts, context.bot_user_id)
            if follow_up_only and not participated:
                return  # a thread bitrag is not part of
        if event.get("files"):
            await self._ingest_files(conversation, event["files"], channel, thread)
            instruction = WORKSPACE_WIDE.sub("", question).strip()
            if not instruction or re.fullmatch(r"(?i)ingest|add( this| these)?|index( this)?", instruction):
                return
        if not question:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread, text=SLACK_HELP)
            return
        await self._react(channel, ts, "eyes", add=True)
        try:
            await self._answer(conversation, question, history, channel, thread)
        except SlackApiError as exc:
            log.warning("Could not answer in %s: %s", channel, slack_error(exc))
        finally:
            await self._react(channel, ts, "eyes", add=False)

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
                      thread: str | None, header: str | None = None) -> None:
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
            messages = answer_messages(view, header, await self.feedback.record(view, conversation))
        else:
            messages = [view_message(view)]
            if header:
                messages[0][1].insert(0, section(header))
        text, blocks = messages[0]
        await editor.finish(lambda: self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))
        for more_text, more_blocks in messages[1:]:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread or ts, text=more_text,
                                               blocks=more_blocks)

    async def _on_vote(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        vote = 1 if action["action_id"] == FEEDBACK_UP else -1
        known = await asyncio.to_thread(self.feedback.vote, action["value"], body["user"]["id"], vote)
        text = "Thanks for the feedback!" if known else "That answer is too old to rate."
        await respond(text=text, response_type="ephemeral", replace_original=False)

    # --- ingestion -------------------------------------------------------------------------------------------

    async def _may_change(self, user: str) -> bool:
        async def is_admin(user_id: str) -> bool:
            try:
                info = (await self.client.users_info(user=user_id))["user"]
            except SlackApiError:
                return False
            return bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))

        return await self.policy.allows(user, is_admin)

    async def _ingest_files(self, conversation: Conversation, files: list[dict[str, Any]], channel: str,
                            thread: str | None) -> View:
        """Download, ingest and report on files, updating one status message as it goes."""
        if not await self._may_change(conversation.user):
            view: View = MessageView(self.policy.refusal(INGEST_VARIABLE), "error")
            text, blocks = view_message(view)
            await self.client.chat_postMessage(channel=channel, thread_ts=thread, text=text, blocks=blocks)
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
        return view

    async def _fetch_files(self, files: list[dict[str, Any]], folder: Path,
                           ) -> tuple[list[SourceFile], list[FileResult]]:
        """Download each file into `folder`."""
        return await fetch_each(files, lambda file: self.files.fetch(file, folder), file_name)

    async def resume_jobs(self) -> int:
        """Finish or report the uploads a previous run of the bot accepted but did not complete."""
        async def post(job: Job, view: View) -> None:
            text, blocks = view_message(view)
            await self.client.chat_postMessage(channel=job.reply["channel"], thread_ts=job.reply.get("thread"),
                                               text=text, blocks=blocks)

        return await resume(self.core, self.jobs, "slack", post)

    async def _ack_ingest(self, ack: Any, command: dict[str, Any]) -> None:
        if WORKSPACE_WIDE.sub("", command.get("text", "")).strip():
            await ack(":inbox_tray: Fetching that…")
        else:
            await ack("To add documents, share files in a message that mentions me, or send them to me in a DM. "
                      "I'm now looking for the files you shared most recently in this channel…")

    async def _run_ingest(self, command: dict[str, Any], respond: Any) -> None:
        argument = command.get("text", "").strip()
        conversation = self.conversation(command["team_id"], command["user_id"], command["channel_id"],
                                         workspace_wide=bool(WORKSPACE_WIDE.search(argument)))
        argument = WORKSPACE_WIDE.sub("", argument).strip()
        try:
            if not await self._may_change(conversation.user):
                await respond(text=self.policy.refusal(INGEST_VARIABLE), response_type="ephemeral")
                return
            url = argument.strip("<>").split("|", 1)[0]  # Slack sends links as <url> or <url|label>
            if is_url(url) and not is_slack_link(url):
                await self._ingest_job(conversation, [url], lambda folder: self.core.fetch_urls([url], folder),
                                       command["channel_id"], None)
                return
            if argument:
                file_id = file_id_from_url(argument)
                if file_id is None:
                    await respond(text="That is neither a Slack file link nor a web address: use *Copy link to "
                                       "file* on a file in Slack, or an https:// link, then `/ingest <link>`.",
                                  response_type="ephemeral")
                    return
                files = [{"id": file_id}]
            else:
                files = await self._recent_files(command["user_id"], command["channel_id"])
                if not files:
                    await respond(text="I found no files you shared in this channel recently. Share a file in a "
                                       "message that mentions me, or DM it to me.", response_type="ephemeral")
                    return
            await self._ingest_files(conversation, files, command["channel_id"], None)
        except SlackApiError as exc:
            await respond(text=f":warning: Slack refused ({slack_error(exc)}). Is bitrag in this channel?",
                          response_type="ephemeral")
        except Exception as exc:
            await respond(text=failure(exc).text, response_type="ephemeral")

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

    async def _run_bitrag(self, command: dict[str, Any], respond: Any) -> None:
        conversation = self.conversation(command["team_id"], command["user_id"], command["channel_id"])
        word, _, argument = command.get("text", "").strip().partition(" ")
        word = word.lower()
        visible = False
        if word == "sources":
            view = await self.core.sources(conversation)
        elif word == "forget":
            if await self._may_change(conversation.user):
                view = await self.core.forget(conversation, argument)
                visible = not (isinstance(view, MessageView) and view.level == "error")
            else:
                view = MessageView(self.policy.refusal(INGEST_VARIABLE), "error")
        elif word == "ask" and argument:
            await self._answer_ask({**command, "text": argument}, respond)
            return
        else:
            view = MessageView(SLACK_HELP)
        text, blocks = view_message(view)
        await respond(text=text, blocks=blocks, response_type="in_channel" if visible else "ephemeral")
