"""Upgrading to collections without chunk text (schema 2): a knowledge base whose text is in Milvus, as every bitrag
wrote it before the registry held text, keeps answering; `bitrag reindex` moves the text into the registry without
re-embedding, and interrupted in any of its steps, the next start or run goes on with nothing lost, changed or shown
to another audience. Real Milvus Lite, real model."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import rag.reindex
from bot.doctor import diagnose
from bot.settings import Settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.embed import LocalEncoder
from rag.registry import ChunkText
from rag.service import RagService
from rag.store import ChunkRecord, MilvusStore
from tests.conftest import SAMPLE_DOCS
from tests.test_hybrid import Interrupted, forget_keywords, interrupt_at, reindex_without_embedding

PRIVATE = "globex:private"
VAULT = "The vault passphrase is ZEBRA-QUOKKA. Rotate it on the first of every month."


async def ingest_samples_and_vault(service: RagService, tmp_path: Path) -> None:
    """The sample documents for "acme" and a private one for another audience."""
    files, _ = discover([SAMPLE_DOCS])
    assert not (await service.ingest(files, "acme")).failed
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "vault.md").write_text(f"# Vault\n\n{VAULT}\n")
    files, _ = discover([tmp_path / "private"])
    assert not (await service.ingest(files, PRIVATE)).failed


async def legacy_knowledge_base(make_settings: Callable[..., Settings], embedder: LocalEncoder,
                                tmp_path: Path) -> dict[int, ChunkText]:
    """What an older bitrag leaves: chunk text and metadata in a schema-1 collection, none in the registry, no
    keyword index; the sample documents for "acme" and a private one for another audience. Returns the chunks'
    texts by id, as ingestion wrote them."""
    settings = make_settings()
    service = await open_service(settings, embedder)
    try:
        await ingest_samples_and_vault(service, tmp_path)
        documents = await asyncio.to_thread(service.registry.documents, ["acme", PRIVATE])
        chunks = {cid: (document, text) for document in documents
                  for cid, text in await asyncio.to_thread(service.registry.texts, document)}
        records = await service.store.get_records(list(chunks))
    finally:
        await service.close()
    legacy = MilvusStore(settings, text_in_milvus=True)
    await legacy.open(embedder.model_id, embedder.dim)
    try:
        await legacy.drop_collection(legacy.collection)
        await legacy.create_collection(legacy.collection)
        rows = []
        for record in records:
            document, text = chunks[record.id]
            assert text is not None
            rows.append(ChunkRecord(id=record.id, tenant=record.tenant, bits=record.bits, doc_id=document.doc_id,
                                    source=document.source, text=text[0], meta=text[1]))
        await legacy.insert(rows)
    finally:
        await legacy.close()
    db = sqlite3.connect(settings.registry_url.removeprefix("sqlite:///"))
    with db:
        db.execute("UPDATE chunks SET text = NULL, meta = NULL, bits = NULL")
    db.close()
    forget_keywords(settings.registry_url)
    return {cid: text for cid, (_, text) in chunks.items() if text is not None}


async def registry_texts(service: RagService) -> dict[int, ChunkText | None]:
    documents = await asyncio.to_thread(service.registry.documents, ["acme", PRIVATE])
    return {cid: text for document in documents
            for cid, text in await asyncio.to_thread(service.registry.texts, document)}


async def answers_as_before(service: RagService) -> None:
    """The answers of the knowledge base, and its audiences kept apart: the private passphrase in its own audience
    (the control), never in another's."""
    passwords = await service.ask("How long must passwords be?", "acme")
    assert passwords.sources[0].source == "security-policy.pdf" and "14 characters" in passwords.text
    vault = await service.ask("What is the vault passphrase?", PRIVATE)
    assert "ZEBRA-QUOKKA" in vault.text and vault.sources[0].source == "vault.md"
    elsewhere = await service.ask("What is the vault passphrase?", "acme")
    assert "ZEBRA" not in elsewhere.text and all(s.source != "vault.md" for s in elsewhere.sources)
    assert "ZEBRA" not in " ".join(s.text for s in elsewhere.sources if s.text)


async def doctor_on_milvus(settings: Settings) -> str:
    check = next(c for c in await diagnose(settings) if c.part.lower().startswith("milvus"))
    assert check.ok, check
    return check.detail


def collection_fields(service: RagService) -> set[str]:
    return {f["name"] for f in service.store.client.describe_collection(service.store.collection)["fields"]}


async def test_text_in_milvus_keeps_answering_until_reindex_moves_it(make_settings: Callable[..., Settings],
                                                                   embedder: LocalEncoder, tmp_path: Path) -> None:
    texts = await legacy_knowledge_base(make_settings, embedder, tmp_path)
    assert "`bitrag reindex` moves it to disk" in await doctor_on_milvus(make_settings())
    service = await open_service(make_settings(), embedder)
    try:
        assert service.store.text_to_move and "text" in collection_fields(service)
        assert (await service.stats("acme")).text_in_milvus
        await answers_as_before(service)  # read from Milvus: the registry has no text yet
        assert set((await registry_texts(service)).values()) == {None}
        # A document added before the reindex goes into the old collection and the registry alike.
        (tmp_path / "new").mkdir()
        (tmp_path / "new" / "parking.md").write_text("# Parking\n\nBicycles park in the basement, level -1.\n")
        files, _ = discover([tmp_path / "new"])
        assert not (await service.ingest(files, "acme")).failed
        assert (await service.ask("Where do bicycles park?", "acme")).sources[0].source == "parking.md"

        chunks = await service.store.count()
        assert await reindex_without_embedding(service) == (chunks, {"texts", "keywords", "copy", "restore"})

        assert not service.store.holds_text and "text" not in collection_fields(service)
        assert collection_fields(service) == {"id", "tenant", "vector"}
        assert not (await service.stats("acme")).text_in_milvus
        assert await asyncio.to_thread(service.registry.without_text) == []
        moved = await registry_texts(service)
        assert {cid: moved[cid] for cid in texts} == texts  # every chunk's text and metadata, unchanged
        codes = await asyncio.to_thread(service.registry.visible, ["acme", PRIVATE], list(texts), False)
        assert {cid: code for cid, (_, code) in codes.items()} == {
            r.id: r.bits for r in await service.store.get_records(list(texts))}  # and its 1-bit code
        await answers_as_before(service)  # now from the registry
        assert (await service.ask("Where do bicycles park?", "acme")).sources[0].source == "parking.md"
    finally:
        await service.close()
    on_milvus = await doctor_on_milvus(make_settings())
    assert "chunks" in on_milvus and "reindex" not in on_milvus  # the control: the same check, nothing to move


async def interrupted(make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path,
                      step: str) -> tuple[RagService, dict[int, ChunkText]]:
    """The legacy knowledge base, its reindex stopped in `step`; returns bitrag opened again (the next start)."""
    texts = await legacy_knowledge_base(make_settings, embedder, tmp_path)
    service = await open_service(make_settings(), embedder)
    try:
        with pytest.raises(Interrupted):
            await service.reindex(interrupt_at(step))
    finally:
        await service.close()
    return await open_service(make_settings(), embedder), texts


async def test_a_reindex_interrupted_while_moving_text_goes_on_where_it_stopped(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    reopened, texts = await interrupted(make_settings, embedder, tmp_path, "texts")
    try:
        half = await registry_texts(reopened)
        assert 0 < sum(text is not None for text in half.values()) < len(texts)  # one document moved, not all
        assert reopened.store.holds_text  # nothing dropped before every text is moved
        await answers_as_before(reopened)  # some from the registry, the rest still from Milvus
        assert await reopened.reindex() == len(texts)
        moved = await registry_texts(reopened)
        assert moved == texts and not reopened.store.holds_text
        await answers_as_before(reopened)
    finally:
        await reopened.close()


@pytest.mark.parametrize("step", ["keywords", "copy", "restore"])
async def test_a_reindex_interrupted_after_moving_text_loses_nothing(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Stopped while indexing keywords or copying (the original untouched), or while restoring (finished from the
    complete copy at the next start): the text is in the registry already, and answers read it from there."""
    monkeypatch.setattr(rag.reindex, "BATCH", 5)
    reopened, texts = await interrupted(make_settings, embedder, tmp_path, step)
    try:
        assert await registry_texts(reopened) == texts
        await answers_as_before(reopened)
        if step == "restore":  # finished at this start: the collection holds no text any more
            assert not reopened.store.holds_text and await reopened.store.count() == len(texts)
        else:
            assert reopened.store.holds_text
            assert await reopened.reindex() == len(texts) and not reopened.store.holds_text
        await answers_as_before(reopened)
        assert collection_fields(reopened) == {"id", "tenant", "vector"}
    finally:
        await reopened.close()


async def test_asymmetric_rescoring_reads_codes_from_the_registry_and_older_chunks_from_milvus(
        make_settings: Callable[..., Settings], embedder: LocalEncoder) -> None:
    """Milvus Lite's `get` scans every row (~175 ms per question at 10M chunks), so the codes asymmetric rescoring
    needs come from the registry; chunks recorded before it held them still come from Milvus, with the same answer."""
    settings = make_settings(rescore="asymmetric")
    service = await open_service(settings, embedder)
    asked: list[int] = []
    original = service.store.get_bits

    async def counting(ids: list[int]) -> dict[int, bytes]:  # instrumentation: every call goes to Milvus
        asked.extend(ids)
        return await original(ids)

    service.store.get_bits = counting  # type: ignore[method-assign]
    try:
        files, _ = discover([SAMPLE_DOCS])
        assert not (await service.ingest(files, "acme")).failed
        before = await service.ask("How long must passwords be?", "acme")
        assert before.sources[0].source == "security-policy.pdf" and "14 characters" in before.text
        assert asked == []  # every code from the registry
        db = sqlite3.connect(settings.registry_url.removeprefix("sqlite:///"))
        with db:
            db.execute("UPDATE chunks SET bits = NULL")  # as a registry from before it held them
        db.close()
        after = await service.ask("How long must passwords be?", "acme")
        assert asked  # the control: the same question now reads the codes from Milvus
        assert [s.source for s in after.sources] == [s.source for s in before.sources]
        assert [round(s.score, 6) for s in after.sources] == [round(s.score, 6) for s in before.sources]
    finally:
        await service.close()


async def private_and_sample_documents(make_settings: Callable[..., Settings], embedder: LocalEncoder,
                                       tmp_path: Path) -> int:
    """Today's knowledge base: the sample documents for "acme" and a private one for another audience; returns the
    chunks of its ready documents."""
    service = await open_service(make_settings(), embedder)
    try:
        await ingest_samples_and_vault(service, tmp_path)
        return await asyncio.to_thread(service.registry.ready_chunk_count)
    finally:
        await service.close()


async def test_a_new_milvus_is_filled_from_the_registry_alone(make_settings: Callable[..., Settings],
                                                              embedder: LocalEncoder, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """The registry is the truth and the collection derived from it: pointed at an empty Milvus (a new MILVUS_URI, or
    its data lost), bitrag says what is missing and `bitrag reindex` rebuilds it from the registry, embedding nothing,
    every chunk under its own audience."""
    chunks = await private_and_sample_documents(make_settings, embedder, tmp_path)
    # Dense retrieval: what the collection alone finds (hybrid's keyword search reads the registry, which has them).
    moved = make_settings(milvus_uri=str(tmp_path / "new-milvus.db"), retrieval="dense")
    doctor = next(c for c in await diagnose(moved) if c.part.lower().startswith("milvus"))
    assert not doctor.ok and f"holds 0 of the {chunks} chunks" in doctor.detail and "bitrag reindex" in doctor.detail
    caplog.clear()
    service = await open_service(moved, embedder)
    try:
        assert f"holds 0 of the {chunks} chunks" in caplog.text and "`bitrag reindex`" in caplog.text
        missing = await service.ask("How long must passwords be?", "acme")
        assert all(s.source != "security-policy.pdf" for s in missing.sources)  # nothing to find in the new Milvus

        rebuilt, steps = await reindex_without_embedding(service)
        assert rebuilt == chunks == await service.store.count() and {"copy", "restore"} <= steps
        assert "texts" not in steps  # every text is in the registry already
        await answers_as_before(service)
        documents = await asyncio.to_thread(service.registry.documents, ["acme", PRIVATE])
        audiences = {cid: d.tenant for d in documents for cid in await asyncio.to_thread(service.registry.chunk_ids, d)}
        assert {r.id: r.tenant for r in await service.store.get_records(list(audiences))} == audiences
    finally:
        await service.close()
    caplog.clear()
    reopened = await open_service(moved, embedder)  # the control: the same start, nothing missing now
    try:
        assert "bitrag reindex" not in caplog.text
    finally:
        await reopened.close()
    assert (await doctor_on_milvus(moved)).endswith(f"{chunks} chunks")


async def test_codes_missing_from_the_registry_come_from_the_old_collection_or_their_document_is_named(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A chunk recorded before the registry kept 1-bit codes takes its code from the collection it is in; a chunk
    whose code is nowhere (that collection lost too) is left out and its document named, never answered wrongly."""
    chunks = await private_and_sample_documents(make_settings, embedder, tmp_path)
    registry = make_settings().registry_url.removeprefix("sqlite:///")

    def drop_vault_codes() -> None:
        db = sqlite3.connect(registry)
        with db:
            db.execute("UPDATE chunks SET bits = NULL WHERE document IN (SELECT id FROM documents WHERE source = "
                       "'vault.md')")
        db.close()

    drop_vault_codes()
    service = await open_service(make_settings(), embedder)
    try:
        assert (await reindex_without_embedding(service))[0] == chunks
        await answers_as_before(service)  # the vault's codes came from the old collection
    finally:
        await service.close()

    drop_vault_codes()
    caplog.clear()
    service = await open_service(make_settings(milvus_uri=str(tmp_path / "new-milvus.db"), retrieval="dense"),
                                 embedder)  # what the rebuilt collection finds (the keyword index has the vault)
    try:
        vault = (await asyncio.to_thread(service.registry.documents, [PRIVATE]))[0]
        rebuilt = await service.reindex()
        assert rebuilt == chunks - vault.chunks == await service.store.count()
        assert "add these documents again" in caplog.text and ": vault.md" in caplog.text
        passwords = await service.ask("How long must passwords be?", "acme")
        assert passwords.sources[0].source == "security-policy.pdf"  # every other document rebuilt
        asked = await service.ask("What is the vault passphrase?", PRIVATE)
        assert "ZEBRA" not in asked.text and all(s.source != "vault.md" for s in asked.sources)
    finally:
        await service.close()
    # Hybrid: keyword search reads the registry, which still has the vault. With its float16 copy (RESCORE=precise,
    # the default) it is rescored and answered in its own audience; with neither a copy nor a code (asymmetric) it
    # cannot be rescored and is left out, without failing the question. Never outside its audience.
    for rescore, answered in (("precise", True), ("asymmetric", False)):
        service = await open_service(make_settings(milvus_uri=str(tmp_path / "new-milvus.db"), rescore=rescore),
                                     embedder)
        try:
            asked = await service.ask("What is the vault passphrase?", PRIVATE)
            assert ("ZEBRA" in asked.text) == answered, rescore
            assert "ZEBRA" not in (await service.ask("What is the vault passphrase?", "acme")).text
        finally:
            await service.close()
