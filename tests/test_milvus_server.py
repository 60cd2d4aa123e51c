"""The server-only paths of the store, against a real Milvus standalone server (PyPI `milvus==2.3.5`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from bot.settings import Settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.embed import LocalEmbedder
from tests.conftest import SAMPLE_DOCS


async def test_ivf_index_partition_key_and_reopening(milvus_server_uri: str, make_settings: Callable[..., Settings],
                                                     embedder: LocalEmbedder) -> None:
    collection = f"test_ivf_{uuid.uuid4().hex[:12]}"
    settings = make_settings(milvus_uri=milvus_server_uri, milvus_collection=collection, milvus_index="BIN_IVF_FLAT",
                             milvus_nlist=4, milvus_nprobe=4)
    service = await open_service(settings, embedder)
    try:
        files, _ = discover([SAMPLE_DOCS])
        assert not (await service.ingest(files, "acme")).failed
        await service.store.settle()  # sealed and indexed: searches now go through BIN_IVF_FLAT
        client = service.store.client
        index = await asyncio.to_thread(client.describe_index, collection, "vector")
        assert (index["index_type"], index["metric_type"], index["indexed_rows"]) == ("BIN_IVF_FLAT", "HAMMING", 27)
        fields = {f["name"]: f for f in (await asyncio.to_thread(client.describe_collection, collection))["fields"]}
        assert fields["tenant"].get("is_partition_key")

        answer = await service.ask("How long must passwords be?", "acme")
        assert answer.sources[0].source == "security-policy.pdf" and "14 characters" in answer.text
        assert (await service.ask("How long must passwords be?", "globex")).sources == []
    finally:
        await service.close()

    # A collection keeps the index it was built with, whatever MILVUS_INDEX says now.
    reopened = await open_service(make_settings(milvus_uri=milvus_server_uri, milvus_collection=collection), embedder)
    try:
        answer = await reopened.ask("When does Kestrel v2 ship?", "acme")
        assert answer.sources[0].source == "roadmap-q3-2026.pptx"
        await asyncio.to_thread(reopened.store.client.drop_collection, collection)
    finally:
        await reopened.close()
