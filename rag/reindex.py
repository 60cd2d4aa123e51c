"""`bitrag reindex`: put every document into the registry's keyword index and rebuild the Milvus collection with
today's schema, from what is stored, without re-embedding anything.

0. Documents not in the keyword index (added before it existed, or under RETRIEVAL=dense) are analyzed from their
   chunk text in Milvus and indexed where the service wants them (`RagService.needs_keywords`), one document per
   transaction (interrupted: the next run goes on with the documents still missing).

Milvus Lite can neither rename a collection nor give it an alias, so the rebuild goes through a second collection
and back, and every step can be interrupted:

1. Every chunk of the registry's ready documents is copied (bits, text, metadata) into `<collection>__rebuild`,
   made with the new schema. Interrupted: the original is untouched; the next run drops the partial copy.
2. The registry records that the copy is complete (one row, one transaction).
3. The original is dropped, made again with the new schema and filled from the copy; then the copy is dropped and
   the mark cleared. Interrupted: the next start of bitrag (`RagService.open`) or the next `reindex` finishes step 3
   from the copy before anything else reads or writes.

Run it with bitrag stopped: documents added to the original during step 1 would not be in the copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from rag.keywords import analyze_chunks
from rag.registry import Registry
from rag.store import MilvusStore

log = logging.getLogger(__name__)

SUFFIX = "__rebuild"
BATCH = 2_000  # chunks read and written per call

ReindexProgress = Callable[[str, int, int], None]  # (step, done, total)


def _mark(store: MilvusStore) -> str:
    return f"reindex:{store.collection}"


async def reindex(store: MilvusStore, registry: Registry, progress: ReindexProgress | None = None,
                  needs_keywords: Callable[[list[str]], bool] = lambda texts: True) -> int:
    """Index keywords, then rebuild `store`'s collection; returns the number of chunks it holds afterwards."""
    await finish_interrupted(store, registry, progress)  # after it, no copy exists
    await index_keywords(store, registry, progress, needs_keywords)
    copy = store.collection + SUFFIX
    ids = await asyncio.to_thread(registry.ready_chunk_ids)
    await store.create_collection(copy)
    await _copy(store, ids, store.collection, copy, "copy", progress)
    await asyncio.to_thread(registry.set_marker, _mark(store), 1)
    await _restore(store, registry, ids, progress)
    return len(ids)


async def index_keywords(store: MilvusStore, registry: Registry, progress: ReindexProgress | None = None,
                         needs_keywords: Callable[[list[str]], bool] = lambda texts: True) -> int:
    """Step 0: every ready document not yet in the keyword index that `needs_keywords` (of its chunk texts), from
    its chunk text in Milvus; returns how many were indexed."""
    documents = await asyncio.to_thread(registry.unindexed)
    indexed = 0
    for done, document in enumerate(documents, start=1):
        ids = await asyncio.to_thread(registry.chunk_ids, document)
        texts: dict[int, str] = {}
        for start in range(0, len(ids), BATCH):
            texts.update({r.id: r.text for r in await store.get_records(ids[start:start + BATCH])})
        if len(texts) < len(ids):
            log.warning("%s: %d of its %d chunks are missing from Milvus; indexed what is there", document.source,
                        len(ids) - len(texts), len(ids))
        chunk_texts = [texts.get(i, "") for i in ids]
        if needs_keywords(chunk_texts):
            analyzed = await asyncio.to_thread(analyze_chunks, chunk_texts)
            await asyncio.to_thread(registry.add_keywords, document, analyzed)
            indexed += 1
        if progress is not None:
            progress("keywords", done, len(documents))
    return indexed


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
    """Step 3: the original made again from the complete copy."""
    copy = store.collection + SUFFIX
    if await store.has_collection(store.collection):
        await store.drop_collection(store.collection)
    await store.create_collection(store.collection)
    await _copy(store, ids, copy, store.collection, "restore", progress)
    await store.refresh_schema()
    await store.drop_collection(copy)
    await asyncio.to_thread(registry.set_marker, _mark(store), 0)


async def _copy(store: MilvusStore, ids: list[int], source: str, target: str, step: str,
                progress: ReindexProgress | None) -> None:
    for start in range(0, len(ids), BATCH):
        records = await store.get_records(ids[start:start + BATCH], source)
        await store.insert(records, target)
        if progress is not None:
            progress(step, min(start + BATCH, len(ids)), len(ids))
