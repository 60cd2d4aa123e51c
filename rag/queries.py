"""Questions in, hits out: embedding and retrieval of questions, micro-batched (`batching.py`) under admission control.

Why: one question at a time, the bot stopped scaling at ~35 asks/s with 1M chunks on 2 cores, because each
question ran its own forward pass and its own Milvus search (`benchmarks/results/e2e-dense.json`). Batched, questions
that arrive together are embedded in one pass and searched in one request per scope, then rescored together; the
two stages overlap (batch N is searched while batch N+1 is embedded). Measured side by side in one run (1M chunks,
2 cores): 30.8 → 75.1 asks/s at concurrency 50, p99 2.3 → 0.93 s, the same 40 ms alone (`benchmarks/README.md`,
"Many askers at once"); what limits it now is CPU per question: ~9 ms of Milvus Lite's exact scan, ~5 ms of encoder.

Tenants stay apart: a search batch is split by scope (the exact set of tenants), and each group gets one request with
that scope's filter and one registry visibility check, exactly as a lone question would — never one filter for
several scopes.

Admission control: at most `ASK_QUEUE_LIMIT` questions are in retrieval at once; one more is refused at once with a
`BusyError` that says to try again, instead of queueing without bound while every answer gets later.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rag.batching import BatchInfo, MicroBatcher
from rag.embed import Embedder, as_queries
from rag.errors import BusyError
from rag.retrieve import Hit, Retriever
from rag.settings import RagSettings


@dataclass
class _Search:
    query: np.ndarray
    tenants: tuple[str, ...]
    top_k: int
    text: str
    timings: dict[str, float]  # the asker's: its group's search and rescore times go here


class QueryPipeline:
    def __init__(self, embedder: Embedder, retriever: Retriever, settings: RagSettings) -> None:
        self._embedder = embedder
        self._retriever = retriever
        self.batched = settings.ask_batching
        wait = settings.ask_batch_wait_ms / 1000
        self._embeds: MicroBatcher[str, np.ndarray] = MicroBatcher(self._embed_batch, settings.ask_batch_max, wait)
        self._searches: MicroBatcher[_Search, list[Hit]] = MicroBatcher(self._search_batch, settings.ask_batch_max,
                                                                         wait)
        self.queue_limit = settings.ask_queue_limit
        self.in_flight = 0
        self.scope_groups = 0

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold one of `ASK_QUEUE_LIMIT` places while a question is embedded and retrieved."""
        if self.in_flight >= self.queue_limit:
            raise BusyError(f"bitrag is answering {self.in_flight} questions right now and cannot take more "
                            "(ASK_QUEUE_LIMIT). Ask again in a few seconds.")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def embed(self, text: str, timings: dict[str, float]) -> np.ndarray:
        if self.batched:
            vector, info = await self._embeds.submit(text)
            timings["embed"] = info.run_ms
            _add_wait(timings, info)
            return vector
        started = time.perf_counter()
        vector = (await self._embedder.embed(as_queries(self._embedder, [text])))[0]
        timings["embed"] = (time.perf_counter() - started) * 1000
        return vector

    async def retrieve(self, query: np.ndarray, tenants: tuple[str, ...], top_k: int, text: str,
                       timings: dict[str, float]) -> list[Hit]:
        if not self.batched:
            return await self._retriever.retrieve(query, tenants, top_k, timings, text)
        hits, info = await self._searches.submit(_Search(query, tenants, top_k, text, timings))
        _add_wait(timings, info)
        return hits

    def configure(self, batched: bool, wait_ms: float) -> None:
        """Switch batching on or off and set its wait (a benchmark compares them in one run on one service)."""
        self.batched = batched
        self._embeds.max_wait_s = self._searches.max_wait_s = wait_ms / 1000

    def batch_counts(self) -> tuple[int, int, int]:
        """Search batches run so far, the questions they held, and the scope groups they were split into."""
        return self._searches.batches, self._searches.items, self.scope_groups

    async def aclose(self) -> None:
        await self._embeds.aclose()
        await self._searches.aclose()

    async def _embed_batch(self, texts: list[str]) -> list[np.ndarray]:
        return list(await self._embedder.embed(as_queries(self._embedder, texts)))

    async def _search_batch(self, searches: list[_Search]) -> list[list[Hit]]:
        """One retrieval per (scope, top_k) group; each search gets its group's stage times."""
        groups: dict[tuple[tuple[str, ...], int], list[int]] = defaultdict(list)
        for i, search in enumerate(searches):
            groups[(search.tenants, search.top_k)].append(i)
        results: list[list[Hit]] = [[] for _ in searches]
        self.scope_groups += len(groups)
        for (tenants, top_k), members in groups.items():
            timings: dict[str, float] = {}
            found = await self._retriever.retrieve_many(np.stack([searches[i].query for i in members]), tenants,
                                                        top_k, timings, [searches[i].text for i in members])
            for i, hits in zip(members, found, strict=True):
                results[i] = hits
                searches[i].timings.update(timings)
        return results


def _add_wait(timings: dict[str, float], info: BatchInfo) -> None:
    timings["queue"] = timings.get("queue", 0.0) + info.waited_ms
