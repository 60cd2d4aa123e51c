"""The server-only paths of the store, against a real Milvus standalone server (PyPI `milvus==2.3.5`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.embed import LocalEncoder
from rag.errors import ConfigError
from tests.conftest import MILVUS_SERVER_TOKEN, SAMPLE_DOCS
from tests.test_hybrid import reindex_without_embedding
from tests.test_pipeline import QUESTIONS, ingest_samples
from tests.test_upgrade import answers_as_before, private_and_sample_documents


async def test_ivf_index_partition_key_and_reopening(milvus_server_uri: str, make_settings: Callable[..., Settings],
                                                     embedder: LocalEncoder) -> None:
    collection = f"test_ivf_{uuid.uuid4().hex[:12]}"
    settings = make_settings(milvus_uri=milvus_server_uri, milvus_token=MILVUS_SERVER_TOKEN,
                             milvus_collection=collection, milvus_index="BIN_IVF_FLAT", milvus_nlist=4, milvus_nprobe=4)
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
    reopened = await open_service(make_settings(milvus_uri=milvus_server_uri, milvus_token=MILVUS_SERVER_TOKEN,
                                                milvus_collection=collection), embedder)
    try:
        answer = await reopened.ask("When does Kestrel v2 ship?", "acme")
        assert answer.sources[0].source == "roadmap-q3-2026.pptx"
        await asyncio.to_thread(reopened.store.client.drop_collection, collection)
    finally:
        await reopened.close()


async def test_milvus_token_is_required_and_checked(milvus_server_uri: str, make_settings: Callable[..., Settings],
                                                    embedder: LocalEncoder) -> None:
    """The session's server is secured (authorizationEnabled): the tests above authenticate with MILVUS_TOKEN; a
    wrong or missing token fails at once with a message naming MILVUS_TOKEN, not after the start-up retries, and
    without echoing the token."""
    started = time.monotonic()
    for token in ("root:not-the-password", None):
        with pytest.raises(ConfigError) as refused:
            await open_service(make_settings(milvus_uri=milvus_server_uri, milvus_token=token), embedder)
        assert "refused the credentials: set MILVUS_TOKEN" in str(refused.value)
        assert "not-the-password" not in str(refused.value)
    assert time.monotonic() - started < 30  # MILVUS_STARTUP_WAIT_S is 60: no retries


async def test_hybrid_retrieval_on_a_server_without_bm25(milvus_server_uri: str, make_settings: Callable[..., Settings],
                                                         embedder: LocalEncoder, tmp_path: Path) -> None:
    """Milvus 2.3.5 has neither sparse vectors nor BM25. Hybrid retrieval works there with the registry's keyword
    index (the default); with KEYWORD_INDEX=milvus it makes a dense collection, answers, and says why on every status
    surface (stats and the web panel show `retrieval`; doctor prints the same note)."""
    for index in ("registry", "milvus"):
        collection = f"test_hybrid_{uuid.uuid4().hex[:12]}"
        service = await open_service(make_settings(milvus_uri=milvus_server_uri, milvus_token=MILVUS_SERVER_TOKEN,
                                                   milvus_collection=collection, retrieval="hybrid",
                                                   keyword_index=index,
                                                   registry_url=f"sqlite:///{tmp_path / index}.sqlite3"), embedder)
        try:
            assert not service.store.keywords  # no BM25 in this Milvus either way
            files, _ = discover([SAMPLE_DOCS])
            assert not (await service.ingest(files, "acme")).failed
            answer = await service.ask("How long must passwords be?", "acme")
            assert answer.sources[0].source == "security-policy.pdf"
            note = (await service.stats("acme")).retrieval
            found = [await service.retriever.keyword_search_many([tenant], ["passwords characters"], 5, fields=False)
                     for tenant in ("acme", "globex")]
            if index == "registry":
                assert service.retriever.hybrid and note.startswith("hybrid"), note
                assert found[0][0] and not found[1][0]  # found in its tenant; the control: not in another
            else:
                assert not service.retriever.hybrid and found == [[[]], [[]]]
                assert note.startswith("dense only: this Milvus server (v2.3.5"), note
                assert "has no BM25" in note and "upgrade it to 2.5" in note, note
            await asyncio.to_thread(service.store.client.drop_collection, collection)
        finally:
            await service.close()


async def test_questions_batched_on_a_server_with_an_ivf_index(milvus_server_uri: str,
                                                                make_settings: Callable[..., Settings],
                                                                embedder: LocalEncoder) -> None:
    """Batched retrieval fetches the chunks it keeps by id: on a server with a `query` (its primary-key index, the
    scope's filter included), not with a search, whose IVF probing could miss some."""
    collection = f"test_batched_{uuid.uuid4().hex[:12]}"
    service = await open_service(make_settings(milvus_uri=milvus_server_uri, milvus_token=MILVUS_SERVER_TOKEN,
                                               milvus_collection=collection, milvus_index="BIN_IVF_FLAT",
                                               milvus_nlist=4, milvus_nprobe=4), embedder)
    try:
        await ingest_samples(service)
        before = service.queries.batch_counts()
        answers = await asyncio.gather(*(service.ask(q, "acme") for q, _, _ in QUESTIONS * 3))
        batches, asked, _ = (a - b for a, b in zip(service.queries.batch_counts(), before, strict=True))
        assert asked == len(answers) and batches < asked  # batches did form
        for answer, (question, expected, _) in zip(answers, QUESTIONS * 3, strict=True):
            assert answer.sources and answer.sources[0].source == expected, (question, answer.sources)
            assert all(s.text for s in answer.sources)
    finally:
        await asyncio.to_thread(service.store.client.drop_collection, collection)
        await service.close()


async def test_moving_from_milvus_lite_to_a_server_rebuilds_from_the_registry(
        milvus_server_uri: str, make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    """A knowledge base built on Milvus Lite, then MILVUS_URI set to a server: `bitrag reindex` fills the server's
    collection from the registry alone (no re-embedding, every chunk under its own audience)."""
    chunks = await private_and_sample_documents(make_settings, embedder, tmp_path)
    collection = f"test_moved_{uuid.uuid4().hex[:12]}"
    service = await open_service(make_settings(milvus_uri=milvus_server_uri, milvus_token=MILVUS_SERVER_TOKEN,
                                               milvus_collection=collection), embedder)
    try:
        assert await service.store.count() == 0
        assert (await reindex_without_embedding(service))[0] == chunks == await service.store.count()
        await answers_as_before(service)
        await asyncio.to_thread(service.store.client.drop_collection, collection)
    finally:
        await service.close()
