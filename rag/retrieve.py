"""Two-stage retrieval: a Hamming search over 1-bit vectors for `top_k × oversample` candidates, then a rescoring
pass that restores most of float32's ranking quality (see `rescore.py` and the README's measurements).

Hybrid retrieval (`RETRIEVAL=hybrid` on a collection with BM25) runs a keyword search for as many candidates at the
same time; keyword-only candidates are rescored like the others, and the order comes from `fusion.fuse`. A hit's
`score` stays the dense similarity, so `MIN_SIMILARITY` means the same in both modes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.fusion import fuse
from rag.quantize import binarize, hamming
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
    def __init__(self, store: MilvusStore, registry: Registry, mode: RescoreMode, oversample: int,
                 dense_weight: float = 1.0) -> None:
        self._store = store
        self._registry = registry
        self.mode = mode
        self.oversample = oversample
        self.dense_weight = dense_weight  # 1.0: dense ranking only

    @property
    def hybrid(self) -> bool:
        return self._store.keywords and self.dense_weight < 1.0

    async def retrieve(self, query: np.ndarray, scope: Scope, top_k: int,
                       timings: dict[str, float] | None = None, text: str = "") -> list[Hit]:
        """The `top_k` best chunks of the scope's tenants for a unit-length float query (and, in hybrid mode, its
        `text`); adds search/rescore ms to `timings`."""
        tenants = scope_tenants(scope)
        timings = timings if timings is not None else {}
        started = time.perf_counter()
        hybrid = self.hybrid and bool(text.strip())
        limit = top_k * (self.oversample if self.mode != "none" or hybrid else 1)
        searches = [self._store.search(tenants, binarize(query)[0].tobytes(), limit)]
        if hybrid:
            searches.append(self._store.keyword_search(tenants, text, limit))
        found = await asyncio.gather(*searches)
        candidates = _merge(found[0], found[1] if hybrid else [])
        searched = time.perf_counter()
        timings["search"] = (searched - started) * 1000

        # Only chunks of these tenants' committed documents count (see registry.py for why).
        visible = await asyncio.to_thread(self._registry.visible, tenants, [c.id for c in candidates],
                                          self.mode == "precise")
        candidates = [c for c in candidates if c.id in visible]
        scores = await self._scores(query, candidates, visible)
        ranking = fuse(scores, np.array([c.keyword for c in candidates]), self.dense_weight) if hybrid else scores
        order = np.argsort(-ranking, kind="stable")[:top_k] if len(candidates) else []
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
        missing = [c.id for c in candidates if c.hamming is None]  # keyword-only candidates
        if self.mode in ("precise", "asymmetric") or missing:
            wanted = [c.id for c in candidates] if self.mode != "none" else missing
            bits = await self._store.get_bits(wanted)
            packed = np.frombuffer(b"".join(bits[i] for i in wanted), dtype=np.uint8).reshape(len(wanted), dim // 8)
            if self.mode != "none":
                return asymmetric_similarity(query, packed, dim)
            distances = dict(zip(missing, hamming(binarize(query)[0], packed), strict=True))
            return hamming_similarity(np.array([distances.get(c.id, c.hamming) for c in candidates]), dim)
        return hamming_similarity(np.array([c.hamming for c in candidates]), dim)


def _merge(dense: list[Candidate], keyword: list[Candidate]) -> list[Candidate]:
    """The dense candidates, each with its BM25 score where keyword search found it too, then the keyword-only ones."""
    scores = {c.id: c.keyword for c in keyword}
    for candidate in dense:
        candidate.keyword = scores.get(candidate.id, 0.0)
    seen = {c.id for c in dense}
    return dense + [c for c in keyword if c.id not in seen]


def _hit(candidate: Candidate, score: float) -> Hit:
    return Hit(id=candidate.id, score=score, doc_id=candidate.doc_id, source=candidate.source,
               text=candidate.text, meta=candidate.meta)
