"""Hybrid retrieval (1-bit dense + BM25 of the registry's keyword index, or Milvus's own BM25), its fallbacks, and
`bitrag reindex` with its crash safety.

Everything runs on real Milvus Lite with the real model; the server without BM25 is tested in test_milvus_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

import rag.reindex
from bot import cli
from bot.core import BotCore
from bot.settings import Settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.embed import LocalEncoder
from rag.fusion import fuse
from rag.reindex import SUFFIX
from rag.service import RagService
from rag.tenants import scope_tenants
from tests.conftest import SAMPLE_DOCS

REASONS = ["the license server rejected the token", "the disk quota of the build agent is exhausted",
           "the upstream certificate expired", "the job queue is full", "the cache node is unreachable"]


def error_catalogue(folder: Path, count: int = 40) -> dict[str, str]:
    """Runbook pages that differ mostly by an error code: dense search alone cannot tell them apart."""
    rng = random.Random(7)
    codes = rng.sample(range(1000, 9999), count)
    folder.mkdir()
    answers = {}
    for n, code in enumerate(codes):
        reason = REASONS[n % len(REASONS)]
        name = f"runbook-{n:02d}.md"
        (folder / name).write_text(f"# Build failures\n\nError KX-{code} means {reason}. Page the on-call engineer "
                                   f"if it happens twice in an hour; the fix is described in ticket OPS-{n}.\n")
        answers[f"KX-{code}"] = name
    return answers


async def keyword_sources(service: RagService, scope: str | list[str], text: str, limit: int = 10) -> list[str]:
    """The sources of what keyword search alone returns for `text` in `scope`, best first."""
    tenants = scope_tenants(scope)
    found = (await service.retriever.keyword_search_many(tenants, [text], limit, fields=False))[0]
    chunks = await asyncio.to_thread(service.registry.chunks, tenants, [c.id for c in found])
    return [chunks[c.id]["source"] for c in found if c.id in chunks]


def forget_keywords(registry_url: str) -> None:
    """Make a registry look like one written before the keyword index (what its migration leaves: no keyword rows,
    `keyword_terms` NULL)."""
    db = sqlite3.connect(registry_url.removeprefix("sqlite:///"))
    with db:
        db.execute("DELETE FROM keyword_postings")
        db.execute("UPDATE documents SET keyword_terms = NULL")
    db.close()


async def top_sources(service: RagService, questions: dict[str, str], tenant: str) -> int:
    right = 0
    for code, name in questions.items():
        answer = await service.ask(f"What does error {code} mean?", tenant)
        right += answer.sources[0].source == name
    return right


async def test_keyword_search_finds_the_exact_code_that_dense_search_confuses(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    answers = error_catalogue(tmp_path / "runbooks")
    files, _ = discover([tmp_path / "runbooks"])
    asked = dict(list(answers.items())[:12])
    found = {}
    for mode, index in (("dense", "registry"), ("hybrid", "registry"), ("hybrid", "milvus")):
        name = f"{mode}-{index}"
        service = await open_service(make_settings(retrieval=mode, keyword_index=index,
                                                   milvus_uri=str(tmp_path / f"{name}.db"),
                                                   registry_url=f"sqlite:///{tmp_path / name}.sqlite3"), embedder)
        try:
            assert not (await service.ingest(files, "acme")).failed
            assert service.retriever.hybrid == (mode == "hybrid")
            assert (await service.stats("acme")).retrieval.startswith("hybrid" if mode == "hybrid" else "1-bit dense")
            found[name] = await top_sources(service, asked, "acme")
        finally:
            await service.close()
    print(f"right first source for 12 error codes: {found}")
    assert found["hybrid-registry"] == found["hybrid-milvus"] == 12
    assert found["dense-registry"] < 12  # the control: the codes are what tells these pages apart


@pytest_asyncio.fixture
async def hybrid(make_settings: Callable[..., Settings], embedder: LocalEncoder) -> AsyncIterator[RagService]:
    service = await open_service(make_settings(retrieval="hybrid"), embedder)
    yield service
    await service.close()


async def test_keyword_search_keeps_tenants_apart(hybrid: RagService, tmp_path: Path) -> None:
    service = hybrid
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "vault.md").write_text("The break-glass passphrase is ZEBRA-QUOKKA-77 and lives in the red binder.\n")
    files, _ = discover([secret])
    assert not (await service.ingest(files, "globex:private")).failed
    files, _ = discover([SAMPLE_DOCS])
    assert not (await service.ingest(files, "acme")).failed
    question = "ZEBRA-QUOKKA-77 break-glass passphrase red binder"
    assert service.retriever.hybrid
    # The control: keyword search alone, in the secret's own tenant, finds it.
    assert await keyword_sources(service, "globex:private", question) == ["vault.md"]
    assert (await service.ask(question, "globex:private")).sources[0].source == "vault.md"
    for scope in ("acme", ["acme", "globex"], "globex"):
        assert "vault.md" not in await keyword_sources(service, scope, question, 100)
        answer = await service.ask(question, scope)
        # (A refusal may repeat the question's own names — "never mention "ZEBRA"" — but nothing of the secret.)
        assert "lives in the red binder" not in answer.text and all(s.source != "vault.md" for s in answer.sources)


async def test_a_keyword_only_match_is_rescored_and_the_dont_know_threshold_still_holds(hybrid: RagService) -> None:
    service = hybrid
    files, _ = discover([SAMPLE_DOCS])
    assert not (await service.ingest(files, "acme")).failed
    answer = await service.ask("What is the wifi password in the office?", "acme")
    assert answer.sources[0].source == "office-and-wifi.txt" and 0.2 < answer.sources[0].score <= 1.0
    unrelated = await service.ask("Which striker scored in the 1986 world cup final?", "acme")
    assert not unrelated.grounded and unrelated.text.startswith("I don't know")


def test_fusion_orders_by_both_signals() -> None:
    dense = np.array([0.9, 0.5, 0.4, 0.1])
    keyword = np.array([0.0, 0.0, 12.0, 3.0])  # candidates 0, 1 were not returned by keyword search
    fused = fuse(dense, keyword, 0.5)
    assert list(np.argsort(-fused)) == [2, 0, 1, 3]
    assert list(np.argsort(-fuse(dense, keyword, 1.0))) == [0, 1, 2, 3]  # all dense
    assert fuse(dense, np.zeros(4), 0.5).max() == pytest.approx(0.5)  # no keyword match: dense order, halved
    assert fuse(np.array([0.3]), np.array([5.0]), 0.5) == pytest.approx([0.5])  # one candidate: no division by 0


# --- reindex ------------------------------------------------------------------------------------------------------

async def dense_only_knowledge_base(make_settings: Callable[..., Settings], embedder: LocalEncoder) -> int:
    """A knowledge base written by a bitrag without any keyword index (a collection without BM25, a registry from
    before the keyword index)."""
    settings = make_settings(retrieval="dense")
    old = await open_service(settings, embedder)
    try:
        files, _ = discover([SAMPLE_DOCS])
        report = await old.ingest(files, "acme")
        assert not report.failed
        count = await old.store.count()
    finally:
        await old.close()
    forget_keywords(settings.registry_url)
    return count


async def test_reindex_adds_keyword_search_without_reembedding(make_settings: Callable[..., Settings],
                                                               embedder: LocalEncoder) -> None:
    chunks = await dense_only_knowledge_base(make_settings, embedder)
    service = await open_service(make_settings(retrieval="hybrid"), embedder)
    try:
        assert "`bitrag reindex`" in (await service.stats("acme")).retrieval
        assert await keyword_sources(service, "acme", "passwords characters") == []  # not in the keyword index
        before = await service.ask("How long must passwords be?", "acme")
        documents = await service.sources("acme")

        assert await reindex_without_embedding(service) == (chunks, {"keywords", "copy", "restore"})
        assert service.retriever.hybrid and (await service.stats("acme")).retrieval.startswith("hybrid")
        assert await service.store.count() == chunks
        assert await service.sources("acme") == documents
        assert not await service.store.has_collection(service.store.collection + SUFFIX)
        after = await service.ask("How long must passwords be?", "acme")
        assert after.sources[0].source == before.sources[0].source == "security-policy.pdf"
        assert (await keyword_sources(service, "acme", "passwords characters", 3))[0] == "security-policy.pdf"
        assert await keyword_sources(service, "globex", "passwords characters") == []  # the tenant filter held
    finally:
        await service.close()


async def test_a_serving_bitrag_indexes_what_keyword_search_cannot_find_yet(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    """An upgrade to hybrid needs no manual step: `bitrag run` (any serving command: `cli._beside`) indexes the
    documents written under RETRIEVAL=dense from their stored text while it serves, embedding nothing."""
    await dense_only_knowledge_base(make_settings, embedder)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "vault.md").write_text("The break-glass passphrase is ZEBRA-QUOKKA-77 and lives in the red binder.\n")
    dense = await open_service(make_settings(retrieval="dense"), embedder)
    try:
        assert not (await dense.ingest(discover([secret])[0], "globex:private")).failed
    finally:
        await dense.close()
    settings = make_settings(retrieval="hybrid", metrics_port=0, bitrag_home=tmp_path / "home")
    service = await open_service(settings, embedder)
    indexed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    indexing = service.index_missing_keywords

    async def reporting() -> int:  # the real method, its result handed to the test
        try:
            indexed.set_result(await indexing())
        except BaseException as exc:
            indexed.set_exception(exc)
            raise
        return indexed.result()

    service.index_missing_keywords = reporting  # type: ignore[method-assign]
    secret_words = "ZEBRA-QUOKKA-77 break-glass passphrase red binder"
    try:
        documents = len(await asyncio.to_thread(service.registry.unindexed))
        assert documents == len(await service.sources("acme")) + 1  # the sample documents and the vault
        assert await keyword_sources(service, "acme", "passwords characters") == []  # not in the index yet
        with embedding_nothing(service):
            await cli._beside(BotCore(service), settings, asyncio.shield(indexed))  # serving until indexing is done
        assert indexed.result() == documents
        assert await asyncio.to_thread(service.registry.unindexed) == []
        assert (await keyword_sources(service, "acme", "passwords characters", 3))[0] == "security-policy.pdf"
        assert await keyword_sources(service, "globex:private", secret_words) == ["vault.md"]  # the control
        for scope in ("acme", "globex", ["acme", "globex"]):
            assert "vault.md" not in await keyword_sources(service, scope, secret_words, 100)
        assert "not in the keyword index" not in (await service.stats("acme")).retrieval
    finally:
        await service.close()


@contextlib.contextmanager
def embedding_nothing(service: RagService) -> Iterator[None]:
    """Checks that what runs inside embeds nothing (the real embedder, counted)."""
    embedded: list[str] = []
    original = service.embedder.embed

    async def counting(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return await original(texts)

    service.embedder.embed = counting  # type: ignore[method-assign]
    try:
        yield
    finally:
        service.embedder.embed = original  # type: ignore[method-assign]
    assert embedded == []


async def reindex_without_embedding(service: RagService) -> tuple[int, set[str]]:
    """`service.reindex()`, checked to embed nothing; returns the chunks it rebuilt and the steps it reported."""
    steps: set[str] = set()
    with embedding_nothing(service):
        chunks = await service.reindex(lambda step, done, total: steps.add(step))
    return chunks, steps


class Interrupted(Exception):
    pass


def interrupt_at(step: str) -> Callable[[str, int, int], None]:
    def progress(current: str, done: int, total: int) -> None:
        if current == step and done < total:
            raise Interrupted(step)
    return progress


async def interrupted_reindex(make_settings: Callable[..., Settings], embedder: LocalEncoder, step: str,
                              check: Callable[[RagService, int], Awaitable[None]]) -> tuple[RagService, int]:
    """A dense-only knowledge base whose reindex stops (an exception) in `step` after its first batch of 5;
    `check` runs before that process closes; returns bitrag opened again, as at the next start, and the chunks."""
    chunks = await dense_only_knowledge_base(make_settings, embedder)
    service = await open_service(make_settings(retrieval="hybrid"), embedder)
    try:
        with pytest.raises(Interrupted):
            await service.reindex(interrupt_at(step))
        await check(service, chunks)
    finally:
        await service.close()
    return await open_service(make_settings(retrieval="hybrid"), embedder), chunks


async def test_a_reindex_interrupted_while_copying_leaves_the_original(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.reindex, "BATCH", 5)

    async def partial_copy(service: RagService, chunks: int) -> None:
        assert await service.store.has_collection(service.store.collection + SUFFIX)

    reopened, chunks = await interrupted_reindex(make_settings, embedder, "copy", partial_copy)
    try:
        assert not await reopened.store.has_collection(reopened.store.collection + SUFFIX)  # dropped at start
        assert await reopened.store.count() == chunks  # the original, unchanged
        assert (await reopened.ask("How long must passwords be?", "acme")).sources[0].source == "security-policy.pdf"
        assert await reopened.reindex() == chunks and reopened.retriever.hybrid  # and it can be run again
    finally:
        await reopened.close()


async def test_a_reindex_interrupted_while_restoring_is_finished_at_the_next_start(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.reindex, "BATCH", 5)

    async def half_restored(service: RagService, chunks: int) -> None:
        assert 0 < await service.store.count() < chunks  # the original is half refilled at this point

    reopened, chunks = await interrupted_reindex(make_settings, embedder, "restore", half_restored)
    try:
        assert await reopened.store.count() == chunks
        assert not await reopened.store.has_collection(reopened.store.collection + SUFFIX)
        assert (await reopened.ask("How long must passwords be?", "acme")).sources[0].source == "security-policy.pdf"
    finally:
        await reopened.close()


async def test_a_reindex_interrupted_while_indexing_keywords_goes_on_where_it_stopped(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    async def one_document_indexed(service: RagService, chunks: int) -> None:
        assert len(await asyncio.to_thread(service.registry.unindexed)) == len(await service.sources("acme")) - 1

    reopened, chunks = await interrupted_reindex(make_settings, embedder, "keywords", one_document_indexed)
    try:
        assert await reopened.store.count() == chunks
        assert await reopened.reindex() == chunks
        assert await asyncio.to_thread(reopened.registry.unindexed) == []
        assert (await keyword_sources(reopened, "acme", "passwords characters", 3))[0] == "security-policy.pdf"
        # Each document indexed once: the frequencies are those of a fresh index of the same documents.
        counts = await asyncio.to_thread(reopened.registry.document_frequencies, ["acme"], ["password", "vacat"])
    finally:
        await reopened.close()
    fresh = await open_service(make_settings(retrieval="hybrid", milvus_uri=str(tmp_path / "fresh.db"),
                                             registry_url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}"), embedder)
    try:
        files, _ = discover([SAMPLE_DOCS])
        assert not (await fresh.ingest(files, "acme")).failed
        assert counts == await asyncio.to_thread(fresh.registry.document_frequencies, ["acme"], ["password", "vacat"])
        assert counts["password"] >= 1
    finally:
        await fresh.close()
