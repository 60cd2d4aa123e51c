"""`bitrag reindex`: move chunk text into the registry, put every document into the registry's keyword index, and
rebuild the Milvus collection with today's schema, from what is stored, without re-embedding anything.

0. Documents whose chunk text is not in the registry yet (recorded before it held text) get it from the collection,
   one document per transaction (interrupted: the next run goes on with those still missing). Nothing is dropped
   before this is done: the rebuild that follows makes a collection without text (`store.py`, schema 2).
1. Documents not in the keyword index (added before it existed, or under RETRIEVAL=dense) are analyzed from their
   chunk text and indexed where the service wants them (`RagService.needs_keywords`), one document per
   transaction (interrupted: the next run goes on with the documents still missing); then every tenant's small
   documents are merged into keyword segments (`Registry.merge_keywords`).

Milvus Lite can neither rename a collection nor give it an alias, so the rebuild goes through a second collection
and back, and every step can be interrupted:

2. Every chunk of the registry's ready documents is written into `<collection>__rebuild`, made with the new schema,
   from the registry: its tenant, its 1-bit code (and its text where the new schema holds text). The registry is the
   durable truth and Milvus an index derived from it, so a collection that was lost, emptied or never filled (a new
   `MILVUS_URI`: moving from Milvus Lite to a server) is rebuilt the same way. Only chunks recorded before the
   registry kept codes take theirs from the original collection; a chunk whose code is in neither is left out and
   its document named, to be added again. Interrupted: the original is untouched; the next run drops the partial
   copy.
3. The registry records that the copy is complete (one row, one transaction).
4. The original is dropped, made again with the new schema and filled from the copy; then the copy is dropped and
   the mark cleared. Interrupted: the next start of bitrag (`RagService.open`) or the next `reindex` finishes step 4
   from the copy before anything else reads or writes.

Run it with bitrag stopped: documents added to the original during step 2 would not be in the copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from rag.keywords import analyze_chunks
from rag.registry import Registry
from rag.store import ChunkRecord, MilvusStore

log = logging.getLogger(__name__)

SUFFIX = "__rebuild"
BATCH = 2_000  # chunks read and written per call

ReindexProgress = Callable[[str, int, int], None]  # (step, done, total)


def missing_note(collection: str, held: int, ready: int) -> str | None:
    """What to say when the collection holds fewer chunks than the registry's ready documents have (a new
    `MILVUS_URI`, a lost or emptied Milvus): answers cannot find the rest until a rebuild; None when it holds them."""
    if held >= ready:
        return None
    return (f"collection {collection} holds {held:,} of the {ready:,} chunks of the registry's ready documents (a new "
            "MILVUS_URI, or Milvus data lost?): answers miss the rest until `bitrag reindex` rebuilds it from the "
            "registry, without re-embedding")


def _mark(store: MilvusStore) -> str:
    return f"reindex:{store.collection}"


async def reindex(store: MilvusStore, registry: Registry, progress: ReindexProgress | None = None,
                  needs_keywords: Callable[[list[str]], bool] = lambda texts: True) -> int:
    """Index keywords, then rebuild `store`'s collection; returns the number of chunks it holds afterwards."""
    await finish_interrupted(store, registry, progress)  # after it, no copy exists
    await move_texts(store, registry, progress)
    await index_keywords(store, registry, progress, needs_keywords)
    copy = store.collection + SUFFIX
    ids = await asyncio.to_thread(registry.ready_chunk_ids)
    await store.create_collection(copy)
    lost = await _copy_from_registry(store, registry, ids, copy, progress)
    await asyncio.to_thread(registry.set_marker, _mark(store), 1)
    await _restore(store, registry, ids, progress)
    return len(ids) - lost


async def move_texts(store: MilvusStore, registry: Registry, progress: ReindexProgress | None = None) -> int:
    """Step 0: the text, metadata and 1-bit code of every ready document's chunks into the registry, from the
    collection; returns how many documents got them."""
    documents = await asyncio.to_thread(registry.without_text)
    for done, document in enumerate(documents, start=1):
        ids = [cid for cid, text in await asyncio.to_thread(registry.texts, document) if text is None]
        records = await _milvus_records(store, ids)
        await asyncio.to_thread(registry.add_texts, document,
                                [(r.id, (r.text, r.meta), r.bits) for r in records.values()])
        if progress is not None:
            progress("texts", done, len(documents))
    return len(documents)


async def _milvus_records(store: MilvusStore, ids: list[int]) -> dict[int, ChunkRecord]:
    """The chunks `ids` as the collection holds them, when it holds their text (none otherwise)."""
    found: dict[int, ChunkRecord] = {}
    if store.holds_text:
        for start in range(0, len(ids), BATCH):
            found.update({r.id: r for r in await store.get_records(ids[start:start + BATCH])})
    return found


async def index_keywords(store: MilvusStore, registry: Registry, progress: ReindexProgress | None = None,
                         needs_keywords: Callable[[list[str]], bool] = lambda texts: True, share: float = 1.0) -> int:
    """Step 1: every ready document not yet in the keyword index that `needs_keywords` (of its chunk texts), from
    its chunk text (the registry's; the collection's for chunks whose text is not there); returns how many were
    indexed (a document forgotten or replaced meanwhile is left out: `Registry.add_keywords`). With `share` < 1 it
    pauses after each document and each merge so that it takes at most that share of the time: a serving bitrag's
    questions read the same registry, and wait while a document is written or a segment merged."""
    pacer = _Pacer(share)
    documents = await asyncio.to_thread(registry.unindexed)
    indexed = 0
    for done, document in enumerate(documents, start=1):
        chunks = await asyncio.to_thread(registry.texts, document)
        texts = {cid: r.text for cid, r in
                 (await _milvus_records(store, [cid for cid, text in chunks if text is None])).items()}
        texts.update({cid: text[0] for cid, text in chunks if text is not None})
        if len(texts) < len(chunks):
            log.warning("%s: the text of %d of its %d chunks is missing; indexed what is there", document.source,
                        len(chunks) - len(texts), len(chunks))
        chunk_texts = [texts.get(cid, "") for cid, _ in chunks]
        if needs_keywords(chunk_texts):
            analyzed = await asyncio.to_thread(analyze_chunks, chunk_texts)
            indexed += await asyncio.to_thread(registry.add_keywords, document, analyzed)
        if progress is not None:
            progress("keywords", done, len(documents))
        await pacer.pause()
    for tenant in await asyncio.to_thread(registry.tenants_with_keyword_rows):
        while await asyncio.to_thread(registry.merge_keywords, tenant, 1):
            await pacer.pause()
    return indexed


class _Pacer:
    """Sleeps after each step for as long as keeps the work to `share` of the time."""

    def __init__(self, share: float) -> None:
        self._share = share
        self._since = time.perf_counter()

    async def pause(self) -> None:
        if self._share < 1.0:
            await asyncio.sleep((time.perf_counter() - self._since) * (1 / self._share - 1))
        self._since = time.perf_counter()


async def finish_interrupted(store: MilvusStore, registry: Registry, progress: ReindexProgress | None = None) -> None:
    """Finish a rebuild that stopped after its copy was complete, or drop a copy that never completed."""
    copy = store.collection + SUFFIX
    if await asyncio.to_thread(registry.marker, _mark(store)):
        log.warning("Finishing an interrupted reindex of %s from its complete copy %s", store.collection, copy)
        await _restore(store, registry, await asyncio.to_thread(registry.ready_chunk_ids), progress)
    elif await store.has_collection(copy):
        log.warning("Dropping %s, the incomplete copy of an interrupted reindex; %s is unchanged", copy,
                    store.collection)
        await store.drop_collection(copy)


async def _restore(store: MilvusStore, registry: Registry, ids: list[int], progress: ReindexProgress | None) -> None:
    """Step 4: the original made again from the complete copy."""
    copy = store.collection + SUFFIX
    if await store.has_collection(store.collection):
        await store.drop_collection(store.collection)
    await store.create_collection(store.collection)
    for start in range(0, len(ids), BATCH):
        await store.insert(await store.get_records(ids[start:start + BATCH], copy))
        if progress is not None:
            progress("restore", min(start + BATCH, len(ids)), len(ids))
    await store.refresh_schema()
    await store.drop_collection(copy)
    await asyncio.to_thread(registry.set_marker, _mark(store), 0)


async def _copy_from_registry(store: MilvusStore, registry: Registry, ids: list[int], target: str,
                              progress: ReindexProgress | None) -> int:
    """Step 2: the chunks `ids` into `target` from the registry (codes it lacks from the original collection);
    returns how many had a code in neither, and were left out."""
    lost: dict[str, str] = {}  # doc_id → source of the documents with chunks left out
    left_out = 0
    for start in range(0, len(ids), BATCH):
        rows = await asyncio.to_thread(registry.chunk_rows, ids[start:start + BATCH])
        older = await store.get_bits([cid for cid, _, code, *_ in rows if code is None])
        records = []
        for cid, tenant, code, doc_id, source, text in rows:
            if (code := code or older.get(cid)) is None:
                lost[doc_id] = source
                left_out += 1
                continue
            text, meta = text or ("", {})
            records.append(ChunkRecord(id=cid, tenant=tenant, bits=code, doc_id=doc_id, source=source, text=text,
                                       meta=meta))
        await store.insert(records, target)
        if progress is not None:
            progress("copy", min(start + BATCH, len(ids)), len(ids))
    if lost:
        log.warning("%d chunk(s) of %d document(s) have no 1-bit code in the registry or in %s, and are left out of "
                    "the rebuilt collection: add these documents again (`bitrag sources` lists them): %s", left_out,
                    len(lost), store.collection, ", ".join(sorted(set(lost.values()))))
    return left_out
