"""Fakes of the services bitrag talks to, each an aiohttp app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

Fake = TypeVar("Fake", bound=Any)


@contextmanager
def on_own_loop(fake: Fake) -> Iterator[Fake]:
    """`fake` started on an event loop of its own thread, for tests whose own thread blocks (Streamlit's AppTest,
    a `bitrag web` in another process): stopped, and the loop ended, on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result()
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
