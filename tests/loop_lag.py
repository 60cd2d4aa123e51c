"""How late the event loop wakes a sleeping task: any blocking call on the loop shows up here (the load test and
`benchmarks/e2e.py` both probe with it)."""

from __future__ import annotations

import asyncio
import time


async def probe_loop_lag(stop: asyncio.Event, lags: list[float], interval: float = 0.005) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(interval)
        lags.append((time.perf_counter() - started - interval) * 1000)
