"""The document registry: which documents exist per tenant, their state, their chunk ids, and the float16
copies of chunk vectors used by precise rescoring.

It is what makes ingestion atomic per document. Milvus has no multi-row transactions, so a document's chunks
are inserted while its registry row is `pending`, and only the flip to `ready` (one SQLite transaction, which
also marks any previous version `deleting`) makes them visible: retrieval keeps only candidates whose document
is `ready`. After a crash, `abandoned()` lists what to clean up. SQLite (WAL) is the embedded default.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, DocumentNotFoundError
from rag.models import DocumentInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    link TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'deleting')),
    chunks INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (tenant, doc_id)
);
CREATE INDEX IF NOT EXISTS documents_by_key ON documents (tenant, source_key);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,          -- the Milvus primary key of the chunk
    document INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    vector BLOB                      -- float16 copy for precise rescoring; NULL in other modes
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


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

    def info(self) -> DocumentInfo:
        return DocumentInfo(doc_id=self.doc_id, source=self.source, chunks=self.chunks,
                            created_at=self.created_at, key=self.source_key, link=self.link)


def sqlite_path(url: str) -> str:
    """`sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite:///:memory:` → a path for sqlite3."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(f"REGISTRY_URL={url!r} is not supported: use sqlite:///path/to/registry.sqlite3")
    return url[len(prefix):]


class Registry:
    """Thread-safe (one connection behind a lock); call it from `asyncio.to_thread`."""

    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[DocumentRow]:
        with self._lock:
            cursor = self._db.execute(
                "SELECT id, tenant, doc_id, source, source_key, link, state, chunks, created_at FROM documents "
                + sql, params)
            return [DocumentRow(*row) for row in cursor.fetchall()]

    # --- ingestion -------------------------------------------------------------------------------------------

    def find(self, tenant: str, doc_id: str) -> DocumentRow | None:
        rows = self._rows("WHERE tenant = ? AND doc_id = ?", (tenant, doc_id))
        return rows[0] if rows else None

    def current_version(self, tenant: str, source_key: str) -> DocumentRow | None:
        rows = self._rows("WHERE tenant = ? AND source_key = ? AND state = 'ready'", (tenant, source_key))
        return rows[0] if rows else None

    def begin(self, tenant: str, doc_id: str, source: str, source_key: str, link: str | None,
              n_chunks: int, vectors: np.ndarray | None) -> tuple[DocumentRow, list[int]]:
        """Record a `pending` document and reserve ids for its chunks (never reused)."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO documents (tenant, doc_id, source, source_key, link, state, chunks, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)", (tenant, doc_id, source, source_key, link, n_chunks, now))
            pk = int(cursor.lastrowid or 0)
            row = db.execute("SELECT value FROM counters WHERE name = 'chunk_id'").fetchone()
            first = int(row[0]) if row else 1
            db.execute("INSERT INTO counters (name, value) VALUES ('chunk_id', ?) "
                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (first + n_chunks,))
            ids = list(range(first, first + n_chunks))
            halves = vectors.astype(np.float16) if vectors is not None else None
            db.executemany("INSERT INTO chunks (id, document, vector) VALUES (?, ?, ?)",
                           ((cid, pk, None if halves is None else halves[i].tobytes()) for i, cid in enumerate(ids)))
        return DocumentRow(pk, tenant, doc_id, source, source_key, link, "pending", n_chunks, now), ids

    def commit(self, document: DocumentRow) -> list[DocumentRow]:
        """Make a pending document visible and retire older versions under the same key, atomically.

        Returns the retired versions, now `deleting`, whose chunks the caller removes from Milvus."""
        with self._transaction() as db:
            older = [DocumentRow(*r) for r in db.execute(
                "SELECT id, tenant, doc_id, source, source_key, link, state, chunks, created_at FROM documents "
                "WHERE tenant = ? AND source_key = ? AND state = 'ready' AND id != ?",
                (document.tenant, document.source_key, document.pk)).fetchall()]
            db.execute("UPDATE documents SET state = 'ready' WHERE id = ?", (document.pk,))
            db.executemany("UPDATE documents SET state = 'deleting' WHERE id = ?", ((d.pk,) for d in older))
        return older

    def mark_deleting(self, document: DocumentRow) -> None:
        with self._transaction() as db:
            db.execute("UPDATE documents SET state = 'deleting' WHERE id = ?", (document.pk,))

    def chunk_ids(self, document: DocumentRow) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM chunks WHERE document = ?", (document.pk,))]

    def remove(self, document: DocumentRow) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM chunks WHERE document = ?", (document.pk,))
            db.execute("DELETE FROM documents WHERE id = ?", (document.pk,))

    def abandoned(self) -> list[DocumentRow]:
        """Documents left `pending` or `deleting` by a process that stopped mid-way."""
        return self._rows("WHERE state != 'ready'")

    # --- retrieval -------------------------------------------------------------------------------------------

    def visible(self, tenants: Sequence[str], ids: Sequence[int], with_vectors: bool) -> dict[int, bytes | None]:
        """The subset of `ids` that belong to ready documents of `tenants`, with their float16 vectors."""
        if not ids:
            return {}
        marks, tenant_marks = ",".join("?" * len(ids)), ",".join("?" * len(tenants))
        column = "c.vector" if with_vectors else "NULL"
        with self._lock:
            rows = self._db.execute(
                f"SELECT c.id, {column} FROM chunks c JOIN documents d ON d.id = c.document WHERE d.tenant IN "
                f"({tenant_marks}) AND d.state = 'ready' AND c.id IN ({marks})", (*tenants, *ids)).fetchall()
        return {int(cid): blob for cid, blob in rows}

    # --- listing ---------------------------------------------------------------------------------------------

    def documents(self, tenants: Sequence[str]) -> list[DocumentRow]:
        marks = ",".join("?" * len(tenants))
        return self._rows(f"WHERE tenant IN ({marks}) AND state = 'ready' ORDER BY source, created_at", tuple(tenants))

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
