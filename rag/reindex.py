"""`bitrag reindex`: rebuild the Milvus collection with today's schema (e.g. to add the BM25 keyword index to a
collection made before hybrid retrieval) from what is stored, without re-embedding anything.

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

from rag.registry import Registry
from rag.store import MilvusStore

log = logging.getLogger(__name__)

SUFFIX = "__rebuild"
BATCH = 2_000  # chunks read and written per call

ReindexProgress = Callable[[str, int, int], None]  # (step, done, total)


def _mark(store: MilvusStore) -> str:
    return f"reindex:{store.collection}"


async def reindex(store: MilvusStore, registry: Registry, progress: ReindexProgress | None = None) -> int:
    """Rebuild `store`'s collection; returns the number of chunks it holds afterwards."""
    await finish_interrupted(store, registry, progress)  # after it, no copy exists
    copy = store.collection + SUFFIX
    ids = await asyncio.to_thread(registry.ready_chunk_ids)
    await store.create_collection(copy)
    await _copy(store, ids, store.collection, copy, "copy", progress)
    await asyncio.to_thread(registry.set_marker, _mark(store), 1)
    await _restore(store, registry, ids, progress)
    return len(ids)


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
