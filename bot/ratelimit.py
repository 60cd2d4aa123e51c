"""Per-person and per-workspace limits on questions, so one person or one noisy workspace cannot starve the others.

A person is counted across all their conversations (their DM, every channel) and a workspace across all its
audiences (each private channel and DM is not a tenant of its own): the keys come from `Conversation.limit_keys`.

Sliding one-minute windows kept in memory: limits protect this process's CPU and the team's LLM quota, and a
restart forgetting them is harmless. The answer to an over-limit request says when to ask again.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 60.0


@dataclass(frozen=True)
class Refusal:
    who: str  # "you" or "this workspace"
    retry_after_s: int

    @property
    def message(self) -> str:
        return (f"Slow down a little: {self.who} asked too many questions in the last minute. "
                f"Try again in {self.retry_after_s} s.")


class RateLimiter:
    def __init__(self, per_user_per_min: int, per_tenant_per_min: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = {"user": per_user_per_min, "tenant": per_tenant_per_min}
        self._clock = clock
        self._events: dict[tuple[str, str], deque[float]] = {}

    def check(self, person: str, space: str) -> Refusal | None:
        """Record a request of `person` in `space`, or refuse it (nothing is recorded then) with the time until a
        slot frees up."""
        now = self._clock()
        keys = [("user", person), ("tenant", space)]
        for kind, key in keys:
            limit = self._limits[kind]
            if limit <= 0:
                continue
            events = self._window(kind, key, now)
            if len(events) >= limit:
                wait = max(1, math.ceil(events[0] + WINDOW_S - now))
                return Refusal("you" if kind == "user" else "this workspace", wait)
        for kind, key in keys:
            if self._limits[kind] > 0:
                self._events[(kind, key)].append(now)
        return None

    def _window(self, kind: str, key: str, now: float) -> deque[float]:
        events = self._events.setdefault((kind, key), deque())
        while events and events[0] <= now - WINDOW_S:
            events.popleft()
        return events
