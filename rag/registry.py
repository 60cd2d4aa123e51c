"""The document registry: which documents exist per tenant, their state, their chunks (ids, text, metadata, 1-bit
codes) and the float16 copies of chunk vectors used by precise rescoring.

It is what makes ingestion atomic per document. Milvus has no multi-row transactions, so a document's chunks
are inserted while its registry row is `pending`, and only the flip to `ready` (one transaction, which
also marks any previous version `deleting`) makes them visible: retrieval keeps only candidates whose document
is `ready`. After a crash, `abandoned()` lists what to clean up. SQLite (WAL) is the embedded default;
PostgreSQL (`REGISTRY_URL=postgresql://…`) lets several replicas share one registry.

Each document also records its origin (owner, platform, conversation and its kind), and every add, replace, share
and forget is appended to the `audit` table. Registries written before origins existed are migrated in place: the
columns are added and old rows keep NULL, read as "origin unknown".

The keyword index (`keywords.py`) is registry rows too, written in the transaction that records the document; a
document's `keyword_terms` is NULL while it is not in it, and `keyword_segment` names the segment its rows were
merged into (`merge_keywords`).

So is each chunk's text and metadata (`chunks.text`, `chunks.meta`), on disk: Milvus Lite keeps every scalar field
of a collection in RAM, and at 1M real-text chunks the text and metadata were 1,441 of the 1,651 bytes per chunk
that the whole process held — 1-bit vectors saved 32x on 48 bytes of them. Milvus now holds the 1-bit codes with
their ids and tenants (210 B per chunk for the whole process, against float32's 3,131: benchmarks/README.md, "Memory
per chunk"), and an answer reads the text of the few chunks it keeps here by primary key. Chunks recorded before
(text NULL) are read from a collection that still holds text, until `bitrag reindex` moves it here (`reindex.py`).
The 1-bit codes are kept here too (48 B per chunk at 384-d): asymmetric rescoring reads them with the visibility
check, where Milvus Lite's `get` scans every row (measured at 10M chunks: ~175 ms of a 293 ms question). With the
codes, tenants and text here, the Milvus collection is derived from the registry: `bitrag reindex` rebuilds it from
these rows alone (`chunk_rows`), e.g. on a new `MILVUS_URI`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag import keywords
from rag.database import Database, Executor
from rag.errors import DocumentNotFoundError
from rag.keywords import AnalyzedChunks, KeywordIndex
from rag.models import AuditEntry, DocumentInfo, Origin

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id {id},
    tenant TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    link TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'deleting')),
    chunks INTEGER NOT NULL,
    created_at {float} NOT NULL,
    owner TEXT, origin_platform TEXT, origin_conversation TEXT, origin_kind TEXT,
    UNIQUE (tenant, doc_id)
);
CREATE INDEX IF NOT EXISTS documents_by_key ON documents (tenant, source_key);
CREATE TABLE IF NOT EXISTS chunks (
    id {bigint} PRIMARY KEY,         -- the Milvus primary key of the chunk
    document {bigint} NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    vector {bytes},                  -- float16 copy for precise rescoring, NULL in other modes
    bits {bytes},                    -- the 1-bit code, as in Milvus (asymmetric rescoring reads it here)
    text TEXT,                       -- the chunk's text, NULL when recorded before the registry held it
    meta TEXT                        -- its metadata (location, link, ...) as JSON
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value {bigint} NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id {id},
    at {float} NOT NULL,
    actor TEXT NOT NULL,
    platform TEXT NOT NULL,
    action TEXT NOT NULL,
    audience TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    place TEXT,
    detail TEXT
)
"""
ORIGIN_COLUMNS = {"owner": "TEXT", "origin_platform": "TEXT", "origin_conversation": "TEXT", "origin_kind": "TEXT"}
COLUMNS = "id, tenant, doc_id, source, source_key, link, state, chunks, created_at, " + ", ".join(ORIGIN_COLUMNS)
AUDIT_COLUMNS = "at, actor, platform, action, audience, doc_id, source, place, detail"
ChunkText = tuple[str, dict[str, Any]]  # a chunk's text and metadata


def _text(value: str) -> str:
    return value.replace("\x00", "")  # PostgreSQL's TEXT cannot hold NUL (some PDFs' text has them)


def _up_to(sized: Sequence[tuple], total: int) -> list[int]:
    """The ids of the first (id, size) rows whose sizes add up to at most `total` (at least two)."""
    chosen, size = [], 0
    for key, count in sized:
        if len(chosen) >= 2 and size + count > total:
            break
        chosen.append(int(key))
        size += int(count)
    return chosen


def _cut_from_segment(db: Executor, document: DocumentRow, segment: int) -> None:
    """Take a document's postings out of the keyword segment they were merged into (its chunk ids are consecutive)."""
    first, last = db.execute("SELECT MIN(id), MAX(id) FROM chunks WHERE document = ?", (document.pk,))[0]
    if first is None:
        return
    for term, postings in db.execute("SELECT term, postings FROM keyword_segments WHERE tenant = ? AND segment = ?",
                                     (document.tenant, segment)):
        kept = keywords.without_chunks(postings, int(first), int(last))
        if not kept:
            db.execute("DELETE FROM keyword_segments WHERE term = ? AND tenant = ? AND segment = ?",
                       (term, document.tenant, segment))
        elif len(kept) < len(postings):
            db.execute("UPDATE keyword_segments SET postings = ? WHERE term = ? AND tenant = ? AND segment = ?",
                       (kept, term, document.tenant, segment))


def _chunk(doc_id: str, source: str, text: str, meta: str | None) -> dict[str, Any]:
    """A chunk as answers read it (the shape of `MilvusStore.fetch`)."""
    return {"doc_id": doc_id, "source": source, "text": text, "meta": json.loads(meta) if meta else {}}


@dataclass(frozen=True)
class DocumentRow:
    pk: int
    tenant: str
    doc_id: str
    source: str
    source_key: str
    link: str | None
    state: str
    chunks: int
    created_at: float
    owner: str | None = None
    origin_platform: str | None = None
    origin_conversation: str | None = None
    origin_kind: str | None = None

    @property
    def origin(self) -> Origin | None:
        if self.owner is None:
            return None
        return Origin(self.owner, self.origin_platform or "", self.origin_conversation, self.origin_kind or "")

    def info(self) -> DocumentInfo:
        return DocumentInfo(doc_id=self.doc_id, source=self.source, chunks=self.chunks,
                            created_at=self.created_at, key=self.source_key, link=self.link, audience=self.tenant,
                            origin=self.origin)


class Registry:
    """Thread-safe; call it from `asyncio.to_thread`. `url` is `sqlite:///…` (one process or host) or
    `postgresql://…` (several replicas share it)."""

    def __init__(self, url: str) -> None:
        self._db = Database(url)
        self._db.create(SCHEMA)
        self._db.add_columns("documents", ORIGIN_COLUMNS)  # registries written before origins were recorded
        # Registries written before the keyword index: NULL = "not in the keyword index yet" (`bitrag reindex`).
        self._db.add_columns("documents", {"keyword_terms": "BIGINT"})
        # Registries from before they held chunk text and codes: NULL = read from the collection.
        self._db.add_columns("chunks", {"text": "TEXT", "meta": "TEXT", "bits": "{bytes}"})
        self._db.create(keywords.SCHEMA)
        # The keyword segment a document's postings were merged into; NULL: rows of its own (`merge_keywords`).
        self._db.add_columns("documents", {"keyword_segment": "BIGINT"})
        self.keywords = KeywordIndex()

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[DocumentRow]:
        return [DocumentRow(*row) for row in self._db.execute(f"SELECT {COLUMNS} FROM documents {sql}", params)]

    # --- ingestion -------------------------------------------------------------------------------------------

    def find(self, tenant: str, doc_id: str) -> DocumentRow | None:
        rows = self._rows("WHERE tenant = ? AND doc_id = ?", (tenant, doc_id))
        return rows[0] if rows else None

    def current_version(self, tenant: str, source_key: str) -> DocumentRow | None:
        rows = self._rows("WHERE tenant = ? AND source_key = ? AND state = 'ready'", (tenant, source_key))
        return rows[0] if rows else None

    def begin(self, tenant: str, doc_id: str, source: str, source_key: str, link: str | None,
              n_chunks: int, vectors: np.ndarray | None, origin: Origin | None = None,
              analyzed: AnalyzedChunks | None = None, texts: Sequence[ChunkText] | None = None,
              bits: np.ndarray | None = None) -> tuple[DocumentRow, list[int]]:
        """Record a `pending` document and reserve ids for its chunks (never reused), with their text and metadata
        (`texts`, in chunk order), 1-bit codes (`bits`, packed rows) and keyword postings (`analyzed`, from
        `keywords.analyze_chunks` of the chunk texts) in the same transaction."""
        now = time.time()
        where = (origin.owner, origin.platform, origin.conversation, origin.kind) if origin else (None,) * 4
        with self._db.transaction() as db:
            pk = int(db.execute(
                "INSERT INTO documents (tenant, doc_id, source, source_key, link, state, chunks, created_at, "
                f"{', '.join(ORIGIN_COLUMNS)}, keyword_terms) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id", (tenant, doc_id, source, source_key, link, n_chunks, now, *where,
                                 analyzed.total_terms if analyzed else None))[0][0])
            # One atomic increment, so replicas sharing a PostgreSQL registry never hand out the same ids.
            end = int(db.execute("INSERT INTO counters (name, value) VALUES ('chunk_id', ?) ON CONFLICT (name) "
                                 "DO UPDATE SET value = counters.value + ? RETURNING value",
                                 (1 + n_chunks, n_chunks))[0][0])
            ids = list(range(end - n_chunks, end))
            halves = vectors.astype(np.float16) if vectors is not None else None
            db.executemany("INSERT INTO chunks (id, document, vector, text, meta, bits) VALUES (?, ?, ?, ?, ?, ?)",
                           ((cid, pk, None if halves is None else halves[i].tobytes(),
                             *((_text(texts[i][0]), json.dumps(texts[i][1])) if texts is not None else (None, None)),
                             None if bits is None else bits[i].tobytes())
                            for i, cid in enumerate(ids)))
            if analyzed is not None:
                db.executemany("INSERT INTO keyword_postings (term, tenant, document, postings) VALUES (?, ?, ?, ?)",
                               keywords.posting_rows(analyzed, tenant, pk, ids))
        return DocumentRow(pk, tenant, doc_id, source, source_key, link, "pending", n_chunks, now, *where), ids

    def commit(self, document: DocumentRow) -> list[DocumentRow]:
        """Make a pending document visible and retire older versions under the same key, atomically.

        Returns the retired versions, now `deleting`, whose chunks the caller removes from Milvus."""
        with self._db.transaction() as db:
            db.lock(f"{document.tenant}/{document.source_key}")  # tenant ids have no "/"
            older = [DocumentRow(*r) for r in db.execute(
                f"SELECT {COLUMNS} FROM documents WHERE tenant = ? AND source_key = ? AND state = 'ready' AND id != ?",
                (document.tenant, document.source_key, document.pk))]
            db.execute("UPDATE documents SET state = 'ready' WHERE id = ?", (document.pk,))
            db.executemany("UPDATE documents SET state = 'deleting' WHERE id = ?", ((d.pk,) for d in older))
        self.keywords.changed()
        self.merge_keywords(document.tenant, most=2)  # an older registry's backlog is merged a little at a time
        return older

    def mark_deleting(self, document: DocumentRow) -> None:
        self._db.execute("UPDATE documents SET state = 'deleting' WHERE id = ?", (document.pk,))
        self.keywords.changed()

    def chunk_ids(self, document: DocumentRow) -> list[int]:
        return [r[0] for r in self._db.execute("SELECT id FROM chunks WHERE document = ? ORDER BY id", (document.pk,))]

    def vectors(self, document: DocumentRow) -> np.ndarray | None:
        """The float16 copies of a document's chunk vectors in chunk-id order, or None if any is missing."""
        blobs = [r[0] for r in self._db.execute("SELECT vector FROM chunks WHERE document = ? ORDER BY id",
                                                 (document.pk,))]
        if not blobs or any(b is None for b in blobs):
            return None
        return np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=np.float16).reshape(len(blobs), -1)

    def texts(self, document: DocumentRow) -> list[tuple[int, ChunkText | None]]:
        """A document's chunks in id order, each with its text and metadata (None: recorded before the registry
        held text)."""
        return [(int(cid), None if text is None else (text, json.loads(meta) if meta else {}))
                for cid, text, meta in self._db.execute(
                    "SELECT id, text, meta FROM chunks WHERE document = ? ORDER BY id", (document.pk,))]

    def without_text(self) -> list[DocumentRow]:
        """Ready documents with chunks whose text is not here yet (recorded before the registry held it)."""
        return self._rows("WHERE state = 'ready' AND id IN (SELECT document FROM chunks WHERE text IS NULL) "
                          "ORDER BY id")

    def add_texts(self, document: DocumentRow, texts: Iterable[tuple[int, ChunkText, bytes | None]]) -> None:
        """Record the text, metadata and 1-bit code of a document's chunks (by chunk id), in one transaction."""
        with self._db.transaction() as db:
            db.executemany("UPDATE chunks SET text = ?, meta = ?, bits = COALESCE(?, bits) WHERE id = ? AND "
                           "document = ?", ((_text(text), json.dumps(meta), bits, cid, document.pk)
                                            for cid, (text, meta), bits in texts))

    def remove(self, document: DocumentRow) -> None:
        with self._db.transaction() as db:
            db.lock(f"keywords/{document.tenant}")  # a merge moving its postings waits, or has finished
            segment = db.execute("SELECT keyword_segment FROM documents WHERE id = ?", (document.pk,))
            if segment and segment[0][0] is not None:
                _cut_from_segment(db, document, int(segment[0][0]))
            db.execute("DELETE FROM keyword_postings WHERE document = ?", (document.pk,))
            db.execute("DELETE FROM chunks WHERE document = ?", (document.pk,))
            db.execute("DELETE FROM documents WHERE id = ?", (document.pk,))
        self.keywords.changed()

    def abandoned(self) -> list[DocumentRow]:
        """Documents left `pending` or `deleting` by a process that stopped mid-way."""
        return self._rows("WHERE state != 'ready'")

    def ready_chunk_ids(self) -> list[int]:
        """The chunk ids of every ready document of every tenant, in id order (what a rebuild copies)."""
        return [r[0] for r in self._db.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document WHERE d.state = 'ready' ORDER BY c.id")]

    def ready_chunk_count(self) -> int:
        """How many chunks the ready documents of every tenant have (what the collection should hold at least)."""
        return int(self._db.execute("SELECT COALESCE(SUM(chunks), 0) FROM documents WHERE state = 'ready'")[0][0])

    def chunk_rows(self, ids: Sequence[int]) -> list[tuple[int, str, bytes | None, str, str, ChunkText | None]]:
        """What a collection holds of the chunks among `ids` that belong to ready documents: id, tenant, 1-bit code
        and text (None where not recorded here), with their document's doc_id and source (what a rebuild writes)."""
        if not ids:
            return []
        rows = self._db.execute(
            "SELECT c.id, d.tenant, c.bits, d.doc_id, d.source, c.text, c.meta FROM chunks c JOIN documents d ON "
            f"d.id = c.document WHERE d.state = 'ready' AND c.id IN ({','.join('?' * len(ids))}) ORDER BY c.id",
            tuple(ids))
        return [(int(cid), tenant, None if code is None else bytes(code), doc_id, source,
                 None if text is None else (text, json.loads(meta) if meta else {}))
                for cid, tenant, code, doc_id, source, text, meta in rows]

    def tenants_with_keyword_rows(self) -> list[str]:
        """Tenants with ready documents whose keyword postings are rows of their own (not merged into a segment)."""
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT tenant FROM documents WHERE state = 'ready' AND keyword_terms IS NOT NULL AND "
            "keyword_segment IS NULL ORDER BY tenant")]

    def unindexed(self) -> list[DocumentRow]:
        """Ready documents that are not in the keyword index (added before it existed, or under RETRIEVAL=dense)."""
        return self._rows("WHERE state = 'ready' AND keyword_terms IS NULL ORDER BY id")

    def add_keywords(self, document: DocumentRow, analyzed: AnalyzedChunks) -> bool:
        """Put a document that is not in the keyword index into it (`analyzed`: its chunks in id order), in one
        transaction; False (nothing written) when it is no longer a ready document outside the index. A running
        bitrag indexes while documents are forgotten and replaced (`RagService.index_missing_keywords`): postings
        written for a document being removed would outlive it."""
        ids = self.chunk_ids(document)
        with self._db.transaction() as db:
            claimed = db.execute("UPDATE documents SET keyword_terms = ? WHERE id = ? AND state = 'ready' AND "
                                 "keyword_terms IS NULL RETURNING id", (analyzed.total_terms, document.pk))
            if claimed:
                db.execute("DELETE FROM keyword_postings WHERE document = ?", (document.pk,))
                db.executemany("INSERT INTO keyword_postings (term, tenant, document, postings) VALUES (?, ?, ?, ?)",
                               keywords.posting_rows(analyzed, document.tenant, document.pk, ids))
        if claimed:
            self.keywords.changed()
        return bool(claimed)

    def merge_keywords(self, tenant: str, most: int | None = None) -> int:
        """Merge a tenant's keyword rows into fewer, larger ones; returns how many merges were made.

        A document's postings are rows of its own (one per term), written with it; a question reads every row of its
        terms, so a knowledge base of many small documents made questions read tens of thousands of rows (100k
        chunks in documents of 50: 12 ms, against 2 ms in documents of 5,000; benchmarks/README.md, "Keyword
        search"). Once `MERGE_DOCUMENTS` small ready documents have rows of their own, their rows become one row per
        term of a segment; `MERGE_SEGMENTS` small segments become one, up to `SEGMENT_CHUNKS` chunks. Each merge is
        one transaction (at most `most` of them); a document of a segment that stops being ready is left out of
        searches at once and cut out of the segment when it is removed (`remove`)."""
        merges = 0
        while (most is None or merges < most) and self._merge_once(tenant):
            merges += 1
        if merges:
            self.keywords.changed()
        return merges

    def _merge_once(self, tenant: str) -> bool:
        small = keywords.SEGMENT_CHUNKS // keywords.MERGE_SEGMENTS
        with self._db.transaction() as db:
            db.lock(f"keywords/{tenant}")
            documents = db.execute(
                "SELECT id, chunks FROM documents WHERE tenant = ? AND state = 'ready' AND keyword_terms IS NOT NULL "
                "AND keyword_segment IS NULL AND chunks < ? ORDER BY id", (tenant, small))
            of_documents = len(documents) >= keywords.MERGE_DOCUMENTS
            if of_documents:
                chosen = _up_to(documents, keywords.SEGMENT_CHUNKS)
                marks = ",".join("?" * len(chosen))
                rows = db.execute(f"SELECT term, postings FROM keyword_postings WHERE document IN ({marks}) "
                                  "ORDER BY term, document", chosen)
                db.execute(f"DELETE FROM keyword_postings WHERE document IN ({marks})", chosen)
            else:
                segments = db.execute(
                    "SELECT keyword_segment, SUM(chunks) FROM documents WHERE tenant = ? AND keyword_segment IS NOT "
                    "NULL GROUP BY keyword_segment HAVING SUM(chunks) < ? ORDER BY 2, 1",
                    (tenant, keywords.SEGMENT_CHUNKS // 2))
                if len(segments) < keywords.MERGE_SEGMENTS:
                    return False
                chosen = _up_to(segments[:keywords.MERGE_SEGMENTS], keywords.SEGMENT_CHUNKS)
                marks = ",".join("?" * len(chosen))
                rows = db.execute(f"SELECT term, postings FROM keyword_segments WHERE tenant = ? AND segment IN "
                                  f"({marks}) ORDER BY term, segment", (tenant, *chosen))
                db.execute(f"DELETE FROM keyword_segments WHERE tenant = ? AND segment IN ({marks})",
                           (tenant, *chosen))
            segment = int(db.execute("INSERT INTO counters (name, value) VALUES ('keyword_segment', 1) ON CONFLICT "
                                     "(name) DO UPDATE SET value = counters.value + 1 RETURNING value")[0][0])
            db.executemany("INSERT INTO keyword_segments (term, tenant, segment, postings) VALUES (?, ?, ?, ?)",
                           ((term, tenant, segment, blob) for term, blob in keywords.merged_rows(rows).items()))
            column = "id" if of_documents else "keyword_segment"
            db.execute(f"UPDATE documents SET keyword_segment = ? WHERE {column} IN ({marks})", (segment, *chosen))
        return True

    # --- maintenance markers (e.g. how far a collection rebuild got) ----------------------------------------------

    def marker(self, name: str) -> int:
        rows = self._db.execute("SELECT value FROM counters WHERE name = ?", (f"marker:{name}",))
        return int(rows[0][0]) if rows else 0

    def set_marker(self, name: str, value: int) -> None:
        self._db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = ?",
                         (f"marker:{name}", value, value))

    # --- audit ------------------------------------------------------------------------------------------------

    def log(self, entry: AuditEntry) -> None:
        self._db.execute(f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (entry.at, entry.actor, entry.platform, entry.action, entry.audience, entry.doc_id,
                          entry.source, entry.place, entry.detail))

    def audit(self, space: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """The newest entries first; `space` keeps those of one workspace, guild or tenant and its conversations."""
        if space is None:
            rows = self._db.execute(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        else:
            prefix = f"{space}:"  # compared exactly: LIKE would treat the "_" tenant ids may hold as a wildcard
            rows = self._db.execute(f"SELECT {AUDIT_COLUMNS} FROM audit WHERE audience = ? OR substr(audience, 1, ?) "
                                    "= ? ORDER BY at DESC, id DESC LIMIT ?", (space, len(prefix), prefix, limit))
        return [AuditEntry(*row) for row in rows]

    def unknown_origins(self) -> int:
        """How many ready documents were added before owners were recorded."""
        return int(self._db.execute("SELECT COUNT(*) FROM documents WHERE owner IS NULL AND state = 'ready'")[0][0])

    # --- retrieval -------------------------------------------------------------------------------------------

    def _ready_chunks(self, columns: str, tenants: Sequence[str], ids: Sequence[int],
                      condition: str = "TRUE") -> list[tuple]:
        """`columns` of the chunks among `ids` that belong to ready documents of `tenants` (and meet `condition`):
        the one audience filter every chunk read of retrieval goes through."""
        if not ids or not tenants:
            return []
        marks, tenant_marks = ",".join("?" * len(ids)), ",".join("?" * len(tenants))
        return self._db.execute(
            f"SELECT c.id, {columns} FROM chunks c JOIN documents d ON d.id = c.document WHERE d.tenant IN "
            f"({tenant_marks}) AND d.state = 'ready' AND c.id IN ({marks}) AND {condition}", (*tenants, *ids))

    def visible(self, tenants: Sequence[str], ids: Sequence[int],
                with_vectors: bool) -> dict[int, tuple[bytes | None, bytes | None]]:
        """The subset of `ids` that belong to ready documents of `tenants`, each with its float16 vector (when
        asked for) and its 1-bit code (None where not recorded here)."""
        rows = self._ready_chunks(f"{'c.vector' if with_vectors else 'NULL'}, c.bits", tenants, ids)
        return {int(cid): (None if half is None else bytes(half), None if code is None else bytes(code))
                for cid, half, code in rows}

    def chunks(self, tenants: Sequence[str], ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """doc_id, source, text and meta of the chunks among `ids` that belong to ready documents of `tenants` and
        whose text is here (a primary-key read per chunk)."""
        rows = self._ready_chunks("d.doc_id, d.source, c.text, c.meta", tenants, ids, "c.text IS NOT NULL")
        return {int(cid): _chunk(doc_id, source, text, meta) for cid, doc_id, source, text, meta in rows}

    def keyword_search(self, tenants: Sequence[str], text: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of the best `limit` chunks of the tenants' ready documents for `text`."""
        return self.keywords.search(self._db, tenants, text, limit)

    def document_frequencies(self, tenants: Sequence[str], words: Sequence[str]) -> dict[str, int]:
        """How many chunks of the tenants' ready documents hold each of `words` (analyzed terms)."""
        return self.keywords.document_frequencies(self._db, tenants, words)

    # --- listing ---------------------------------------------------------------------------------------------

    def documents(self, tenants: Sequence[str]) -> list[DocumentRow]:
        marks = ",".join("?" * len(tenants))
        return self._rows(f"WHERE tenant IN ({marks}) AND state = 'ready' ORDER BY source, created_at", tuple(tenants))

    def shared_in(self, tenant: str, platform: str, conversation: str) -> list[DocumentRow]:
        """Ready documents of `tenant` that are there because `conversation` was public when they were shared."""
        return self._rows("WHERE tenant = ? AND origin_platform = ? AND origin_conversation = ? AND origin_kind = "
                          "'public' AND state = 'ready' ORDER BY created_at", (tenant, platform, conversation))

    def public_places(self, platform: str) -> list[tuple[str, str]]:
        """(space, conversation) of every public conversation whose documents serve a whole space (a space key has
        no ":"; a conversation's audience, `space:conversation`, does)."""
        rows = self._db.execute("SELECT DISTINCT tenant, origin_conversation FROM documents WHERE origin_platform = ? "
                                "AND origin_kind = 'public' AND state = 'ready' AND origin_conversation IS NOT NULL",
                                (platform,))
        return sorted((str(t), str(c)) for t, c in rows if ":" not in str(t))

    def resolve(self, tenants: Sequence[str], ref: str) -> DocumentRow:
        """A document of `tenants` by doc id, unique doc-id prefix (≥ 6 characters) or source name."""
        ref = ref.strip()
        docs = self.documents(tenants)
        matches = [d for d in docs if d.doc_id == ref] or [d for d in docs if d.source == ref]
        if not matches and len(ref) >= 6:
            matches = [d for d in docs if d.doc_id.startswith(ref)]
        if not matches:
            raise DocumentNotFoundError(f"No document {ref!r} in this knowledge base. "
                                        "List them with `sources` and use a name or id from there.")
        if len(matches) > 1:
            listed = ", ".join(f"{d.source} ({d.doc_id[:12]})" for d in matches)
            raise DocumentNotFoundError(f"{ref!r} matches {len(matches)} documents: {listed}. Use the id.")
        return matches[0]
