"""The keyword index: BM25 over the registry's own tables, so keyword search costs no RAM and commits with the document.

Milvus's BM25 (the first hybrid design) keeps its inverted index in memory: on real text ~1.9 KB per chunk, more than
the float32 vectors 1-bit quantization saves (benchmarks/README.md, "Memory per chunk"), and its analyzers have no
Korean. Here the index is rows of the registry (SQLite by default, PostgreSQL for replicas), on disk:

    keyword_postings (term, tenant, document, postings)   -- primary key (term, tenant, document)

one row per term and document, whose `postings` blob lists the document's chunks holding the term, with the term's
count in the chunk and the chunk's length in terms (12 bytes per chunk). Rows are written in the transaction that
records the pending document (`Registry.begin`) and are read only through a join on `state = 'ready'`, so keyword
search sees a document exactly when dense search does, and forgetting it removes its rows with it.

**Statistics per audience.** BM25 weighs a term by how rare it is. Lucene, FTS5 and Milvus count over the whole
index, so one tenant's documents would move another tenant's rankings: a side channel (whether a word is common in
documents you may not read). Here the counts come from the searched tenants' ready documents only: document
frequencies from the rows read anyway, the number of chunks and their mean length from the `documents` rows of the
scope (cached per scope for a few seconds; see `STATS_MAX_AGE_S`).

**Cost.** A question reads one row per (term, document) of its audience that holds the term, and scores them with
numpy; the measurements at 100k and 1M chunks are in benchmarks/README.md, "Keyword search".
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

import numpy as np

from rag.analyze import INDEX_KOREAN, KoreanMode, question_terms, terms
from rag.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS keyword_postings (
    term TEXT NOT NULL,
    tenant TEXT NOT NULL,
    document {bigint} NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    postings {bytes} NOT NULL,
    PRIMARY KEY (term, tenant, document)
) {clustered};
CREATE INDEX IF NOT EXISTS keyword_postings_by_document ON keyword_postings (document)
"""
POSTING = np.dtype([("chunk", "<i8"), ("tf", "<u2"), ("length", "<u2")])
K1, B = 1.2, 0.75  # Lucene's BM25 defaults
MAX_QUERY_TERMS = 64  # a question longer than this (a pasted log) is searched by its first terms
STATS_MAX_AGE_S = 10.0  # another replica's new documents change this process's statistics after at most this long


@dataclass(frozen=True)
class AnalyzedChunks:
    """A document's keyword postings before its chunk ids exist: term → [(chunk position, tf, length)]."""

    postings: dict[str, list[tuple[int, int, int]]]
    total_terms: int


def analyze_chunks(texts: Sequence[str], korean: KoreanMode = INDEX_KOREAN) -> AnalyzedChunks:
    """Analyze a document's chunk texts (CPU work: done before the registry transaction, not inside it)."""
    postings: dict[str, list[tuple[int, int, int]]] = {}
    total = 0
    for position, text in enumerate(texts):
        counts = Counter(terms(text, korean))
        length = min(sum(counts.values()), 65_535)
        total += length
        for term, tf in counts.items():
            postings.setdefault(term, []).append((position, min(tf, 65_535), length))
    return AnalyzedChunks(postings, total)


def posting_rows(analyzed: AnalyzedChunks, tenant: str, document: int,
                 ids: Sequence[int]) -> list[tuple[str, str, int, bytes]]:
    """The `keyword_postings` rows of a document whose chunks got `ids` (in position order)."""
    rows = []
    for term, entries in analyzed.postings.items():
        blob = np.array([(ids[p], tf, length) for p, tf, length in entries], dtype=POSTING).tobytes()
        rows.append((term, tenant, document, blob))
    return rows


@dataclass(frozen=True)
class ScopeStats:
    chunks: int  # chunks of the scope's ready documents that are in the keyword index
    mean_length: float


class KeywordIndex:
    """BM25 search over `keyword_postings` (the registry calls it with its database)."""

    def __init__(self, korean: KoreanMode = INDEX_KOREAN) -> None:
        self.korean = korean
        self._stats: dict[tuple[str, ...], tuple[float, int, ScopeStats]] = {}
        self._generation = 0  # bumped by every change this process makes to ready documents
        self._lock = threading.Lock()

    def changed(self) -> None:
        with self._lock:
            self._generation += 1

    def stats(self, db: Database, tenants: Sequence[str]) -> ScopeStats:
        key = tuple(sorted(tenants))
        now = time.monotonic()
        with self._lock:
            cached = self._stats.get(key)
            generation = self._generation
        if cached is not None and cached[1] == generation and now - cached[0] < STATS_MAX_AGE_S:
            return cached[2]
        marks = ",".join("?" * len(key))
        chunks, total = db.execute(
            f"SELECT COALESCE(SUM(chunks), 0), COALESCE(SUM(keyword_terms), 0) FROM documents WHERE tenant IN "
            f"({marks}) AND state = 'ready' AND keyword_terms IS NOT NULL", key)[0]
        stats = ScopeStats(int(chunks), float(total) / int(chunks) if chunks else 0.0)
        with self._lock:
            if len(self._stats) > 10_000:
                self._stats.clear()
            self._stats[key] = (now, generation, stats)
        return stats

    def search(self, db: Database, tenants: Sequence[str], text: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of the `limit` best chunks of the tenants' ready documents, best first."""
        wanted = list(question_terms(text, self.korean))[:MAX_QUERY_TERMS]
        if not wanted or not tenants:
            return []
        stats = self.stats(db, tenants)
        if not stats.chunks:
            return []
        found = {term: np.frombuffer(b"".join(blobs), dtype=POSTING)
                 for term, blobs in self._postings(db, tenants, wanted).items()}
        if not found:
            return []
        chunk_ids, total = _sum_by_chunk(np.concatenate([p["chunk"] for p in found.values()]),
                                         np.concatenate([_bm25(p, stats) for p in found.values()]))
        return _best(chunk_ids, total, limit)

    @staticmethod
    def _postings(db: Database, tenants: Sequence[str], words: Sequence[str]) -> dict[str, list[bytes]]:
        """The posting blobs of each term in the tenants' ready documents (rows come in primary-key order: by term)."""
        rows = db.execute(
            f"SELECT p.term, p.postings FROM keyword_postings p JOIN documents d ON d.id = p.document WHERE p.term "
            f"IN ({','.join('?' * len(words))}) AND p.tenant IN ({','.join('?' * len(tenants))}) AND "
            "d.state = 'ready' ORDER BY p.term", (*words, *tenants))
        return {term: [bytes(r[1]) for r in group] for term, group in groupby(rows, key=itemgetter(0))}

    def document_frequencies(self, db: Database, tenants: Sequence[str], words: Sequence[str]) -> dict[str, int]:
        """How many chunks of the tenants' ready documents hold each term (terms in none are left out)."""
        if not words or not tenants:
            return {}
        return {term: sum(len(b) for b in blobs) // POSTING.itemsize
                for term, blobs in self._postings(db, tenants, words).items()}


def _bm25(postings: np.ndarray, stats: ScopeStats) -> np.ndarray:
    """Each posting's BM25 score for its term (whose document frequency is its number of postings)."""
    df = len(postings)
    idf = math.log(1 + (stats.chunks - df + 0.5) / (df + 0.5))
    tf = postings["tf"].astype(np.float64)
    norm = K1 * (1 - B + B * postings["length"] / max(stats.mean_length, 1.0))
    return idf * tf * (K1 + 1) / (tf + norm)


def _sum_by_chunk(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each chunk's summed score over the query terms, by chunk id. Chunk ids are dense within a knowledge base, so
    a count over their range is O(postings), where sorting them (`np.unique`) was most of a question's time at 1M
    chunks; and the chunks found are picked out with a comparison first (`flatnonzero` of the float sums themselves
    took 7.5 ms at 1M)."""
    low, high = int(ids.min()), int(ids.max())
    if high - low < 4 * len(ids) + 1_000_000:
        total = np.bincount(ids - low, weights=scores, minlength=high - low + 1)
        present = np.flatnonzero(total > 0)  # every posting scores > 0 (idf > 0, tf ≥ 1)
        return present + low, total[present]
    chunk_ids, inverse = np.unique(ids, return_inverse=True)
    return chunk_ids, np.bincount(inverse, weights=scores)


def _best(chunk_ids: np.ndarray, total: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """The `limit` best (chunk id, score), best first; ties go to the older chunk. The `limit`-th best score is found
    by a partition, then only the chunks at or above it are sorted."""
    if len(total) > limit:
        chosen = np.flatnonzero(total >= np.partition(total, len(total) - limit)[len(total) - limit])
    else:
        chosen = np.arange(len(total))
    best = chosen[np.argsort(-total[chosen], kind="stable")][:limit]
    return [(int(chunk_ids[i]), float(total[i])) for i in best]
