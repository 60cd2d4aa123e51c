"""The Milvus collection of binary chunk vectors (pymilvus `MilvusClient`, Lite or server).

One collection holds every tenant; every read goes through `tenant_filter`, and no method searches without
a tenant. Lite gets `BIN_FLAT` (the only binary index it has) and no partition key (Lite's filtered search
fails on partition-key collections); a server gets `MILVUS_INDEX` and `tenant` as its partition key. Exact
`BIN_FLAT` is the server default too: IVF clusters binary codes of real text embeddings poorly (SciFact: nprobe
= nlist/2 is needed to keep 99 % of NDCG@10, see benchmarks/), and exact search of 1M codes takes ~10 ms. The
metric is always passed explicitly: left out, Lite silently uses JACCARD. A server collection uses Session
consistency: Strong makes every search wait for the next time tick (measured on Milvus 2.3.5: ~200–600 ms per
search instead of ~3 ms), while Session still lets a client read its own inserts (an ingest, then a question).
Its own deletes may show a moment later (seen on 2.3.5): harmless, since retrieval keeps only chunks of documents
the registry says are ready, and `count()` asks for Strong.
The binary field is never returned by `search()` (Lite retries for minutes and fails); `get_bits()` fetches it
by primary key instead.

A collection holds the 1-bit codes, their ids and tenants, nothing else (schema 2): chunk text and metadata live in
the registry, on disk (`registry.py` says why: at 1M chunks they were 87 % of what the process held). A collection
made before (schema 1, with `doc_id`, `source`, `text`, `meta` fields) keeps working: `holds_text` says so, new
chunks are written with their text there too, and answers read it from there until `bitrag reindex` rebuilds it.

Keyword search is the registry's BM25 index by default (`keywords.py`); with `KEYWORD_INDEX=milvus` and
`RETRIEVAL=hybrid` it is Milvus's own BM25, kept to measure the two side by side: the chunk text,
already stored for answers, is analyzed (`BM25_ANALYZER`) and a BM25 function fills a sparse vector field with a
`SPARSE_INVERTED_INDEX`. Milvus Lite 2.5 and servers from 2.5 have it; an older server (the 2.3.5 of our tests) gets
a dense-only collection and `keyword_note` says why. A collection made without BM25 stays dense-only until
`bitrag reindex` rebuilds it (`reindex.py`). It is not the default because of what it costs: on real text its
index takes more RAM per chunk (~2 KB) than the float32 vectors that 1-bit quantization saves (benchmarks/README.md,
"Memory per chunk"), and it needs the text in Milvus: its collections keep schema 1's text fields.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from rag.errors import ConfigError, ModelMismatchError, StoreInUseError, StoreUnavailableError
from rag.milvus import DataType, Function, FunctionType, MilvusClient
from rag.settings import RagSettings
from rag.tenants import Scope, tenant_filter, validate_tenant

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 1: chunk text and metadata in Milvus too
TEXT_FIELDS = ["doc_id", "source", "text", "meta"]  # schema 1's fields (and Milvus BM25's collections')
MAX_TEXT_BYTES = 60_000  # VARCHAR max_length is 65,535 bytes
INSERT_BATCH_BYTES = 2 << 20  # pymilvus inserts slow down sharply past a few MB per call (15k → 105 rows/s)
DELETE_BATCH = 2_000
KEYWORD_FIELD = "keywords"  # BM25's sparse vector of the chunk text, filled by Milvus
FETCH_BATCH = 10_000  # ids per `fetch` request (a search returns at most 16,384 rows)
MAX_QUERY_CHARS = 4_000  # keyword search of a question (a follow-up carries the previous question too)
T = TypeVar("T")


@dataclass
class ChunkRecord:
    id: int
    tenant: str
    bits: bytes
    doc_id: str = ""  # these four go to Milvus only where the collection holds text
    source: str = ""
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Candidate:
    id: int
    hamming: int | None  # None for a keyword-only candidate
    doc_id: str = ""  # these four are empty when the search was asked for ids only (`fields=False`)
    source: str = ""
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    keyword: float = 0.0  # its BM25 score, 0 when keyword search did not return it


def _clip_utf8(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def in_use_message(uri: str, holder: str) -> str:
    return (f"The Milvus Lite database {uri} is open in another process (pid {holder}): one process at a time can "
            "open it. While `bitrag run` or `bitrag serve` runs, the CLI's commands go through it (its socket is in "
            "BITRAG_HOME: check that both use the same one); otherwise wait for that process to end, or use a Milvus "
            "server (MILVUS_URI=http://host:19530) to share the knowledge base.")


_held_databases: dict[str, IO[str]] = {}  # Lite files this process holds: path → its open, flock'ed lock file
_holding = threading.Lock()


def hold_lite_database(uri: str) -> None:
    """Take bitrag's own lock on a Milvus Lite database file, or raise `StoreInUseError` naming the process that
    holds it. Idempotent within a process; kept until `release_lite_server`.

    Milvus Lite's own lock cannot be relied on: a process that fails to take it deletes the lock file on its way
    out (milvus-lite 2.5.1, `Server.stop` from `__del__`), so the next process creates a new file, locks it, and
    opens the same database as the first — two servers on one file (seen here: the second `bitrag sources` beside
    a running bitrag "succeeded"). This lock file is never deleted, and `flock` is per open file, not per process."""
    path = Path(uri).expanduser().absolute()
    with _holding:
        if str(path) in _held_databases:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = (path.parent / f".{path.name}.bitrag-lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreInUseError(in_use_message(uri, holder)) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        _held_databases[str(path)] = handle


def _let_go(uri: str) -> None:
    with _holding:
        handle = _held_databases.pop(str(Path(uri).expanduser().absolute()), None)
    if handle is not None:
        handle.close()  # closing the file releases its flock


class MilvusStore:
    """Async facade over the synchronous `MilvusClient`: every call runs in a worker thread."""

    def __init__(self, settings: RagSettings, text_in_milvus: bool = False) -> None:
        """`text_in_milvus` makes new collections of schema 1, as bitrag did before the registry held chunk text
        (for tests and benchmarks of upgrades); Milvus's BM25 (`KEYWORD_INDEX=milvus`) always needs it."""
        self._uri = settings.milvus_uri
        self._token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
        self._is_lite = settings.milvus_is_lite
        self.collection = settings.milvus_collection
        self._index_type = "BIN_FLAT" if self._is_lite else settings.milvus_index
        self._nlist = settings.milvus_nlist
        self._nprobe = settings.milvus_nprobe
        self._client: Any = None
        self._timeout_s = settings.milvus_timeout_s  # a hung server fails a request instead of hanging it
        self._startup_wait_s = settings.milvus_startup_wait_s
        self._stale = False  # the last call failed: reconnect before the next one (server only)
        self._reconnecting = threading.Lock()
        self._want_keywords = settings.retrieval == "hybrid" and settings.keyword_index == "milvus"
        self._analyzer = settings.bm25_analyzer
        self.keywords = False  # the open collection has a BM25 index
        self._with_text = text_in_milvus or self._want_keywords  # whether a collection made now holds chunk text
        self.holds_text = False  # the open collection holds chunk text (schema 1, or Milvus BM25)
        self.keyword_note = ""  # whether keyword search is on, and why not, for status pages
        self._known_version = ""  # the server's, once asked
        self.dim = 0
        self.model_id = ""

    @property
    def client(self) -> Any:
        """The underlying `MilvusClient` (for evaluation and benchmarks that add their own collections)."""
        return self._client

    @property
    def text_to_move(self) -> bool:
        """The open collection holds chunk text that a collection made now would not (`bitrag reindex` moves it)."""
        return self.holds_text and not self._with_text

    @property
    def mode(self) -> str:
        return "lite" if self._is_lite else "server"

    @property
    def description(self) -> str:
        """Where the vectors live, for status pages (no credentials)."""
        if self._is_lite:
            return f"Milvus Lite, {self._uri}"
        return f"Milvus server, {self._describe_uri()}, {self._index_type}"

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`MilvusClient.<method>(...)` in a worker thread, on a fresh connection if the last call failed."""
        return await self._guarded(self._invoke, method, args, kwargs)

    def _invoke(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._stale:
            with self._reconnecting:  # concurrent requests after an outage reconnect once
                if self._stale:
                    self._reconnect()
        return getattr(self._client, method)(*args, timeout=self._timeout_s, **kwargs)

    def _reconnect(self) -> None:
        """A server that went away and came back is not always found again by the old client: start afresh."""
        try:
            if self._client is not None:
                self._client.close()
        except Exception:  # the old connection is dead anyway
            pass
        client = MilvusClient(uri=self._uri, token=self._token)
        client.load_collection(self.collection)
        self._client = client
        self._stale = False
        log.info("Reconnected to Milvus at %s", self._describe_uri())

    async def _guarded(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (ModelMismatchError, StoreUnavailableError):
            raise
        except Exception as exc:
            if _refused_credentials(exc):  # not worth retrying: only a new MILVUS_TOKEN helps
                raise ConfigError(f"Milvus at {self._describe_uri()} refused the credentials: set MILVUS_TOKEN to "
                                  "user:password (or a Zilliz Cloud API key)" + (" — none is set" if not self._token
                                                                                 else "") + ".") from None
            if not self._is_lite and self._client is not None:
                self._stale = True
            name = args[0] if fn == self._invoke else getattr(fn, "__name__", fn)  # the client method, if one
            log.warning("Milvus call %s failed: %s", name, _short(exc))
            raise StoreUnavailableError(
                f"The knowledge base is unavailable (Milvus at {self._describe_uri()}): {_short(exc)}. "
                "Try again in a moment.") from exc

    def _describe_uri(self) -> str:
        return self._uri if self._is_lite else self._uri.split("@")[-1]

    async def open(self, model_id: str, dim: int) -> None:
        """Connect, then create the collection or check that it was built for this model. A server that is not up
        yet (a compose stack or a pod starting together) is retried with backoff for `MILVUS_STARTUP_WAIT_S`."""
        self.dim, self.model_id = dim, model_id
        deadline = time.monotonic() + (0 if self._is_lite else self._startup_wait_s)
        delay = 1.0
        while True:
            try:
                await self._guarded(self._open_sync, model_id, dim)
                return
            except StoreUnavailableError as exc:
                if time.monotonic() + delay > deadline:
                    if self._is_lite:
                        raise
                    raise StoreUnavailableError(
                        f"Milvus at {self._describe_uri()} did not answer ({_short(exc.__cause__ or exc)}): check that "
                        "it is running and that MILVUS_URI (and MILVUS_TOKEN) are right. A server that is still "
                        f"starting is waited for MILVUS_STARTUP_WAIT_S (now {self._startup_wait_s:g} s).") from None
                log.warning("Milvus at %s is not reachable yet; retrying in %.0f s", self._describe_uri(), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _open_sync(self, model_id: str, dim: int) -> None:
        if self._is_lite:
            hold_lite_database(self._uri)
        self._client = MilvusClient(uri=self._uri, token=self._token)
        if self._client.has_collection(self.collection):
            self._check_model(model_id, dim)
            # The index a collection was built with wins over MILVUS_INDEX (changing it means rebuilding).
            self._index_type = self._client.describe_index(self.collection, "vector").get("index_type",
                                                                                          self._index_type)
            self._client.load_collection(self.collection)
            self._describe(self._client.describe_collection(self.collection))
        else:
            self._set_keywords(self._want_keywords and self._supports_bm25())
            self.holds_text = self._with_text
            self._client.create_collection(self.collection, **self.collection_spec(model_id, dim))

    def _describe(self, description: dict[str, Any]) -> None:
        """Read what the open collection has: a keyword index, chunk text."""
        self._set_keywords(has_keyword_index(description))
        self.holds_text = any(f.get("name") == "text" for f in description.get("fields", []))

    def _set_keywords(self, available: bool) -> None:
        """Keyword search is on when wanted (RETRIEVAL=hybrid) and the collection has its index; else the note says
        what would turn it on: a reindex where this Milvus has BM25, an upgrade where it has not."""
        self.keywords = available and self._want_keywords
        if self.keywords:
            self.keyword_note = f"hybrid: 1-bit dense + BM25 keyword search ({self._analyzer} analyzer)"
        elif not self._want_keywords:
            self.keyword_note = "no Milvus BM25 (KEYWORD_INDEX=registry or RETRIEVAL=dense)"
        elif self._supports_bm25():
            self.keyword_note = ("dense only: this collection was made without a BM25 index; run `bitrag reindex` "
                                 "to add one")
        else:
            self.keyword_note = (f"dense only: this Milvus server ({self._server_version()}) has no BM25 keyword "
                                 "search; upgrade it to 2.5 or later and run `bitrag reindex`")

    def _supports_bm25(self) -> bool:
        """Milvus Lite 2.5 and servers from 2.5 on have BM25 functions and sparse vectors."""
        return self._is_lite or _version(self._server_version()) >= (2, 5)

    def _server_version(self) -> str:
        """Asked once per store (opening a collection needs it up to three times)."""
        if not self._known_version:
            try:
                self._known_version = str(self._client.get_server_version())
            except Exception:  # an unknown version is treated as one without BM25, and asked again next time
                return "unknown version"
        return self._known_version

    def _check_model(self, model_id: str, dim: int) -> None:
        description = self._client.describe_collection(self.collection).get("description") or "{}"
        try:
            recorded = json.loads(description)
        except json.JSONDecodeError:
            recorded = {}
        if recorded.get("model") != model_id or int(recorded.get("dim", -1)) != dim:
            raise ModelMismatchError(
                f"Collection {self.collection!r} in {self._describe_uri()} was built with embedding model "
                f"{recorded.get('model', 'unknown')!r} (dim {recorded.get('dim', '?')}), but EMBEDDER/EMBED_MODEL "
                f"now select {model_id!r} (dim {dim}). Switch back to that model, or set MILVUS_COLLECTION to a "
                "new name (or use a fresh MILVUS_URI) and re-ingest your documents.")

    def collection_spec(self, model_id: str, dim: int) -> dict[str, Any]:
        """The keyword arguments of `create_collection` for a bitrag collection (with BM25 when wanted and there)."""
        description = json.dumps({"bitrag_schema": 1 if self._with_text else SCHEMA_VERSION, "model": model_id,
                                  "dim": dim})
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description=description)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("tenant", DataType.VARCHAR, max_length=128, is_partition_key=not self._is_lite)
        schema.add_field("vector", DataType.BINARY_VECTOR, dim=dim)
        keywords = self._want_keywords and self._supports_bm25()
        if self._with_text:
            analyzed = {"enable_analyzer": True, "analyzer_params": {"type": self._analyzer}} if keywords else {}
            schema.add_field("doc_id", DataType.VARCHAR, max_length=64)
            schema.add_field("source", DataType.VARCHAR, max_length=1024)
            schema.add_field("text", DataType.VARCHAR, max_length=65_535, **analyzed)
            schema.add_field("meta", DataType.JSON)
        index = self._client.prepare_index_params()
        params = {"nlist": self._nlist} if self._index_type == "BIN_IVF_FLAT" else {}
        index.add_index(field_name="vector", index_type=self._index_type, metric_type="HAMMING", params=params)
        if keywords:
            schema.add_field(KEYWORD_FIELD, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                         output_field_names=[KEYWORD_FIELD]))
            index.add_index(field_name=KEYWORD_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        extra = {} if self._is_lite else {"num_partitions": 64}
        return {"schema": schema, "index_params": index,
                "consistency_level": "Strong" if self._is_lite else "Session", **extra}

    def _text_in(self, collection: str) -> bool:
        """Whether `collection` holds chunk text: the open one as described, any other (a rebuild's copy) as made
        now."""
        return self.holds_text if collection == self.collection else self._with_text

    async def insert(self, records: Sequence[ChunkRecord], collection: str | None = None) -> None:
        """Insert chunks (into this store's collection, or `collection`, e.g. a rebuild's copy); their text only
        where the collection holds text (the registry has it: `Registry.begin`)."""
        collection = collection or self.collection
        text = self._text_in(collection)
        rows = [{"id": r.id, "tenant": validate_tenant(r.tenant), "vector": r.bits,
                 **({"doc_id": r.doc_id, "source": r.source[:1000], "text": _clip_utf8(r.text), "meta": r.meta}
                    if text else {})} for r in records]
        batch: list[dict[str, Any]] = []
        size = 0
        for row in rows:
            batch.append(row)
            size += len(row["vector"]) + len(row.get("text", "").encode()) + 200
            if size >= INSERT_BATCH_BYTES:
                await self._call("insert", collection, batch)
                batch, size = [], 0
        if batch:
            await self._call("insert", collection, batch)

    async def search(self, scope: Scope, query_bits: bytes, limit: int) -> list[Candidate]:
        """The `limit` nearest chunks of the scope's tenants by Hamming distance (exact with BIN_FLAT)."""
        return (await self.search_many(scope, [query_bits], limit))[0]

    async def search_many(self, scope: Scope, queries: Sequence[bytes], limit: int,
                          fields: bool = True) -> list[list[Candidate]]:
        """`search` for several query vectors in one request (one filter, one round trip; see `batching.py`).
        `fields=False`, or a collection without text, returns ids and distances only; the registry (or `fetch`)
        then gives the few chunks kept."""
        if not queries:
            return []
        params: dict[str, Any] = {"metric_type": "HAMMING"}
        if self._index_type == "BIN_IVF_FLAT":
            params["params"] = {"nprobe": self._nprobe}
        return await self._guarded(self._candidates, False, fields, data=list(queries), anns_field="vector",
                                   limit=limit, filter=tenant_filter(scope), search_params=params)

    async def keyword_search(self, scope: Scope, text: str, limit: int) -> list[Candidate]:
        """The `limit` best chunks of the scope's tenants for `text` by BM25 (none when the collection has no
        keyword index, or the text has no searchable word)."""
        return (await self.keyword_search_many(scope, [text], limit))[0]

    async def keyword_search_many(self, scope: Scope, texts: Sequence[str], limit: int,
                                  fields: bool = True) -> list[list[Candidate]]:
        """`keyword_search` for several texts in one request."""
        asked = [i for i, text in enumerate(texts) if text.strip()]
        found: list[list[Candidate]] = [[] for _ in texts]
        if not self.keywords or not asked:
            return found
        hits = await self._guarded(self._candidates, True, fields, data=[texts[i][:MAX_QUERY_CHARS] for i in asked],
                                   anns_field=KEYWORD_FIELD, limit=limit, filter=tenant_filter(scope),
                                   search_params={"metric_type": "BM25"})
        for i, candidates in zip(asked, hits, strict=True):
            found[i] = candidates
        return found

    def _candidates(self, keyword: bool, fields: bool, **search: Any) -> list[list[Candidate]]:
        """One `search` request, its rows parsed in the worker thread (thousands per batch: not on the loop)."""
        fields = fields and self.holds_text
        hits = self._invoke("search", (self.collection,), {**search, "output_fields": TEXT_FIELDS if fields else []})
        return [[Candidate(id=int(h["id"]), hamming=None if keyword else int(h["distance"]),
                           keyword=float(h["distance"]) if keyword else 0.0, **(_chunk(h["entity"]) if fields else {}))
                 for h in query] for query in hits]

    async def fetch(self, scope: Scope, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """doc_id, source, text and meta of chunks of the scope, by id, from a collection that holds text (none
        from one that does not). A server looks the ids up in its primary-key index (`query`); Lite answers
        `get`/`query` by scanning every row (1M chunks: 77–107 ms for 5–100 ids), so there it is an exact search
        filtered to the ids (~6 ms; BIN_FLAT, the only index Lite has, so none is missed)."""
        found: dict[int, dict[str, Any]] = {}
        if not self.holds_text:
            return found
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), FETCH_BATCH):
            part = wanted[start:start + FETCH_BATCH]
            where = f"({tenant_filter(scope)}) and id in {part}"
            if self._is_lite:
                hits = await self._call("search", self.collection, data=[bytes(self.dim // 8)], anns_field="vector",
                                        limit=len(part), filter=where, output_fields=TEXT_FIELDS,
                                        search_params={"metric_type": "HAMMING"})
                found.update({int(h["id"]): _chunk(h["entity"]) for h in hits[0]})
            else:
                rows = await self._call("query", self.collection, filter=where, output_fields=TEXT_FIELDS)
                found.update({int(r["id"]): _chunk(r) for r in rows})
        return found

    async def get_bits(self, ids: Sequence[int]) -> dict[int, bytes]:
        if not ids:
            return {}
        rows = await self._call("get", self.collection, ids=list(ids), output_fields=["vector"])
        return {int(r["id"]): bytes(_first(r["vector"])) for r in rows}

    async def get_records(self, ids: Sequence[int], collection: str | None = None) -> list[ChunkRecord]:
        """Chunks by primary key (to copy a document into another tenant, or the collection, without
        re-embedding): bits and tenant, with text and metadata where the collection holds them (else empty)."""
        if not ids:
            return []
        collection = collection or self.collection
        text = self._text_in(collection)
        rows = await self._call("get", collection, ids=list(ids),
                                output_fields=["tenant", "vector", *(TEXT_FIELDS if text else [])])
        return [ChunkRecord(id=int(r["id"]), tenant=r["tenant"], bits=bytes(_first(r["vector"])),
                            **(_chunk(r) if text else {})) for r in rows]

    async def has_collection(self, name: str) -> bool:
        return bool(await self._call("has_collection", name))

    async def drop_collection(self, name: str) -> None:
        await self._call("drop_collection", name)

    async def create_collection(self, name: str) -> None:
        """A new, empty collection `name` with the schema this store would create now (BM25 when wanted and there)."""
        await self._call("create_collection", name, **self.collection_spec(self.model_id, self.dim))
        if name == self.collection:
            self.holds_text = self._with_text

    async def refresh_schema(self) -> None:
        """Read again what this store's collection has (after a rebuild)."""
        description = await self._call("describe_collection", self.collection)
        await self._call("load_collection", self.collection)
        self._describe(description)

    async def delete(self, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), DELETE_BATCH):
            await self._call("delete", self.collection, ids=list(ids[start:start + DELETE_BATCH]))

    async def count(self, tenant: str | None = None) -> int:
        expr = tenant_filter(tenant) if tenant is not None else ""
        rows = await self._call("query", self.collection, filter=expr, output_fields=["count(*)"],
                                consistency_level="Strong")  # Session reads may not see this client's deletes yet
        return int(rows[0]["count(*)"])

    async def settle(self, timeout_s: float = 600) -> None:
        """Seal what was inserted and search it through the index from now on (server; Lite is always exact).

        A server searches unsealed (growing) segments by brute force, so measurements of `BIN_IVF_FLAT` (evaluation,
        benchmarks) mean something only after this; the bot itself never needs it.
        """
        if not self._is_lite:
            await self._guarded(flush_and_index, self._client, self.collection, "vector", timeout_s)
            # Segments sealed before their index was built stay searched exactly until the collection is reloaded.
            await self._call("release_collection", self.collection)
            await self._call("load_collection", self.collection)

    async def close(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None
            if self._is_lite:  # closing the client leaves Lite's server process holding the database file
                await asyncio.to_thread(release_lite_server, self._uri)


def _chunk(row: dict[str, Any]) -> dict[str, Any]:
    """A chunk's `TEXT_FIELDS` from a search hit's entity or a query row (`meta` is never None)."""
    return {"doc_id": row["doc_id"], "source": row["source"], "text": row["text"], "meta": row["meta"] or {}}


def start_lite_server(uri: str) -> None:
    """Start the milvus-lite server for the database file `uri` (cached per file: the store's client then connects
    at once). Milvus Lite waits a fixed 0.5 s for its server to start; started beside the model's loading, that
    wait is hidden. Raises `StoreInUseError` when another bitrag holds the file; other failures are left for
    `MilvusStore.open` to report."""
    from milvus_lite.server_manager import server_manager_instance

    hold_lite_database(uri)
    server_manager_instance.start_and_get_uri(str(Path(uri).expanduser()))


def release_lite_server(uri: str) -> None:
    """Stop the milvus-lite server process that serves the database file `uri`."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(Path(uri).expanduser()))
    _let_go(uri)


def flush_and_index(client: Any, collection: str, index_field: str = "vector", timeout_s: float = 1800) -> None:
    """Seal the collection's growing segments and wait until `index_field`'s index covers every row (server)."""
    client.flush(collection)
    deadline = time.monotonic() + timeout_s
    while True:
        info = client.describe_index(collection, index_field)
        if info.get("pending_index_rows", 0) == 0 and info.get("indexed_rows", 0) >= info.get("total_rows", 0):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"index on {collection} still building after {timeout_s:.0f} s: {info}")
        time.sleep(0.5)


def has_keyword_index(description: dict[str, Any]) -> bool:
    """Whether a described collection has bitrag's BM25 field (Lite lists no functions, but marks their output)."""
    return any(f.get("name") == KEYWORD_FIELD and f.get("is_function_output") for f in description.get("fields", []))


def _version(text: str) -> tuple[int, ...]:
    """"v2.3.5" → (2, 3, 5); anything unreadable → (0,)."""
    numbers = re.findall(r"\d+", text.split("-")[0])
    return tuple(int(n) for n in numbers[:3]) or (0,)


def _first(value: Any) -> Any:
    """`get()` returns a binary vector as `[bytes]` on pymilvus 2.6; older versions return bytes."""
    return value[0] if isinstance(value, list) else value


def _refused_credentials(exc: BaseException) -> bool:
    """pymilvus reports a wrong token as "illegal connection params or server unavailable"; the gRPC status
    underneath says UNAUTHENTICATED. (Exception chains can loop, hence `seen`.)"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "code", None)
        if callable(code) and getattr(code(), "name", None) == "UNAUTHENTICATED":
            return True
        current = current.__cause__ or current.__context__
    return False


def _short(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.splitlines()[0][:300]
