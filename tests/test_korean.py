"""Korean, with the default settings: an English embedding model, so Korean questions are searched by the keyword
index and answered from the sentence their words point to — and "I don't know" when the words are not there.

Real Milvus Lite, the real model, Kiwi and the real registry; the documents are the Korean benchmark's own."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio

from bot.settings import Settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.embed import LocalEncoder
from rag.service import RagService
from tests.conftest import ROOT

KOREAN_DOCS = ROOT / "benchmarks" / "data" / "korean"


def first_quoted(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    return lines[0] if lines else ""


@pytest_asyncio.fixture
async def korean(make_settings: Callable[..., Settings], embedder: LocalEncoder,
                 tmp_path: Path) -> AsyncIterator[RagService]:
    """The default settings; the travel rules in a private conversation, the rest workspace-wide."""
    service = await open_service(make_settings(), embedder)
    (tmp_path / "team").mkdir()
    (tmp_path / "private").mkdir()
    for name in ("handbook-ko.md", "security-ko.md"):
        shutil.copy(KOREAN_DOCS / name, tmp_path / "team" / name)
    shutil.copy(KOREAN_DOCS / "travel-ko.md", tmp_path / "private" / "travel-ko.md")
    for folder, tenant in (("team", "acme"), ("private", "acme:C0PRIVATE")):
        files, _ = discover([tmp_path / folder])
        report = await service.ingest(files, tenant)
        assert not report.failed
        # The uploader is told that the model does not read Korean, and what finds the document instead.
        assert all("most of it is Korean, which the embedding model (all-MiniLM-L6-v2) does not cover" in (r.note or "")
                   for r in report.results)
    files, _ = discover([ROOT / "examples" / "docs"])  # English documents beside them, as in a real workspace
    report = await service.ingest(files, "acme")
    assert not report.failed and not any(r.note for r in report.results)  # the control: no note for English
    yield service
    await service.close()


async def test_a_korean_question_is_answered_from_its_korean_sentence(korean: RagService) -> None:
    assert korean.settings.retrieval == "hybrid" and korean.retriever.hybrid  # the default settings
    assert await asyncio.to_thread(korean.registry.unindexed) == []
    answer = await korean.ask("못 쓴 연차를 다음 해로 넘길 수 있나요?", "acme")
    assert answer.grounded and answer.sources[0].source == "handbook-ko.md"
    assert "최대 5일까지 이월" in first_quoted(answer.text)
    answer = await korean.ask("비밀번호는 몇 글자 이상이어야 하나요?", "acme")
    assert answer.sources[0].source == "security-ko.md" and "최소 14자 이상" in first_quoted(answer.text)


async def test_a_korean_question_the_documents_do_not_answer_gets_i_dont_know(korean: RagService) -> None:
    for question in ("회사에서 스톡옵션을 주나요?", "몽골의 수도는 어디인가요?", "병가는 며칠까지 쓸 수 있나요?"):
        answer = await korean.ask(question, "acme")
        assert not answer.grounded and answer.text.startswith("모르겠습니다:"), question  # in Korean
    # The control: a question the handbook answers, in the same words as the refused ones, is answered.
    assert (await korean.ask("휴가는 며칠 전에 신청해야 하나요?", "acme")).grounded


async def test_korean_keyword_search_keeps_conversations_apart(korean: RagService) -> None:
    question = "서울 출장 숙박비는 1박에 얼마까지 지원되나요?"
    inside = await korean.ask(question, ["acme", "acme:C0PRIVATE"])  # the control: where it was shared
    assert inside.sources[0].source == "travel-ko.md" and "서울 20만 원" in inside.text
    outside = await korean.ask(question, "acme")
    assert "20만 원" not in outside.text and all(s.source != "travel-ko.md" for s in outside.sources)
    found = await korean.retriever.keyword_search_many(["acme"], [question], 100, fields=False)
    travel = await korean.retriever.keyword_search_many(["acme:C0PRIVATE"], [question], 100, fields=False)
    assert travel[0] and not {c.id for c in travel[0]} & {c.id for c in found[0]}


async def test_under_dense_retrieval_only_what_the_model_cannot_read_is_keyword_indexed(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    service = await open_service(make_settings(retrieval="dense"), embedder)
    try:
        (tmp_path / "team").mkdir()
        shutil.copy(KOREAN_DOCS / "handbook-ko.md", tmp_path / "team" / "handbook-ko.md")
        files, _ = discover([tmp_path / "team", ROOT / "examples" / "docs"])
        assert not (await service.ingest(files, "acme")).failed
        unindexed = {d.source for d in await asyncio.to_thread(service.registry.unindexed)}
        assert unindexed == {path.name for path in (ROOT / "examples" / "docs").iterdir()}  # English: not indexed
        answer = await service.ask("못 쓴 연차를 다음 해로 넘길 수 있나요?", "acme")  # Korean: by its keywords
        assert answer.grounded and "최대 5일까지 이월" in first_quoted(answer.text)
    finally:
        await service.close()
