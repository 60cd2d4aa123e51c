"""The keyword index: BM25 over the registry's own tables, so keyword search costs no RAM and commits with the document.

Milvus's BM25 (the first hybrid design) keeps its inverted index in memory: on real text ~1.9 KB per chunk, more than
the float32 vectors 1-bit quantization saves (benchmarks/README.md, "Memory per chunk"), and its analyzers have no
Korean. Here the index is rows of the registry (SQLite by default, PostgreSQL for replicas), on disk:

    keyword_postings (term, tenant, document, postings)   -- primary key (term, tenant, document)

one row per term and document, whose `postings` blob lists the document's chunks holding the term, with the term's
count in the chunk and the chunk's length in terms (12 bytes per chunk). Rows are written in the transaction that
records the pending document (`Registry.begin`) and are read only through a join on `state = 'ready'`, so keyword
search sees a document exactly when dense search does, and forgetting it removes its rows with it.

    keyword_segments (term, tenant, segment, postings)    -- primary key (term, tenant, segment)

A question reads every row of its terms, so many small documents meant many rows (100k chunks in documents of 50:
4.5M rows, 12.2 ms p50 a question, against 2 ms in documents of 5,000). Ready documents' rows are therefore merged, a
tenant's small documents `MERGE_DOCUMENTS` at a time, into one row per term of a *segment*, and small segments into
larger ones (`Registry.merge_keywords`, after a commit). A segment holds ready documents only when made; one of them
that stops being ready (replaced, forgotten) is left out of every search at once by its chunk ids (consecutive per
document), and cut out of the segment's rows when it is removed. Access is not decided here: retrieval keeps only
chunks of the scope's ready documents (`Registry.visible`), whatever an index returns. Measured: 100k chunks in
documents of 50 now 290k rows and 1.05 ms p50; merging is ~35–43 % of writing the index, and one merge holds the
registry's writer up to 1.1 s at 100k chunks, 3.7 s at 1M (`SEGMENT_CHUNKS` bounds it); searches read meanwhile.

**Statistics per audience.** BM25 weighs a term by how rare it is. Lucene, FTS5 and Milvus count over the whole
index, so one tenant's documents would move another tenant's rankings: a side channel (whether a word is common in
documents you may not read). Here the counts come from the searched tenants' ready documents only: document
frequencies from the rows read anyway, the number of chunks and their mean length from the `documents` rows of the
scope (cached per scope for a few seconds; see `STATS_MAX_AGE_S`).

**Cost.** A question reads the rows of its terms in its audience (one per segment, one per document not merged yet)
and scores every posting with numpy; the measurements at 100k and 1M chunks are in benchmarks/README.md, "Keyword
search".
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
CREATE INDEX IF NOT EXISTS keyword_postings_by_document ON keyword_postings (document);
CREATE TABLE IF NOT EXISTS keyword_segments (
    term TEXT NOT NULL,
    tenant TEXT NOT NULL,
    segment {bigint} NOT NULL,
    postings {bytes} NOT NULL,
    PRIMARY KEY (term, tenant, segment)
) {clustered};
CREATE INDEX IF NOT EXISTS keyword_segments_by_segment ON keyword_segments (segment)
"""
POSTING = np.dtype([("chunk", "<i8"), ("tf", "<u2"), ("length", "<u2")])
K1, B = 1.2, 0.75  # Lucene's BM25 defaults
MERGE_DOCUMENTS = 32  # a tenant's ready documents with rows of their own are merged into a segment this many at a time
MERGE_SEGMENTS = 8  # ... and this many of its smaller segments into one
SEGMENT_CHUNKS = 20_000  # segments grow by merging to about this size (a merge holds the writer ~1 s per 20k)
MAX_QUERY_TERMS = 64  # a question longer than this (a pasted log) is searched by its first terms
STATS_MAX_AGE_S = 10.0  # another replica's changes reach this process's statistics after at most this long


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
    leaving: tuple[tuple[int, int], ...] = ()  # chunk id ranges of segments' documents that are no longer ready


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
        leaving = db.execute(
            "SELECT MIN(c.id), MAX(c.id) FROM documents d JOIN chunks c ON c.document = d.id WHERE d.tenant IN "
            f"({marks}) AND d.state != 'ready' AND d.keyword_segment IS NOT NULL GROUP BY d.id", key)
        stats = ScopeStats(int(chunks), float(total) / int(chunks) if chunks else 0.0,
                           tuple((int(first), int(last)) for first, last in leaving))
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
        found = self._postings(db, tenants, wanted, stats.leaving)
        if not found:
            return []
        return _top(np.concatenate([p["chunk"] for p in found.values()]),
                    np.concatenate([_bm25(p, stats) for p in found.values()]), len(found), limit)

    @staticmethod
    def _postings(db: Database, tenants: Sequence[str], words: Sequence[str],
                  leaving: Sequence[tuple[int, int]]) -> dict[str, np.ndarray]:
        """The postings of each term in the tenants' ready documents: the rows of documents with rows of their own,
        through a join on `state = 'ready'`, and the segments' rows without the chunks `leaving` (of their documents
        that are being replaced or forgotten: `Registry.remove` cuts them out of the segment)."""
        words_at, tenants_at = ",".join("?" * len(words)), ",".join("?" * len(tenants))
        rows = db.execute(
            f"SELECT p.term, p.postings FROM keyword_postings p JOIN documents d ON d.id = p.document WHERE p.term "
            f"IN ({words_at}) AND p.tenant IN ({tenants_at}) AND d.state = 'ready' UNION ALL SELECT term, postings "
            f"FROM keyword_segments WHERE term IN ({words_at}) AND tenant IN ({tenants_at}) ORDER BY 1",
            (*words, *tenants, *words, *tenants))
        found = {term: np.frombuffer(blob, dtype=POSTING) for term, blob in merged_rows(rows).items()}
        if leaving:
            found = {term: kept for term, postings in found.items() if len(kept := _outside(postings, leaving))}
        return found

    def document_frequencies(self, db: Database, tenants: Sequence[str], words: Sequence[str]) -> dict[str, int]:
        """How many chunks of the tenants' ready documents hold each term (terms in none are left out)."""
        if not words or not tenants:
            return {}
        leaving = self.stats(db, tenants).leaving
        return {term: len(postings) for term, postings in self._postings(db, tenants, words, leaving).items()}


def merged_rows(rows: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
    """Posting rows (term, postings), several per term, as one blob per term."""
    merged: dict[str, list[bytes]] = {}
    for term, postings in rows:
        merged.setdefault(term, []).append(bytes(postings))
    return {term: b"".join(blobs) for term, blobs in merged.items()}


def without_chunks(postings: bytes, first: int, last: int) -> bytes:
    """A segment row's postings without those of chunks `first`..`last` (one document's: its ids are consecutive)."""
    return _outside(np.frombuffer(postings, dtype=POSTING), [(first, last)]).tobytes()


def _outside(postings: np.ndarray, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """The postings whose chunk is in none of the (first, last) id ranges."""
    keep = np.ones(len(postings), dtype=bool)
    for first, last in ranges:
        keep &= (postings["chunk"] < first) | (postings["chunk"] > last)
    return postings[keep]


def _bm25(postings: np.ndarray, stats: ScopeStats) -> np.ndarray:
    """Each posting's BM25 score for its term (whose document frequency is its number of postings):
    idf · tf · (k1 + 1) / (tf + k1 · (1 − b + b · length / mean length)), computed in place (half the time of
    one temporary array per operation; at 1M chunks a common term has ~100k postings)."""
    df = len(postings)
    idf = math.log(1 + (stats.chunks - df + 0.5) / (df + 0.5))
    tf = postings["tf"].astype(np.float64)
    denominator = postings["length"] * (K1 * B / max(stats.mean_length, 1.0))
    denominator += K1 * (1 - B)
    denominator += tf
    tf *= idf * (K1 + 1)
    tf /= denominator
    return tf


def _top(ids: np.ndarray, scores: np.ndarray, terms: int, limit: int) -> list[tuple[int, float]]:
    """The `limit` best chunks by their summed score over `terms` query terms, whose postings are (`ids`, `scores`):
    a chunk has one posting per term that it holds (a document's rows are either its own or in one segment).

    Chunk ids are dense within a knowledge base, so the sums are a count over their range (`np.bincount`: O(postings),
    where sorting them was most of a question's time at 1M chunks). The chunks worth ranking are then picked at the
    postings, not over the whole range: each posting reads its chunk's total, and since a chunk has at most `terms`
    postings, the best `limit × terms` of them hold every chunk scoring at or above them — at least `limit` chunks.
    Scanning the range instead (every chunk id, found or not) was about half of a question's time at 1M chunks for
    the questions of benchmarks/e2e.py (with the in-place BM25: 1.6 → 1.0 ms p50, the same results). One term needs
    no sums at all."""
    if terms == 1:
        return _best(ids, scores, limit)
    low, high = int(ids.min()), int(ids.max())
    if high - low >= 4 * len(ids) + 1_000_000:  # ids far apart (a scope of old and new documents): sort instead
        chunk_ids, inverse = np.unique(ids, return_inverse=True)
        return _best(chunk_ids, np.bincount(inverse, weights=scores), limit)
    offsets = ids - low
    total = np.bincount(offsets, weights=scores)
    if len(ids) > len(total) // 4:  # postings about as many as chunk ids: scanning the range is cheaper
        present = np.flatnonzero(total > 0)  # every posting scores > 0 (idf > 0, tf ≥ 1)
        return _best(present + low, total[present], limit)
    at_posting = total[offsets]
    keep = limit * terms
    if len(at_posting) > keep:
        ids = ids[at_posting >= np.partition(at_posting, len(at_posting) - keep)[len(at_posting) - keep]]
    chosen = np.unique(ids)
    return _best(chosen, total[chosen - low], limit)


def _best(chunk_ids: np.ndarray, total: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """The `limit` best (chunk id, score), best first; ties go to the older chunk. The `limit`-th best score is found
    by a partition, then only the chunks at or above it are sorted."""
    if len(total) > limit:
        chosen = np.flatnonzero(total >= np.partition(total, len(total) - limit)[len(total) - limit])
    else:
        chosen = np.arange(len(total))
    best = chosen[np.lexsort((chunk_ids[chosen], -total[chosen]))][:limit]
    return [(int(chunk_ids[i]), float(total[i])) for i in best]
