"""Slack's side of the chat contract (`bot.chat.Surface` / `Reply`): where a view goes and how a message grows.

- Public replies are posted in the conversation (in its thread when there is one); an answer in a thread is
  streamed natively where Slack allows it (STREAM_MODE), else a placeholder is edited as the model writes.
- Private replies go to the asker alone: through the slash command's response URL (`ephemeral`), else
  `chat.postEphemeral`. Ephemeral messages cannot be edited, so a private answer is sent once, finished.
- A slash command where bitrag is not a member cannot post: its public answer goes through the response URL.
"""

from __future__ import annotations

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
from bot.adapters.slack.stream import NativeStream
from bot.views import AnswerView, View

log = logging.getLogger(__name__)
POSTING_FAILURES = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
Respond = Callable[..., Awaitable[Any]]


class SlackSurface:
    """Replies in `channel` (and `thread`) to a request of `user`. `respond`: a slash command's response URL.
    `header`: what a reply outside a thread starts with (who asked what). `stream_mode`: STREAM_MODE."""

    def __init__(self, client: AsyncWebClient, channel: str, user: str, team: str | None, thread: str | None = None,
                 respond: Respond | None = None, header: str | None = None, stream_mode: str = "auto",
                 only_private: bool = False) -> None:
        self.client, self.channel, self.user, self.team, self.thread = client, channel, user, team, thread
        self.respond, self.header, self.stream_mode, self.only_private = respond, header, stream_mode, only_private
        self.address = {"channel": channel, "thread": thread}

    async def send(self, view: View, private: bool = False) -> None:
        await self.deliver([view_message(view)], private or self.only_private)

    async def deliver(self, messages: list[Message], private: bool) -> None:
        """Finished messages: through the response URL when there is one, else posted (or posted ephemerally)."""
        for text, blocks in messages[:5] if self.respond else messages:  # a response URL takes 5 messages
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
            stream = NativeStream(self.client, self.channel, self.thread)
            try:
                await stream.start(self.user, self.team)
                return Streamed(self, stream)
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
        if self.answer:
            text, blocks = streaming_message(self.surface.header, text)
        else:
            blocks = [context(escape(text))]
        await self.surface.client.chat_update(channel=self.surface.channel, ts=self.message, text=text,
                                              blocks=blocks)

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        await self.surface.replace(self.message, self.surface.messages(view, answer_id))


class Streamed:
    """An answer streamed natively; its end carries Slack's own 👍/👎."""

    def __init__(self, surface: SlackSurface, stream: NativeStream) -> None:
        self.surface, self.stream, self.message = surface, stream, stream.ts

    async def show(self, text: str) -> None:
        await self.stream.show(text)

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        if isinstance(view, AnswerView):
            body = view.body
            blocks = [*answer_tail(view), *([feedback_actions(answer_id)] if answer_id else [])]
            messages = answer_messages(view, None, answer_id)
        else:
            messages = [view_message(view)]
            body, blocks = messages[0][0], []
        await self.stream.finish(body, blocks, lambda: self.surface.replace(self.stream.ts, messages))


class Whole:
    """A reply sent once, finished (ephemeral messages cannot be edited; a response URL answers as it can)."""

    message = None

    def __init__(self, surface: SlackSurface, private: bool) -> None:
        self.surface, self.private = surface, private

    async def show(self, text: str) -> None:
        return None

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        await self.surface.deliver(self.surface.messages(view, answer_id), self.private)
