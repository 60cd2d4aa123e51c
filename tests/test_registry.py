"""The document registry on SQLite and on a real PostgreSQL server (Debian's `postgresql`), and two replicas
sharing a PostgreSQL registry and a Milvus server, as in a Kubernetes deployment."""

from __future__ import annotations

import asyncio
import math
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from bot.feedback import FeedbackStore
from bot.settings import Settings
from bot.wiring import open_service
from ingest.discover import discover
from rag import keywords
from rag.analyze import question_terms, terms
from rag.database import Database
from rag.embed import LocalEncoder
from rag.errors import ConfigError, DocumentNotFoundError
from rag.keywords import analyze_chunks
from rag.registry import Registry
from tests.conftest import MILVUS_SERVER_TOKEN, SAMPLE_DOCS
from tests.postgres_server import postgres_bin, postgres_server
from tests.system import require


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL server for the session (~2 s to start)."""
    require(postgres_bin(), "postgresql")
    with postgres_server() as url:
        yield url


@pytest.fixture
def fresh_postgres(postgres_url: str) -> str:
    """A new, empty database on the session's server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    return request.getfixturevalue("fresh_postgres")


def test_document_lifecycle(registry_url: str) -> None:
    registry = Registry(registry_url)
    try:
        vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
        codes = np.packbits(vectors > 0, axis=1)
        first, ids = registry.begin("acme", "doc-1", "a.md", "key-a", None, 3, vectors, bits=codes)
        assert ids == [1, 2, 3] and first.state == "pending"
        assert registry.visible(["acme"], ids, with_vectors=True) == {}  # pending: invisible
        assert registry.abandoned() == [first]

        assert registry.commit(first) == []
        visible = registry.visible(["acme"], ids, with_vectors=True)
        assert np.array_equal(np.frombuffer(visible[2][0], np.float16), vectors[1].astype(np.float16))
        assert visible[2][1] == codes[1].tobytes()  # the 1-bit code, for asymmetric rescoring
        assert registry.visible(["globex"], ids, with_vectors=False) == {}

        second, new_ids = registry.begin("acme", "doc-2", "a.md", "key-a", "https://x/a", 2, None)
        assert new_ids == [4, 5]  # ids are never reused
        retired = registry.commit(second)
        assert [d.doc_id for d in retired] == ["doc-1"] and retired[0].state == "ready"
        assert [d.doc_id for d in registry.documents(["acme"])] == ["doc-2"]
        assert registry.visible(["acme"], [*ids, *new_ids], with_vectors=True) == {4: (None, None), 5: (None, None)}
        assert [d.state for d in registry.abandoned()] == ["deleting"]

        assert registry.resolve(["acme"], "a.md").doc_id == "doc-2"
        with pytest.raises(DocumentNotFoundError):
            registry.resolve(["globex"], "a.md")
        registry.remove(retired[0])
        assert registry.chunk_ids(retired[0]) == [] and registry.abandoned() == []
        assert registry.chunk_ids(second) == [4, 5]
    finally:
        registry.close()


def test_chunk_text_is_read_only_for_ready_documents_of_the_scope(registry_url: str) -> None:
    """Answers read chunk text from the registry by id: the ids of a pending, retired or other tenant's document
    give nothing; the same ids in the right scope give the text, its metadata and its document."""
    registry = Registry(registry_url)
    try:
        secret = [("The vault passphrase is ZEBRA-QUOKKA.\x00", {"location": "Vault", "link": None}),
                  ("Rotate it every month.", {})]
        document, ids = registry.begin("globex:private", "vault", "vault.md", "vault", None, 2, None, texts=secret)
        assert registry.chunks(["globex:private"], ids) == {}  # pending
        registry.commit(document)
        found = registry.chunks(["globex:private"], ids)  # the control
        assert found[ids[0]] == {"doc_id": "vault", "source": "vault.md", "meta": {"location": "Vault", "link": None},
                                 "text": "The vault passphrase is ZEBRA-QUOKKA."}  # NUL dropped (PostgreSQL's TEXT)
        for scope in (["globex"], ["acme"], ["acme", "globex:other"]):
            assert registry.chunks(scope, ids) == {}
        assert registry.texts(document) == [(cid, (text.replace("\x00", ""), meta))
                                            for cid, (text, meta) in zip(ids, secret, strict=True)]
        registry.mark_deleting(document)
        assert registry.chunks(["globex:private"], ids) == {}  # being forgotten
        # A registry from before it held text: NULL until `add_texts` (what `bitrag reindex` does).
        old, old_ids = registry.begin("acme", "old", "old.md", "old", None, 2, None)
        registry.commit(old)
        assert registry.chunks(["acme"], old_ids) == {} and registry.without_text() == [registry.find("acme", "old")]
        registry.add_texts(old, [(old_ids[0], ("first", {}), b"\x01"), (old_ids[1], ("second", {"location": "B"}),
                                                                            None)])
        assert registry.without_text() == []
        moved = registry.chunks(["acme"], old_ids)
        assert [moved[i]["text"] for i in old_ids] == ["first", "second"] and moved[old_ids[1]]["meta"] == {
            "location": "B"}
        assert registry.chunks(["globex:private"], old_ids) == {}
        assert [code for _, code in registry.visible(["acme"], old_ids, False).values()] in ([b"\x01", None],
                                                                                             [None, b"\x01"])
    finally:
        registry.close()


def add(registry: Registry, tenant: str, doc_id: str, texts: list[str], commit: bool = True) -> list[int]:
    document, ids = registry.begin(tenant, doc_id, f"{doc_id}.md", doc_id, None, len(texts), None,
                                   analyzed=analyze_chunks(texts))
    if commit:
        registry.commit(document)
    return ids


def found(registry: Registry, tenants: list[str], text: str) -> list[int]:
    return [cid for cid, _ in registry.keyword_search(tenants, text, 10)]


def test_keyword_search_sees_what_dense_search_sees(registry_url: str) -> None:
    """Keyword rows commit with their document: pending and forgotten documents, and other tenants', are not found."""
    registry = Registry(registry_url)
    try:
        ids = add(registry, "acme", "policy", ["Passwords have at least 14 characters.", "Badges open the lobby."])
        assert found(registry, ["acme"], "How long must a password be?") == [ids[0]]  # the control: stemmed, found
        secret = add(registry, "globex:private", "vault", ["The vault passphrase is ZEBRA-QUOKKA."])
        assert found(registry, ["globex:private"], "vault passphrase") == secret
        for scope in (["acme"], ["globex"], ["acme", "globex"]):
            assert found(registry, scope, "vault passphrase zebra quokka") == []
        pending = add(registry, "acme", "draft", ["The vault of drafts opens on Mondays."], commit=False)
        assert found(registry, ["acme"], "vault Mondays") == []  # pending: invisible
        registry.commit(registry.find("acme", "draft"))  # type: ignore[arg-type]
        assert found(registry, ["acme"], "vault Mondays") == pending
        document = registry.find("acme", "draft")
        assert document is not None
        registry.mark_deleting(document)
        assert found(registry, ["acme"], "vault Mondays") == []
        registry.remove(document)
        assert registry.document_frequencies(["acme"], ["vault", "password"]) == {"password": 1}
    finally:
        registry.close()


def test_keywords_added_later_go_only_to_a_ready_document_outside_the_index(registry_url: str) -> None:
    """What a serving bitrag's background indexing relies on (`RagService.index_missing_keywords`): a document
    forgotten, replaced or still pending meanwhile gets no postings that would outlive it, and none is indexed twice."""
    registry = Registry(registry_url)
    texts = ["The vault of drafts opens on Mondays."]

    def unindexed(doc_id: str, commit: bool = True) -> tuple[Any, list[int]]:
        document, ids = registry.begin("acme", doc_id, f"{doc_id}.md", doc_id, None, len(texts), None)
        if commit:
            registry.commit(document)
        return document, ids

    def postings(document: Any) -> int:
        return int(registry._db.execute("SELECT count(*) FROM keyword_postings WHERE document = ?",
                                         (document.pk,))[0][0])

    try:
        kept, kept_ids = unindexed("kept")
        gone, _ = unindexed("gone")
        pending, _ = unindexed("pending", commit=False)
        assert found(registry, ["acme"], "vault Mondays") == []  # nothing in the keyword index yet
        registry.mark_deleting(gone)
        assert not registry.add_keywords(gone, analyze_chunks(texts))
        assert not registry.add_keywords(pending, analyze_chunks(texts))
        assert postings(gone) == postings(pending) == 0
        registry.remove(gone)
        assert registry.add_keywords(kept, analyze_chunks(texts))  # the control: a ready document is indexed
        assert postings(kept) > 0 and found(registry, ["acme"], "vault Mondays") == kept_ids
        assert not registry.add_keywords(kept, analyze_chunks(texts))  # already in: not twice
        assert registry.document_frequencies(["acme"], ["vault"]) == {"vault": 1}
    finally:
        registry.close()


def test_keyword_statistics_come_from_the_searched_audience_only(registry_url: str) -> None:
    """BM25 weighs a word by its rarity: counted over every tenant, one tenant's documents would move another's
    ranking (a side channel). Other tenants' documents change nothing; the same documents in the scope do."""
    registry = Registry(registry_url)
    try:
        add(registry, "acme", "a", ["Badges open the lobby on weekdays.", "Visitors sign in at the lobby desk.",
                                    "Parking is free for visitors."])
        before = registry.keyword_search(["acme"], "lobby visitors", 10)
        add(registry, "globex", "b", [f"The lobby is closed for renovation, part {n}." for n in range(20)])
        assert registry.keyword_search(["acme"], "lobby visitors", 10) == before
        assert registry.document_frequencies(["acme"], ["lobbi"]) == {"lobbi": 2}
        add(registry, "acme", "c", [f"The lobby is closed for renovation, part {n}." for n in range(20)])
        after = dict(registry.keyword_search(["acme"], "lobby visitors", 10))
        assert {cid: after.get(cid) for cid, _ in before} != dict(before)  # the control: the scope's own do
    finally:
        registry.close()


def knowledge_base(registry: Registry, tenant: str, documents: int) -> dict[str, list[int]]:
    """`documents` small documents of shared words, each with a word of its own ("uniq<n>"); returns their ids."""
    rng = random.Random(7)
    words = ["badge", "lobby", "visitor", "parking", "laptop", "expense", "hotel", "meal", "password", "vpn"]
    return {f"doc{n}": add(registry, tenant, f"doc{n}", [" ".join(rng.choices(words, k=12)) + f" uniq{n}."
                                                         for _ in range(1 + n % 3)]) for n in range(documents)}


QUERIES = ["badge lobby", "hotel meal expense", "password vpn laptop", "uniq3 parking", "uniq17 visitor"]


def results(registry: Registry, tenants: list[str]) -> list[list[tuple[int, float]]]:
    return [[(cid, round(score, 9)) for cid, score in registry.keyword_search(tenants, q, 1000)] for q in QUERIES]


def test_merged_keyword_segments_find_what_the_rows_they_replace_found(registry_url: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Small documents' keyword rows are merged into segments (then small segments into larger ones): the same
    chunks and scores as rows of their own; a merged document being replaced or forgotten is found no more, at
    once; another audience's merged documents are never found (each checked against its control)."""
    monkeypatch.setattr(keywords, "MERGE_DOCUMENTS", 10**9)
    plain = Registry(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    monkeypatch.setattr(keywords, "MERGE_DOCUMENTS", 4)
    monkeypatch.setattr(keywords, "MERGE_SEGMENTS", 3)
    monkeypatch.setattr(keywords, "SEGMENT_CHUNKS", 48)
    registry = Registry(registry_url)
    try:
        monkeypatch.setattr(keywords, "MERGE_DOCUMENTS", 10**9)
        knowledge_base(plain, "acme", 30)
        monkeypatch.setattr(keywords, "MERGE_DOCUMENTS", 4)
        ids = knowledge_base(registry, "acme", 30)
        segments = registry._db.execute("SELECT COUNT(DISTINCT segment) FROM keyword_segments")[0][0]
        merged = registry._db.execute("SELECT COUNT(*) FROM documents WHERE keyword_segment IS NOT NULL")[0][0]
        assert merged >= 24 and 1 < segments < merged / 4  # documents merged, then segments merged
        assert registry._db.execute("SELECT COUNT(*) FROM keyword_postings")[0][0] < \
            plain._db.execute("SELECT COUNT(*) FROM keyword_postings")[0][0] / 4
        assert results(registry, ["acme"]) == results(plain, ["acme"])
        counted = list(terms("badge uniq3"))
        assert registry.document_frequencies(["acme"], counted) == plain.document_frequencies(["acme"], counted)

        knowledge_base(registry, "globex:private", 12)  # another audience, merged as well
        assert set(found(registry, ["globex:private"], "uniq3")) != set()  # the control: in its own audience
        assert set(found(registry, ["acme"], "uniq3")) == set(ids["doc3"])
        assert results(registry, ["acme"]) == results(plain, ["acme"])  # its statistics move nothing here

        doc3 = registry.find("acme", "doc3")
        assert doc3 is not None and registry._db.execute(
            "SELECT keyword_segment FROM documents WHERE id = ?", (doc3.pk,))[0][0] is not None
        registry.mark_deleting(doc3)  # forgotten: out of every search at once, before it is removed
        assert found(registry, ["acme"], "uniq3") == []
        assert registry.document_frequencies(["acme"], list(terms("uniq3"))) == {}
        registry.remove(doc3)
        held = np.frombuffer(b"".join(bytes(r[0]) for r in registry._db.execute(
            "SELECT postings FROM keyword_segments WHERE tenant = 'acme'")), dtype=keywords.POSTING)["chunk"]
        assert not set(ids["doc3"]) & set(held.tolist()) and set(ids["doc4"]) <= set(held.tolist())
        plain.mark_deleting(plain.find("acme", "doc3"))  # type: ignore[arg-type]
        assert results(registry, ["acme"]) == results(plain, ["acme"])
        assert plain.merge_keywords("acme") >= 2  # a registry written before segments: its backlog, merged
        assert results(plain, ["acme"]) == results(registry, ["acme"])

        assert set(found(registry, ["acme"], "uniq17")) == set(ids["doc17"])  # the control
        new, _ = registry.begin("acme", "doc17-v2", "doc17.md", "doc17", None, 1, None,
                                analyzed=analyze_chunks(["A new version: uniq99 only."]))
        registry.commit(new)  # the old version, in a segment, is retired
        assert found(registry, ["acme"], "uniq17") == [] and len(found(registry, ["acme"], "uniq99")) == 1
    finally:
        registry.close()
        plain.close()


def reference_bm25(chunks: dict[int, str], question: str, limit: int) -> list[tuple[int, float]]:
    """BM25 as Lucene defines it, over every chunk, written out plainly: the ranking the index must return."""
    counts = {cid: Counter(terms(text)) for cid, text in chunks.items()}
    lengths = {cid: sum(c.values()) for cid, c in counts.items()}
    mean = sum(lengths.values()) / len(chunks)
    scores: dict[int, float] = {}
    for term in sorted(set(question_terms(question))):
        holding = [cid for cid in chunks if counts[cid][term]]
        idf = math.log(1 + (len(chunks) - len(holding) + 0.5) / (len(holding) + 0.5))
        for cid in holding:
            tf = counts[cid][term]
            norm = keywords.K1 * (1 - keywords.B + keywords.B * lengths[cid] / mean)
            scores[cid] = scores.get(cid, 0.0) + idf * tf * (keywords.K1 + 1) / (tf + norm)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]


def test_keyword_scores_are_bm25_over_the_scope(registry_url: str) -> None:
    """Every keyword search returns exactly BM25's best chunks, ties to the older chunk, whichever way the index
    sums them: common words (postings on most chunks), rare ones (a few), one word, many, small merged documents and
    a large one. Words repeat from a small vocabulary, so many chunks tie."""
    rng = random.Random(11)
    vocabulary = ["badge"] * 8 + ["lobby"] * 5 + ["visitor"] * 3 + ["parking", "laptop", "hotel", "meal", "vpn"]
    registry = Registry(registry_url)
    try:
        chunks: dict[int, str] = {}
        for n in range(40):  # small documents: merged into a segment
            texts = [" ".join(rng.choices(vocabulary, k=rng.randint(3, 9))) for _ in range(3)]
            chunks.update(zip(add(registry, "acme", f"small{n}", texts), texts, strict=True))
        texts = [" ".join(rng.choices(vocabulary, k=rng.randint(3, 9))) + (" zebra" if i % 97 == 0 else "")
                 for i in range(600)]
        chunks.update(zip(add(registry, "acme", "large", texts), texts, strict=True))
        add(registry, "globex", "other", ["zebra badge lobby"] * 50)  # another audience: moves nothing here
        assert registry._db.execute("SELECT COUNT(*) FROM keyword_segments")[0][0] > 0
        for question in ["badge", "zebra", "lobby visitor", "zebra parking badge", "hotel meal vpn laptop",
                         "badge lobby visitor parking laptop hotel meal vpn zebra"]:
            for limit in (5, 40, 1000):
                got = [(cid, round(score, 9)) for cid, score in registry.keyword_search(["acme"], question, limit)]
                assert got == [(cid, round(score, 9)) for cid, score in reference_bm25(chunks, question, limit)]
    finally:
        registry.close()


def test_top_chunks_are_summed_exactly_however_their_ids_spread() -> None:
    """`keywords._top` picks the best chunks at the postings when few, over the id range when many, and by sorting
    when ids are far apart: each is checked against plain sums, with ties."""
    rng = np.random.default_rng(3)
    for spread, per_term in [(200, 150), (100_000, 50), (50_000_000, 40), (10, 8)]:
        for terms_asked, tied in [(1, True), (2, True), (5, True), (2, False), (5, False)]:
            pool = rng.choice(spread, size=min(2 * per_term, spread), replace=False)  # terms share chunks
            parts = [rng.choice(pool, size=min(per_term, len(pool)), replace=False) for _ in range(terms_asked)]
            ids = np.concatenate(parts).astype(np.int64) + 1_000
            scores = np.concatenate([np.full(len(p), float(rng.integers(1, 4))) if tied else rng.random(len(p))
                                     for p in parts])
            sums: dict[int, float] = {}
            for cid, score in zip(ids.tolist(), scores.tolist(), strict=True):
                sums[cid] = sums.get(cid, 0.0) + score
            for limit in (1, 7, 10_000):
                expected = sorted(sums.items(), key=lambda item: (-item[1], item[0]))[:limit]
                assert keywords._top(ids, scores, terms_asked, limit) == expected


def test_korean_text_is_searched_by_its_morphemes(registry_url: str) -> None:
    registry = Registry(registry_url)
    try:
        ids = add(registry, "acme", "handbook", ["연차 휴가는 입사 첫해에 15일이 주어집니다.",
                                                 "출장비는 출장 후 2주 안에 경비 시스템으로 정산합니다."])
        assert found(registry, ["acme"], "휴가를 며칠 받을 수 있나요?")[:1] == [ids[0]]  # 휴가를 / 휴가는: one noun
        assert found(registry, ["acme"], "출장 경비는 언제까지 정산해야 하나요?")[:1] == [ids[1]]
        assert found(registry, ["globex"], "휴가를 며칠 받을 수 있나요?") == []
    finally:
        registry.close()


def test_replicas_never_share_chunk_ids_or_keep_two_versions(registry_url: str) -> None:
    """Two Registry objects on one database behave like two bitrag replicas: concurrent ingests get disjoint ids,
    and concurrent new versions of one file leave exactly one ready version."""
    replicas = [Registry(registry_url), Registry(registry_url)]
    ids: list[int] = []
    errors: list[BaseException] = []

    def ingest(replica: Registry, worker: int) -> None:
        try:
            for i in range(20):
                row, chunk_ids = replica.begin("acme", f"w{worker}-{i}", "same.md", "same-key", None, 3, None)
                ids.extend(chunk_ids)
                replica.commit(row)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(replicas[w % 2], w)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len(ids) == len(set(ids)) == 240
        assert len(replicas[0].documents(["acme"])) == 1
        assert len(replicas[1].abandoned()) == 79
    finally:
        for replica in replicas:
            replica.close()


def test_feedback_store(registry_url: str) -> None:
    from bot.core import Conversation
    from bot.views import AnswerView, SourceLine

    store = FeedbackStore(registry_url)
    try:
        view = AnswerView("q?", "a [1]", [SourceLine(1, "a.md", None, 0.5, "d1", "text")], "extractive", {}, True)
        answer_id = store.record_answer(view, Conversation("acme", user="u1", platform="slack"))
        assert store.vote(answer_id, "u1", 1) and store.vote(answer_id, "u1", -1) and store.vote(answer_id, "u2", 1)
        assert sorted(store.votes(answer_id)) == [("u1", -1), ("u2", 1)]
        assert store.answer(answer_id)["sources"][0]["source"] == "a.md"
        assert not store.vote("unknown", "u1", 1)
    finally:
        store.close()


def test_a_dropped_postgres_connection_is_replaced(fresh_postgres: str) -> None:
    """The server ends the registry's session (a restart, a failover, an idle timeout): the next calls reconnect."""
    registry = Registry(fresh_postgres)
    try:
        def drop_sessions() -> None:
            with psycopg.connect(fresh_postgres, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid != pg_backend_pid()")

        row, _ = registry.begin("acme", "doc-1", "a.md", "key-a", None, 1, None)
        drop_sessions()
        assert [d.doc_id for d in registry.abandoned()] == ["doc-1"]  # a plain query
        drop_sessions()
        registry.commit(row)  # a transaction
        assert [d.doc_id for d in registry.documents(["acme"])] == ["doc-1"]
    finally:
        registry.close()


def test_unreachable_postgres_is_named_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Registry("postgresql://bitrag:s3cret-pw@127.0.0.1:1/db")
    message = str(caught.value)
    assert "Cannot connect to PostgreSQL at postgresql://bitrag:***@127.0.0.1:1/db" in message
    assert "s3cret-pw" not in message


async def test_two_replicas_share_postgres_registry_and_milvus_server(
        fresh_postgres: str, milvus_server_uri: str, make_settings: Callable[..., Settings],
        embedder: LocalEncoder) -> None:
    """The production layout: what one replica ingests, the other answers from and can forget."""
    settings = make_settings(milvus_uri=milvus_server_uri, milvus_token=MILVUS_SERVER_TOKEN,
                             milvus_collection=f"test_{uuid.uuid4().hex[:12]}",
                             registry_url=fresh_postgres)
    first = await open_service(settings, embedder)
    second = await open_service(settings, embedder)
    try:
        files, _ = discover([SAMPLE_DOCS])
        assert (await first.ingest(files, "acme")).documents == 7
        answer = await second.ask("How long must passwords be?", "acme")
        assert answer.sources[0].source == "security-policy.pdf" and "14 characters" in answer.text
        assert len(await second.sources("acme")) == 7
        await second.forget("acme", "security-policy.pdf")
        answer = await first.ask("How long must passwords be?", "acme")
        assert all(s.source != "security-policy.pdf" for s in answer.sources)
        assert (await first.ingest(files, "acme")).count("unchanged") == 6  # the registry is shared
    finally:
        await asyncio.to_thread(first.store.client.drop_collection, first.store.collection)
        await first.close()
        await second.close()


def test_a_read_goes_on_while_a_write_transaction_is_open(registry_url: str) -> None:
    """A question is not held up by a long write (a large document's keyword rows, a merge, background indexing),
    and still reads only committed state."""
    db = Database(registry_url)
    db.create("CREATE TABLE notes (id {id}, body TEXT NOT NULL)")
    count = "SELECT count(*) FROM notes"
    inside, release = threading.Event(), threading.Event()
    seen_inside: list[int] = []

    def write() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO notes (body) VALUES (?)", ("pending",))
            seen_inside.append(db.execute(count)[0][0])  # the writing thread reads its own write
            inside.set()
            release.wait()

    with ThreadPoolExecutor(2) as pool:
        writer = pool.submit(write)
        try:
            assert inside.wait(60)
            # With one connection this read waited for the transaction to end, which waits for this test: the
            # bound only turns that deadlock into a failure.
            during = pool.submit(db.execute, count).result(timeout=60)
            assert during == [(0,)]  # the last committed state: nothing uncommitted reaches a reader
        finally:
            release.set()
        writer.result(timeout=60)
    assert seen_inside == [1]
    assert db.execute(count) == [(1,)]  # the control: committed, it is read
    db.close()


def test_an_in_memory_registry_reads_through_its_one_connection() -> None:
    db = Database("sqlite:///:memory:")  # a second connection would open another, empty database
    db.create("CREATE TABLE notes (id {id}, body TEXT NOT NULL)")
    db.execute("INSERT INTO notes (body) VALUES (?)", ("kept",))
    assert db.execute("SELECT count(*) FROM notes") == [(1,)]
    db.close()
