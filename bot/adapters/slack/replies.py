"""Slack's side of the chat contract (`bot.chat.Surface` / `Reply`): where a view goes and how a message grows.

- Public replies are posted in the conversation (in its thread when there is one). An answer in a thread is
  streamed natively (`chat.startStream` / `appendStream` / `stopStream`) where Slack allows it (STREAM_MODE), else a
  placeholder is edited about once a STREAM_INTERVAL_S.
- Private replies reach the asker alone: through a slash command's response URL (`ephemeral`), else
  `chat.postEphemeral`. Ephemeral messages cannot be edited, so a private answer is sent once, finished.
- A slash command where bitrag is not a member cannot post: its public answer goes through the response URL.

Native streaming only appends, so only text the final answer will start with is sent: the core yields the answer
so far already renumbered and made safe, and of that only the part before the last word (a word can still become
a link, a mention, a citation). The rest, the sources and Slack's own 👍/👎 go with `chat.stopStream`. Whatever goes
wrong the user gets the whole answer once: a stream Slack refuses to start is not used (edits instead); one that
stops taking appends (`message_not_in_streaming_state` when it expired) stays quiet until the end; and when the
final answer does not continue what was shown, the message is replaced with it by `chat.update`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.files import slack_error
from bot.adapters.slack.render import (
    Message,
    answer_messages,
    answer_tail,
    context,
    escape,
    feedback_actions,
    section,
    streaming_message,
    view_message,
)
from bot.views import AnswerView, View

log = logging.getLogger(__name__)
POSTING_FAILURES = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
APPEND_LIMIT = 12_000  # characters of markdown_text per chat.appendStream
Respond = Callable[..., Awaitable[Any]]


class SlackSurface:
    """Replies in `channel` (and `thread`) to a request of `user`. `respond`: a slash command's response URL.
    `header`: what an answer outside a thread starts with (who asked what). `only_private`: every reply ephemeral
    (a message shortcut)."""

    def __init__(self, client: AsyncWebClient, channel: str, user: str, team: str | None, thread: str | None = None,
                 respond: Respond | None = None, header: str | None = None, stream_mode: str = "auto",
                 only_private: bool = False) -> None:
        self.client, self.channel, self.user, self.team, self.thread = client, channel, user, team, thread
        self.respond, self.header, self.stream_mode, self.only_private = respond, header, stream_mode, only_private
        self.address = {"channel": channel, "thread": thread}

    async def send(self, view: View, private: bool = False) -> None:
        await self.deliver([view_message(view)], private or self.only_private)

    async def deliver(self, messages: list[Message], private: bool) -> None:
        """Finished messages: through the response URL when there is one (5 at most), else posted."""
        for text, blocks in messages[:5] if self.respond else messages:
            if self.respond is not None:
                await self.respond(text=text, blocks=blocks, response_type="ephemeral" if private else "in_channel",
                                   replace_original=False)
            elif private:
                await self.client.chat_postEphemeral(channel=self.channel, user=self.user, text=text, blocks=blocks,
                                                     thread_ts=self.thread)
            else:
                await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread, text=text,
                                                   blocks=blocks, unfurl_links=False)

    async def open(self, waiting: str, private: bool = False, answer: bool = False) -> Any:
        if private or self.only_private:
            return Whole(self, private=True)
        if answer and self.thread is not None and self.stream_mode != "edit":
            try:  # the recipient is required outside DMs
                started = await self.client.chat_startStream(channel=self.channel, thread_ts=self.thread,
                                                             recipient_user_id=self.user, recipient_team_id=self.team)
                return Streamed(self, started["ts"])
            except SlackApiError as exc:
                level = logging.WARNING if self.stream_mode == "native" else logging.INFO
                log.log(level, "Slack would not stream an answer in %s (%s): answering by edits", self.channel,
                        slack_error(exc))
        shown = [*([section(self.header)] if self.header and answer else []), context(f"_{escape(waiting)}_")]
        try:
            posted = await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread,
                                                        text="Searching…" if answer else waiting, blocks=shown,
                                                        unfurl_links=False)
        except SlackApiError as exc:
            if self.respond is None or slack_error(exc) not in POSTING_FAILURES:
                raise
            return Whole(self, private=False)  # not a member here: the response URL can still answer
        return Edited(self, posted["ts"], answer)

    def messages(self, view: View, answer_id: str | None) -> list[Message]:
        if isinstance(view, AnswerView):
            return answer_messages(view, self.header, answer_id)
        text, blocks = view_message(view)
        return [(text, [*([section(self.header)] if self.header else []), *blocks])]

    async def replace(self, ts: str, messages: list[Message]) -> None:
        """The first message replaces message `ts`; any more continue in the thread."""
        text, blocks = messages[0]
        await self.client.chat_update(channel=self.channel, ts=ts, text=text, blocks=blocks)
        for more_text, more_blocks in messages[1:]:
            await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread or ts, text=more_text,
                                               blocks=more_blocks)


class Edited:
    """A posted message edited as the work goes on, then replaced with the result."""

    def __init__(self, surface: SlackSurface, ts: str, answer: bool) -> None:
        self.surface, self.message, self.answer = surface, ts, answer

    async def show(self, text: str) -> None:
        text, blocks = streaming_message(self.surface.header, text) if self.answer else (text, [context(escape(text))])
        await self.surface.client.chat_update(channel=self.surface.channel, ts=self.message, text=text,
                                              blocks=blocks)

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        await self.surface.replace(self.message, self.surface.messages(view, answer_id))


class Streamed:
    """An answer streamed natively into one thread reply; `sent` is what the message shows so far."""

    def __init__(self, surface: SlackSurface, ts: str) -> None:
        self.surface, self.message, self.sent, self.broken = surface, ts, "", False

    async def show(self, text: str) -> None:
        """Append what is new and stable in `text` (the answer so far); silently nothing once it diverged."""
        cut = max(text.rfind(" "), text.rfind("\n"))
        stable = text[:cut + 1] if cut >= 0 else ""
        if self.broken or not stable.startswith(self.sent) or len(stable) == len(self.sent):
            return
        piece = stable[len(self.sent):][:APPEND_LIMIT]
        try:
            await self.surface.client.chat_appendStream(channel=self.surface.channel, ts=self.message,
                                                        markdown_text=piece)
        except SlackApiError as exc:
            self.broken = True
            log.info("Streaming into %s stopped (%s); the answer follows when it is complete", self.surface.channel,
                     slack_error(exc))
            return
        self.sent += piece

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        """Stop with the rest of the answer, its sources and 👍/👎; when what was shown is not the start of the
        answer, or Slack refuses, the message is replaced with the whole answer."""
        client, channel = self.surface.client, self.surface.channel
        messages = answer_messages(view, None, answer_id) if isinstance(view, AnswerView) else [view_message(view)]
        if isinstance(view, AnswerView):
            body, blocks = view.body, [*answer_tail(view), *([feedback_actions(answer_id)] if answer_id else [])]
        else:
            body, blocks = messages[0][0], []
        if not self.broken and body.startswith(self.sent):
            try:
                await client.chat_stopStream(channel=channel, ts=self.message,
                                             markdown_text=body[len(self.sent):] or None, blocks=blocks)
                return
            except SlackApiError as exc:
                log.info("chat.stopStream in %s failed (%s): replacing the message", channel, slack_error(exc))
        else:
            with contextlib.suppress(SlackApiError):  # expired already: the message can still be updated
                await client.chat_stopStream(channel=channel, ts=self.message)
        await self.surface.replace(self.message, messages)


class Whole:
    """A reply sent once, finished (ephemeral messages cannot be edited; a response URL answers as it can)."""

    message = None

    def __init__(self, surface: SlackSurface, private: bool) -> None:
        self.surface, self.private = surface, private

    async def show(self, text: str) -> None:
        return None

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        await self.surface.deliver(self.surface.messages(view, answer_id), self.private)
