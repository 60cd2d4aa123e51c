"""The bot core on an event loop of its own, shared by every browser session of the web UI.

Streamlit runs each page script in a thread of its own and re-runs it on every click, while the bot core is async
and owns one Milvus connection (Milvus Lite admits one process per database file). So one `WebRuntime` per process
keeps the core on a background loop; page scripts hand it coroutines and wait, and chat adapters started by
`bitrag run` share the same loop and the same core.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from bot.access import Person, parse_ids
from bot.core import BotCore
from bot.feedback import FeedbackStore
from bot.jobs import Job, JobStore, resume
from bot.logs import configure_logging
from bot.ratelimit import RateLimiter
from bot.settings import Settings, get_settings
from bot.terms import ConfigError, Embedder, NotAllowedError
from bot.views import View
from bot.wiring import open_service

T = TypeVar("T")
log = logging.getLogger(__name__)
_DONE = object()


class WebRuntime:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bitrag-core", daemon=True)
        self._thread.start()
        try:
            service = self.call(open_service(settings, embedder))
        except BaseException:
            self._stop_loop()
            raise
        limiter = RateLimiter(settings.rate_limit_user_per_min, settings.rate_limit_tenant_per_min)
        self.core = BotCore(service, limiter, FeedbackStore(settings.feedback_url, settings.feedback_retention_days))
        self.jobs = JobStore(settings.uploads)  # web uploads are durable jobs, like chat uploads
        self._slack = None
        if settings.web_auth == "slack" and settings.slack_bot_token is not None:
            from bot.adapters.slack.facts import SlackFacts, make_client

            self._slack = SlackFacts(make_client(settings), parse_ids(settings.slack_admin_ids))
        self.submit(resume(self.core, self.jobs, "web", _log_result))

    def slack_person(self, team: str, user: str) -> Person:
        """What Slack says of someone signed in with Slack (guest? another organisation? their conversations?);
        without the bot token nothing can be said, and they read their own documents only."""
        if self._slack is None:
            return Person("slack", team, user, guest=None)
        facts = self._slack

        async def look_up() -> Person:
            try:
                workspace = await facts.workspace()
            except ConfigError as exc:  # a revoked token: nothing can be said of anyone (the log says why)
                log.warning("Sign in with Slack: %s; reading only the person's own documents", exc)
                return Person("slack", team, user, guest=None)
            if team != workspace:
                raise NotAllowedError(f"You signed in with another Slack workspace ({team}) than the one bitrag "
                                      "serves: sign in with your account there.")
            return await facts.person(user, member_of=True)

        return self.call(look_up())

    def submit(self, work: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(_awaited(work), self.loop)

    def call(self, work: Awaitable[T], timeout: float | None = None) -> T:
        """Run `work` on the core's loop and wait for its result (from any thread but the loop's own)."""
        return self.submit(work).result(timeout)

    def iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        """The items of an async iterator running on the core's loop, as a plain iterator for a page script."""
        items: queue.Queue[Any] = queue.Queue()

        async def pump() -> None:
            try:
                async for item in stream:
                    items.put(item)
            finally:
                items.put(_DONE)

        done = self.submit(pump())
        while (item := items.get()) is not _DONE:
            yield item
        done.result()  # re-raise what ended the stream early

    def call_with_progress(self, work: Callable[[Callable[..., None]], Awaitable[T]],
                           on_progress: Callable[..., None], poll_s: float = 0.1) -> T:
        """Run `work(progress)` on the loop; `on_progress` gets each progress call in the calling thread (where a
        page script may update its widgets)."""
        updates: queue.Queue[tuple[Any, ...]] = queue.Queue()
        future = self.submit(work(lambda *args: updates.put(args)))
        while True:
            try:
                on_progress(*updates.get(timeout=poll_s))
            except queue.Empty:
                if future.done():
                    break
        while not updates.empty():
            on_progress(*updates.get_nowait())
        return future.result()

    def close(self) -> None:
        try:
            self.call(self.core.service.close(), timeout=60)
        finally:
            if self.core.feedback is not None:
                self.core.feedback.close()
            self.jobs.close()
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


async def _log_result(job: Job, view: View) -> None:
    """A web upload interrupted by a restart is finished at start-up; its browser session is gone, so the log
    says how it ended."""
    log.info("Web upload %s (%s) finished after a restart: %s", job.id, ", ".join(job.names), type(view).__name__)


async def _awaited(work: Awaitable[T]) -> T:
    return await work


_runtime: WebRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> WebRuntime:
    """This process's runtime, created from the environment's settings on first use (`streamlit run` directly)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            settings = get_settings()
            configure_logging(settings.log_level, settings.log_format)
            _runtime = WebRuntime(settings)
        return _runtime


def install_runtime(runtime: WebRuntime | None) -> None:
    """Use `runtime` for the web UI of this process (`bitrag web` and the tests build it themselves)."""
    global _runtime
    with _runtime_lock:
        _runtime = runtime
