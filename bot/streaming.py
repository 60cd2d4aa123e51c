"""Showing an answer while the LLM writes it, within a platform's edit rate limits.

`ThrottledEditor` collapses a stream of growing texts into at most one edit per `interval` seconds; the last
text always gets through with `finish()`. Edits run one at a time, so a slow API call never overlaps another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.safety import inert
from bot.views import MessageView, View


class ThrottledEditor:
    def __init__(self, edit: Callable[[str], Awaitable[object]], interval: float = 1.0) -> None:
        self._edit = edit
        self._interval = interval
        self._last = 0.0
        self._pending: str | None = None
        self._lock = asyncio.Lock()
        self.edits = 0

    async def update(self, text: str) -> None:
        """Show `text` now if the interval has passed since the last edit, else remember it for later."""
        self._pending = text
        if time.monotonic() - self._last >= self._interval and not self._lock.locked():
            await self._flush()

    async def _flush(self) -> None:
        async with self._lock:
            text, self._pending = self._pending, None
            if text is None:
                return
            self._last = time.monotonic()
            self.edits += 1
            await self._edit(text)

    async def finish(self, edit: Callable[[], Awaitable[object]]) -> None:
        """Replace whatever is shown with the final rendering (always sent, after any edit in flight)."""
        async with self._lock:
            self._pending = None
            self.edits += 1
            await edit()


async def follow(events: AsyncIterator[str | View], editor: ThrottledEditor) -> View:
    """Show the growing answer of `BotCore.ask_stream` through `editor`; return the final view."""
    final = None
    async for item in events:
        if isinstance(item, str):
            await editor.update(item)
        else:
            final = item
    return final or MessageView("No answer was produced.", "error")


class ProgressReporter:
    """An ingestion `Progress` callback (called synchronously on the loop) that shows "name: done/total chunks…"
    through a throttled editor; `drain()` waits for edits still in flight before the final summary."""

    def __init__(self, editor: ThrottledEditor, prefix: str) -> None:
        self._editor = editor
        self._prefix = prefix
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, name: str, done: int, total: int) -> None:
        task = asyncio.get_running_loop().create_task(
            self._editor.update(f"{self._prefix} {inert(name)}: {done}/{total} chunks…"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def split_markdown(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most `limit` characters at line breaks, never leaving a code block open: a
    fence cut in two is closed at the end of one piece and reopened (same language) at the start of the next."""
    pieces: list[str] = []
    current, fence, has_body = "", None, False
    for line in text.splitlines(keepends=True):
        while line:
            room = limit - len(current) - (4 if fence else 0)
            if len(line) <= room:
                current, line, has_body = current + line, "", True
                marker = current.splitlines()[-1].strip()
                if marker.startswith("```"):
                    fence = None if fence else marker
            elif has_body:
                pieces.append(current.rstrip("\n") + ("\n```" if fence else ""))
                current, has_body = (fence + "\n") if fence else "", False
            else:  # a single line longer than a piece: cut it
                take = max(room, 1)
                current, line, has_body = current + line[:take], line[take:], True
    if has_body:
        pieces.append(current.rstrip("\n"))
    return pieces or [""]
