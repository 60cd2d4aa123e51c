"""Many askers at once: micro-batching (`rag/batching.py`, `rag/queries.py`), admission control, the LLM's
concurrency limit, and ingestion's shared forward passes — with real embeddings and real Milvus Lite."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.core import BotCore, Conversation
from bot.settings import Settings
from bot.views import AnswerView, MessageView
from bot.wiring import open_service
from rag.batching import MicroBatcher
from rag.embed import LocalEncoder, resolve_device
from rag.errors import BusyError, ConfigError
from rag.models import DocumentParser, ParsedDocument, SourceFile
from rag.service import RagService
from tests.fakes.llm import FakeLLM
from tests.reliability.test_tenant_isolation import TENANTS, TOPICS, ingest_random_documents
from tests.test_pipeline import QUESTIONS, ingest_samples

# --- the batcher alone ---------------------------------------------------------------------------------------------


async def test_callers_that_arrive_together_share_a_batch_and_each_gets_its_own_result() -> None:
    seen: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        seen.append(items)
        await asyncio.sleep(0.01)  # busy: whatever arrives meanwhile forms the next batch
        return [2 * i for i in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(double, max_size=8)
    try:
        alone, info = await batcher.submit(21)
        assert (alone, info.size) == (42, 1)  # a lone caller runs at once, in a batch of one
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    finally:
        await batcher.aclose()
    assert [r for r, _ in results] == [2 * i for i in range(20)]
    assert [len(b) for b in seen[1:]] == [8, 8, 4]  # bounded by max_size, in arrival order
    assert max(info.waited_ms for _, info in results) > 10  # the last batch waited for the ones before it


async def test_a_failed_batch_fails_its_callers_only_and_a_cancelled_caller_is_dropped() -> None:
    calls: list[list[str]] = []
    release = asyncio.Event()

    async def run(items: list[str]) -> list[str]:
        calls.append(items)
        if "boom" in items:
            raise BusyError("the store said no")
        await release.wait()
        return [i.upper() for i in items]

    batcher: MicroBatcher[str, str] = MicroBatcher(run, max_size=4)
    try:
        first = asyncio.create_task(batcher.submit("a"))  # occupies the worker until released
        while not calls:  # waits for the event (the worker took "a"), not for time
            await asyncio.sleep(0)
        cancelled = asyncio.create_task(batcher.submit("gone"))
        kept = asyncio.create_task(batcher.submit("b"))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        release.set()
        assert (await first)[0] == "A" and (await kept)[0] == "B"
        assert calls[1] == ["b"]  # the cancelled caller's item never ran
        with pytest.raises(BusyError, match="the store said no"):
            await batcher.submit("boom")
        assert (await batcher.submit("c"))[0] == "C"  # the worker survived the failed batch
    finally:
        await batcher.aclose()


async def test_closing_the_batcher_cancels_waiting_callers_instead_of_leaving_them_hanging() -> None:
    started = asyncio.Event()

    async def forever(items: list[int]) -> list[int]:
        started.set()
        await asyncio.Event().wait()
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(forever, max_size=1)
    running = asyncio.create_task(batcher.submit(1))  # in the batch being run
    await asyncio.wait_for(started.wait(), 30)
    queued = asyncio.create_task(batcher.submit(2))  # still in the queue
    await asyncio.sleep(0.01)
    await batcher.aclose()
    for caller in (running, queued):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, timeout=5)


# --- the question path, batched ------------------------------------------------------------------------------------


@pytest.mark.parametrize("retrieval", ["dense", "hybrid"])
async def test_batched_answers_equal_one_at_a_time_answers(retrieval: str, make_settings: Callable[..., Settings],
                                                           embedder: LocalEncoder) -> None:
    service = await open_service(make_settings(retrieval=retrieval), embedder)
    try:
        await ingest_samples(service)
        assert service.retriever.hybrid == (retrieval == "hybrid")
        questions = [q for q, _, _ in QUESTIONS] * 4
        service.queries.configure(batched=False, wait_ms=0)
        alone = [await service.ask(q, "acme") for q in questions]
        service.queries.configure(batched=True, wait_ms=0)
        before = service.queries.batch_counts()
        together = await asyncio.gather(*(service.ask(q, "acme") for q in questions))
        batches, asked, _ = (a - b for a, b in zip(service.queries.batch_counts(), before, strict=True))
    finally:
        await service.close()
    assert asked == len(questions) and batches < len(questions) / 2, (batches, asked)  # batches did form
    for one, other in zip(alone, together, strict=True):
        assert one.text == other.text
        assert [(s.source, s.location) for s in one.sources] == [(s.source, s.location) for s in other.sources]
        assert [s.score for s in one.sources] == pytest.approx([s.score for s in other.sources], abs=1e-4)
        assert other.timings_ms["queue"] >= 0 and other.timings_ms["search"] > 0


async def test_concurrent_questions_from_many_scopes_never_read_outside_their_scope(service: RagService,
                                                                                     tmp_path: Path) -> None:
    """Questions of four tenants and their combinations arrive together, so one search batch holds several scopes;
    every source of every answer still belongs to a tenant of that question's scope. Control: each tenant's own
    questions do cite its documents, in the same batches."""
    owner = await ingest_random_documents(service, tmp_path)
    rng = random.Random(17)
    scopes = [tuple(rng.sample(TENANTS, rng.randint(1, 2))) for _ in range(160)]
    questions = [f"What about {rng.choice(TOPICS)}?" for _ in scopes]
    before = service.queries.batch_counts()
    answers = await asyncio.gather(*(service.ask(q, scope) for q, scope in zip(questions, scopes, strict=True)))
    batches, asked, groups = (a - b for a, b in zip(service.queries.batch_counts(), before, strict=True))
    assert asked == len(scopes) and groups > batches, (batches, groups)  # batches did mix scopes
    cited_from: set[str] = set()
    checked = 0
    for scope, answer in zip(scopes, answers, strict=True):
        for source in answer.sources:
            assert owner[source.source] in scope, (scope, source.source)
            checked += 1
            if len(scope) == 1:
                cited_from.add(owner[source.source])
    assert cited_from == set(TENANTS) and checked >= len(scopes)


async def test_beyond_the_queue_limit_a_question_is_refused_at_once_and_nothing_is_stuck(
        make_settings: Callable[..., Settings], embedder: LocalEncoder) -> None:
    service = await open_service(make_settings(ask_queue_limit=3), embedder)
    try:
        await ingest_samples(service)
        outcomes = await asyncio.gather(*(service.ask(q, "acme") for q, _, _ in QUESTIONS * 3),
                                        return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, BusyError)]
        answered = [o for o in outcomes if not isinstance(o, BaseException) and o.grounded]
        assert refused and answered and len(refused) + len(answered) == len(outcomes), outcomes
        assert "ASK_QUEUE_LIMIT" in str(refused[0]) and "Ask again" in str(refused[0])
        view = await BotCore(service).ask(Conversation(tenant="acme"), QUESTIONS[0][0])  # the places came back
        assert isinstance(view, AnswerView) and service.queries.in_flight == 0
    finally:
        await service.close()


async def test_a_refused_question_reaches_the_user_as_a_message(make_settings: Callable[..., Settings],
                                                                embedder: LocalEncoder) -> None:
    service = await open_service(make_settings(ask_queue_limit=1), embedder)
    try:
        await ingest_samples(service)
        core = BotCore(service)
        views = await asyncio.gather(*(core.ask(Conversation(tenant="acme"), q) for q, _, _ in QUESTIONS))
        errors = [v for v in views if isinstance(v, MessageView)]
        assert errors and all(e.level == "error" and "Ask again in a few seconds" in e.text for e in errors), views
        assert any(isinstance(v, AnswerView) for v in views)
    finally:
        await service.close()


@pytest.mark.parametrize("limit", [2, 8])
async def test_no_more_answers_are_written_at_once_than_llm_concurrency(
        limit: int, make_settings: Callable[..., Settings], embedder: LocalEncoder, fake_llm: FakeLLM) -> None:
    """limit 2 is the check; limit 8 is its control: the same burst does reach the LLM more than twice at once."""
    fake_llm.stall_s = 0.1  # each answer takes 100 ms: a burst overlaps
    service = await open_service(make_settings(llm="groq", groq_api_key=fake_llm.api_key, groq_base_url=fake_llm.url,
                                               llm_concurrency=limit), embedder)
    try:
        await ingest_samples(service)
        answers = await asyncio.gather(*(service.ask(q, "acme") for q, _, _ in QUESTIONS * 2))
    finally:
        await service.close()
    assert all(a.mode == "groq" for a in answers)
    if limit == 2:
        assert fake_llm.most_in_flight == 2
        assert max(a.timings_ms["queue"] for a in answers) > 100  # the rest waited for a slot
    else:
        assert fake_llm.most_in_flight > 2


# --- ingestion ------------------------------------------------------------------------------------------------------


class CountingParser:
    """The real parser, setting an event once it has read `expected` files (instrumentation, as above)."""

    def __init__(self, inner: DocumentParser, expected: int) -> None:
        self.inner, self.expected, self.read, self.all_read = inner, expected, 0, threading.Event()
        self.lock = threading.Lock()

    def parse(self, source: SourceFile) -> ParsedDocument:
        try:
            return self.inner.parse(source)
        finally:
            with self.lock:
                self.read += 1
                if self.read >= self.expected:
                    self.all_read.set()


class CountingEmbedder:
    """The real model, counting forward passes (instrumentation: every call goes to the real embedder)."""

    def __init__(self, inner: LocalEncoder, hold_first_until: threading.Event | None = None) -> None:
        self.inner, self.calls, self.hold = inner, [], hold_first_until
        self.model_id, self.dim, self.max_tokens = inner.model_id, inner.dim, inner.max_tokens
        self.encoder_id = inner.encoder_id
        self.query_prefix, self.passage_prefix = inner.query_prefix, inner.passage_prefix

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.hold is not None and not self.calls:  # busy with its first pass until the event
            assert await asyncio.to_thread(self.hold.wait, 120), "the event the first pass waits for never came"
        self.calls.append(len(texts))
        return await self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def aclose(self) -> None:
        pass


async def test_small_files_share_forward_passes_and_results_keep_their_order(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    """The encoder's first pass lasts until every file is read, as a busy encoder's would: the files that wait for it
    must then share passes. (Without the hold the test depends on speed: ONNX embeds a note faster than the next
    one is read, and then each pass rightly takes the one file that is ready.)"""
    counting = CountingEmbedder(embedder)
    service = await open_service(make_settings(), counting)  # type: ignore[arg-type]
    files = []
    for i in range(40):
        path = tmp_path / f"note-{i:02d}.txt"
        path.write_text(f"Note {i}: the parking space of team {i} is number {100 + i}, next to the lift.")
        files.append(SourceFile.local(path))
    (tmp_path / "copy.txt").write_text((tmp_path / "note-07.txt").read_text())  # same content, same run
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    files[10:10] = [SourceFile.local(tmp_path / "copy.txt"), SourceFile.local(tmp_path / "broken.pdf")]
    service.parser = parser = CountingParser(service.parser, expected=len(files))
    counting.hold = parser.all_read
    try:
        report = await service.ingest(files, "acme")
        assert [r.name for r in report.results] == [f.name for f in files]
        statuses = {r.name: r.status for r in report.results}
        assert statuses.pop("broken.pdf") == "failed" and statuses.pop("copy.txt") == "skipped"
        assert set(statuses.values()) == {"added"}
        assert "note-07.txt" in report.results[10].reason
        assert len(counting.calls) <= 40 / 4, counting.calls  # ~1 chunk per file: many files per forward pass
        answer = await service.ask("Which parking space does team 23 have?", "acme")
        assert answer.sources[0].source == "note-23.txt"
        again = await service.ingest(files, "acme")  # nothing new: nothing embedded
        assert {r.status for r in again.results if r.name != "broken.pdf"} <= {"unchanged", "skipped"}
        assert len(counting.calls) <= 40 / 4
    finally:
        await service.close()


# --- where the model runs ------------------------------------------------------------------------------------------


def test_embed_device_and_precision_are_checked_against_this_machine() -> None:
    import torch

    assert resolve_device("auto", "float32") == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():  # pragma: no cover - this machine has no GPU
        assert resolve_device("auto", "float16") == "cuda"
        return
    with pytest.raises(ConfigError, match=r"EMBED_PRECISION=float16 needs a GPU.*EMBED_PRECISION=float32"):
        resolve_device("auto", "float16")
    with pytest.raises(ConfigError, match=r"EMBED_DEVICE=cuda.*EMBED_DEVICE=auto or cpu"):
        resolve_device("cuda", "float32")
    assert resolve_device("cpu", "float32") == "cpu"


async def test_an_unexpected_reader_failure_stops_the_ingest_without_hanging_or_losing_earlier_files(
        service: RagService, tmp_path: Path) -> None:
    real = service.parser

    class Exploding:  # the real parser, except for one file (an injected dependency, not our code under test)
        def parse(self, file: SourceFile) -> ParsedDocument:
            if file.name == "explode.txt":
                raise RuntimeError("reader bug")
            return real.parse(file)

    service.parser = Exploding()
    files = []
    for name in ("a.txt", "b.txt", "explode.txt", "c.txt"):
        (tmp_path / name).write_text(f"The code word of {name} is {name.upper()}-42.")
        files.append(SourceFile.local(tmp_path / name))
    with pytest.raises(RuntimeError, match="reader bug"):
        await asyncio.wait_for(service.ingest(files, "acme"), timeout=60)
    assert sorted(d.source for d in await service.sources("acme")) == ["a.txt", "b.txt"]
    assert await service.recover() == 0  # nothing left pending
