"""Slack's native streaming: an answer grows in one message through `chat.startStream` / `chat.appendStream` /
`chat.stopStream`, instead of being replaced by `chat.update` once a second.

Streaming is append-only, so only text that the final answer will start with may be sent: the core yields the
answer so far with citations renumbered as they appear and made safe (`BotCore.ask_stream`), and of that, only the
part before the last word is appended (a word can still turn into a link, a mention, a citation). The final
answer's remainder, its sources and Slack's own 👍/👎 (`feedback_buttons`) go with `chat.stopStream`, so the
message assembled from the appended pieces is the final answer.

Whatever goes wrong, the user gets the whole answer once: a stream Slack refuses to start is not used (the caller
answers by edits); a stream that stops taking appends (`message_not_in_streaming_state` after it expired, an
error) keeps quiet until the end; and when the final answer does not continue what was shown (an appended word that
a later link rewrote, say), the message is replaced with the final answer by `chat.update`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.files import slack_error

log = logging.getLogger(__name__)
APPEND_LIMIT = 12_000  # characters of markdown_text per call


def stable_prefix(text: str) -> str:
    """The part of a growing answer that more text will not change: everything up to its last whitespace."""
    cut = max(text.rfind(" "), text.rfind("\n"))
    return text[:cut + 1] if cut >= 0 else ""


class NativeStream:
    """One streamed answer message in a thread."""

    def __init__(self, client: AsyncWebClient, channel: str, thread: str) -> None:
        self.client, self.channel, self.thread = client, channel, thread
        self.ts = ""
        self.sent = ""  # what the message shows so far
        self.broken = False  # Slack stopped taking appends

    async def start(self, user: str, team: str | None) -> None:
        """Raises `SlackApiError` when Slack will not stream here; nothing is shown then. The recipient is
        required outside DMs."""
        started = await self.client.chat_startStream(channel=self.channel, thread_ts=self.thread,
                                                     recipient_user_id=user, recipient_team_id=team)
        self.ts = started["ts"]

    async def show(self, text: str) -> None:
        """Append what is new and stable in `text` (the answer so far); silently nothing once it diverged."""
        stable = stable_prefix(text)
        if self.broken or not stable.startswith(self.sent) or len(stable) == len(self.sent):
            return
        piece = stable[len(self.sent):][:APPEND_LIMIT]
        try:
            await self.client.chat_appendStream(channel=self.channel, ts=self.ts, markdown_text=piece)
        except SlackApiError as exc:
            self.broken = True
            log.info("Streaming into %s stopped (%s); the answer follows when it is complete", self.channel,
                     slack_error(exc))
            return
        self.sent += piece

    async def finish(self, body: str, blocks: list[dict[str, Any]],
                     replace: Callable[[], Awaitable[object]]) -> None:
        """Stop with the rest of `body` and `blocks`; when the shown text is not the start of `body`, or Slack
        refuses, `replace` puts the whole answer in the message instead."""
        if not self.broken and body.startswith(self.sent):
            rest = body[len(self.sent):]
            try:
                await self.client.chat_stopStream(channel=self.channel, ts=self.ts, markdown_text=rest or None,
                                                  blocks=blocks)
                self.sent = body
                return
            except SlackApiError as exc:
                log.info("chat.stopStream in %s failed (%s): replacing the message", self.channel, slack_error(exc))
        else:
            with contextlib.suppress(SlackApiError):  # expired already: the message can still be updated
                await self.client.chat_stopStream(channel=self.channel, ts=self.ts)
        await replace()
