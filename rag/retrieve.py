"""Two-stage retrieval: a Hamming search over 1-bit vectors for `top_k × oversample` candidates, then a rescoring
pass that restores most of float32's ranking quality (see `rescore.py` and the README's measurements).

Hybrid retrieval (`RETRIEVAL=hybrid`) runs a keyword search for as many candidates at the same time — BM25 over the
registry's keyword index (`keywords.py`), or Milvus's own BM25 with `KEYWORD_INDEX=milvus` on a collection that has
it; keyword-only candidates are rescored like the others, and the order comes from `fusion.fuse`. A hit's `score`
stays the dense similarity, so `MIN_SIMILARITY` means the same in both modes.

A question in a script the embedding model does not cover (Korean for the English default model: its vectors of
Korean text are near noise) is ranked by keywords alone, in either mode: fused, the noise would drown the one signal
that reads the question (`benchmarks/korean.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rag.analyze import model_covers, script_of
from rag.fusion import fuse
from rag.quantize import binarize, hamming
from rag.registry import Registry
from rag.rescore import asymmetric_similarity, hamming_similarity, precise_similarity
from rag.settings import KeywordIndexChoice, RescoreMode
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
                 dense_weight: float = 1.0, keyword_index: KeywordIndexChoice = "registry",
                 language_fallback: bool = True) -> None:
        self._store = store
        self._registry = registry
        self.mode = mode
        self.oversample = oversample
        self.dense_weight = dense_weight  # 1.0: dense ranking only
        self.keyword_index = keyword_index
        self.language_fallback = language_fallback  # False only to measure what the fallback is worth

    @property
    def keywords_searchable(self) -> bool:
        """Whether the configured keyword index exists: the registry's always, Milvus's where the collection has it."""
        return self.keyword_index == "registry" or self._store.keywords

    @property
    def hybrid(self) -> bool:
        return self.dense_weight < 1.0 and self.keywords_searchable

    @property
    def indexes_every_document(self) -> bool:
        """Whether every document belongs in the registry's keyword index (hybrid retrieval over it); otherwise only
        those in a script the model does not cover do (`RagService.needs_keywords`)."""
        return self.hybrid and self.keyword_index == "registry"

    def weight_for(self, text: str) -> float:
        """The dense share of the fused score for a question: 0 (keywords alone) when the model does not cover its
        script, else `dense_weight` (1.0 in dense mode)."""
        fallback = self.language_fallback and self.keyword_index == "registry"
        if fallback and text.strip() and not model_covers(self._store.model_id, script_of(text)):
            return 0.0
        return self.dense_weight

    async def keyword_search_many(self, tenants: Sequence[str], texts: Sequence[str], limit: int,
                                  fields: bool) -> list[list[Candidate]]:
        """The keyword candidates of each text (none for an empty one), from the configured keyword index."""
        if self.keyword_index == "milvus":
            return await self._store.keyword_search_many(tenants, texts, limit, fields)

        def search() -> list[list[Candidate]]:
            return [[Candidate(id=cid, hamming=None, keyword=score)
                     for cid, score in (self._registry.keyword_search(tenants, text, limit) if text.strip() else [])]
                    for text in texts]

        return await asyncio.to_thread(search)

    async def retrieve(self, query: np.ndarray, scope: Scope, top_k: int,
                       timings: dict[str, float] | None = None, text: str = "") -> list[Hit]:
        """The `top_k` best chunks of the scope's tenants for a unit-length float query (and, in hybrid mode, its
        `text`); adds search/rescore ms to `timings`."""
        return (await self.retrieve_many(query[None, :], scope, top_k, timings, [text]))[0]

    async def retrieve_many(self, queries: np.ndarray, scope: Scope, top_k: int,
                            timings: dict[str, float] | None = None, texts: Sequence[str] = ()) -> list[list[Hit]]:
        """`retrieve` for several questions of one scope at once: one Hamming search request (and one keyword
        search) for all of them, one registry lookup, one fetch of bits (when needed); each question is then ranked
        alone."""
        tenants = scope_tenants(scope)
        timings = timings if timings is not None else {}
        texts = list(texts) or [""] * len(queries)
        started = time.perf_counter()
        weights = [self.weight_for(t) for t in texts]
        hybrid = any(w < 1.0 for w in weights) and self.keywords_searchable
        limit = top_k * (self.oversample if self.mode != "none" or hybrid else 1)
        codes = binarize(queries)
        # The text of the chunks kept is read from the registry by primary key. A collection that still holds text
        # (made before the registry held it) gives a lone question its candidates' text with the search instead;
        # a batch gets ids only (decoding ~1 KB for each of `limit` candidates held the GIL the loop needs).
        inline = len(queries) == 1 and self._store.holds_text
        searches = [self._store.search_many(tenants, [code.tobytes() for code in codes], limit, inline)]
        if hybrid:
            searches.append(self.keyword_search_many(tenants, [t if w < 1.0 else "" for t, w in
                                                               zip(texts, weights, strict=True)], limit, inline))
        found = await asyncio.gather(*searches)
        lists = [_merge(dense, found[1][i] if hybrid else []) for i, dense in enumerate(found[0])]
        searched = time.perf_counter()
        timings["search"] = (searched - started) * 1000

        # Only chunks of these tenants' committed documents count (see registry.py for why).
        wanted = list({c.id for candidates in lists for c in candidates})
        visible = await asyncio.to_thread(self._registry.visible, tenants, wanted, self.mode == "precise")
        lists = [[c for c in candidates if c.id in visible] for candidates in lists]
        halves = [self._precise(candidates, visible) for candidates in lists]
        wanted_bits = {i for candidates, h in zip(lists, halves, strict=True) if h is None
                       for i in self._bits_wanted(candidates)}
        # The codes are in the registry; a chunk recorded before it held them is read from Milvus (Lite's `get`
        # scans every row: ~175 ms per question at 10M chunks).
        bits = {i: code for i in wanted_bits if (code := visible[i][1]) is not None}
        bits.update(await self._store.get_bits([i for i in wanted_bits if i not in bits]))
        if unscorable := wanted_bits - bits.keys():
            # Recorded before the registry kept codes and absent from this collection (a new MILVUS_URI before
            # `bitrag reindex`): keyword search found it, nothing can rescore it, so it is left out.
            lists = [candidates if h is not None else [c for c in candidates if c.id not in unscorable]
                     for candidates, h in zip(lists, halves, strict=True)]
        chosen: list[list[tuple[Candidate, float]]] = []
        for query, candidates, h, weight in zip(queries, lists, halves, weights, strict=True):
            scores = self._scores(query, candidates, h, bits)
            ranking = fuse(scores, np.array([c.keyword for c in candidates]), weight) if hybrid and weight < 1.0 \
                else scores
            order = np.argsort(-ranking, kind="stable")[:top_k] if len(candidates) else []
            chosen.append([(candidates[i], float(scores[i])) for i in order])
        missing = [c.id for hits in chosen for c, _ in hits if not c.doc_id]
        if missing:
            chunks = await asyncio.to_thread(self._registry.chunks, tenants, missing)
            if len(chunks) < len(set(missing)):  # recorded before the registry held text: in the collection
                chunks.update(await self._store.fetch(tenants, [i for i in missing if i not in chunks]))
            chosen = [[(replace(c, **chunks[c.id]) if not c.doc_id else c, score) for c, score in hits
                       if c.doc_id or c.id in chunks] for hits in chosen]
        timings["rescore"] = (time.perf_counter() - searched) * 1000
        return [[_hit(c, score) for c, score in hits] for hits in chosen]

    def _precise(self, candidates: list[Candidate],
                 visible: dict[int, tuple[bytes | None, bytes | None]]) -> np.ndarray | None:
        """The candidates' float16 copies (RESCORE=precise), or None when one has none (ingested under another
        RESCORE mode: this question falls back to asymmetric rescoring)."""
        if self.mode != "precise":
            return None
        dim = self._store.dim
        halves = np.frombuffer(b"".join(visible[c.id][0] or b"" for c in candidates), dtype=np.float16)
        return halves.reshape(len(candidates), dim) if halves.size == len(candidates) * dim else None

    def _bits_wanted(self, candidates: list[Candidate]) -> list[int]:
        """The candidates whose sign bits `_scores` reads without float copies: all of them when rescoring, else the
        keyword-only ones (which have no Hamming distance yet)."""
        if self.mode != "none":
            return [c.id for c in candidates]
        return [c.id for c in candidates if c.hamming is None]

    def _scores(self, query: np.ndarray, candidates: list[Candidate], halves: np.ndarray | None,
                bits: dict[int, bytes]) -> np.ndarray:
        dim = self._store.dim
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        if halves is not None:
            return precise_similarity(query, halves)
        wanted = self._bits_wanted(candidates)
        if not wanted:
            return hamming_similarity(np.array([c.hamming for c in candidates]), dim)
        packed = np.frombuffer(b"".join(bits[i] for i in wanted), dtype=np.uint8).reshape(len(wanted), dim // 8)
        if self.mode != "none":
            return asymmetric_similarity(query, packed, dim)
        distances = dict(zip(wanted, hamming(binarize(query)[0], packed), strict=True))
        return hamming_similarity(np.array([distances.get(c.id, c.hamming) for c in candidates]), dim)


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
