"""Two-stage retrieval: a Hamming search over 1-bit vectors for `top_k × oversample` candidates, then a rescoring
pass that restores most of float32's ranking quality (see `rescore.py` and the README's measurements)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.quantize import binarize
from rag.registry import Registry
from rag.rescore import asymmetric_similarity, hamming_similarity, precise_similarity
from rag.settings import RescoreMode
from rag.store import Candidate, MilvusStore
from rag.tenants import Scope, scope_tenants


@dataclass
class Hit:
    id: int
    score: float
    doc_id: str
    source: str
    text: str
    meta: dict[str, Any]

    @property
    def location(self) -> str | None:
        return self.meta.get("location")

    @property
    def link(self) -> str | None:
        return self.meta.get("link")


class Retriever:
    def __init__(self, store: MilvusStore, registry: Registry, mode: RescoreMode, oversample: int) -> None:
        self._store = store
        self._registry = registry
        self.mode = mode
        self.oversample = oversample

    async def retrieve(self, query: np.ndarray, scope: Scope, top_k: int,
                       timings: dict[str, float] | None = None) -> list[Hit]:
        """The `top_k` best chunks of the scope's tenants for a unit-length float query; adds search/rescore ms."""
        tenants = scope_tenants(scope)
        timings = timings if timings is not None else {}
        started = time.perf_counter()
        limit = top_k * (self.oversample if self.mode != "none" else 1)
        candidates = await self._store.search(tenants, binarize(query)[0].tobytes(), limit)
        searched = time.perf_counter()
        timings["search"] = (searched - started) * 1000

        # Only chunks of these tenants' committed documents count (see registry.py for why).
        visible = await asyncio.to_thread(self._registry.visible, tenants, [c.id for c in candidates],
                                          self.mode == "precise")
        candidates = [c for c in candidates if c.id in visible]
        scores = await self._scores(query, candidates, visible)
        order = np.argsort(-scores, kind="stable")[:top_k] if len(candidates) else []
        timings["rescore"] = (time.perf_counter() - searched) * 1000
        return [_hit(candidates[i], float(scores[i])) for i in order]

    async def _scores(self, query: np.ndarray, candidates: list[Candidate],
                      visible: dict[int, bytes | None]) -> np.ndarray:
        dim = self._store.dim
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        if self.mode == "precise":
            halves = np.frombuffer(b"".join(visible[c.id] or b"" for c in candidates), dtype=np.float16)
            if halves.size == len(candidates) * dim:
                return precise_similarity(query, halves.reshape(len(candidates), dim))
            # Chunks ingested under another RESCORE mode have no float copy: fall back for this query.
        if self.mode in ("precise", "asymmetric"):
            bits = await self._store.get_bits([c.id for c in candidates])
            packed = np.frombuffer(b"".join(bits[c.id] for c in candidates), dtype=np.uint8)
            return asymmetric_similarity(query, packed.reshape(len(candidates), dim // 8), dim)
        return hamming_similarity(np.array([c.hamming for c in candidates]), dim)


def _hit(candidate: Candidate, score: float) -> Hit:
    return Hit(id=candidate.id, score=score, doc_id=candidate.doc_id, source=candidate.source,
               text=candidate.text, meta=candidate.meta)
