"""Generation through the real groq and openai SDKs against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest

from bot.wiring import open_service
from rag.citations import renumber
from rag.errors import ConfigError, LLMError
from rag.generate import create_generator
from rag.service import AnswerDelta, AnswerDone
from tests.fakes.llm import FakeLLM
from tests.test_pipeline import ingest_samples

MESSAGES = [{"role": "user", "content": "Say hi"}]


def groq_settings(make_settings, fake: FakeLLM, **extra):
    values = {"llm": "groq", "groq_api_key": fake.api_key, "groq_base_url": fake.url, "llm_max_retries": 2}
    return make_settings(**{**values, **extra})


async def test_groq_non_streaming_and_streaming(make_settings, fake_llm: FakeLLM) -> None:
    fake_llm.reply = "Hello from the fake Groq [1]."
    generator = create_generator(groq_settings(make_settings, fake_llm))
    assert generator is not None and generator.mode == "groq"
    try:
        assert await generator.complete(MESSAGES) == "Hello from the fake Groq [1]."
        deltas = [d async for d in generator.stream(MESSAGES)]
        assert len(deltas) > 3 and "".join(deltas) == "Hello from the fake Groq [1]."
    finally:
        await generator.aclose()
    assert [r["stream"] for r in fake_llm.requests] == [False, True]
    assert fake_llm.requests[0]["model"] == "llama-3.3-70b-versatile"


async def test_rate_limit_then_success_is_retried(make_settings, fake_llm: FakeLLM) -> None:
    fake_llm.rate_limit_first = 2
    generator = create_generator(groq_settings(make_settings, fake_llm))
    try:
        assert "fake" not in await generator.complete(MESSAGES)
    finally:
        await generator.aclose()
    assert fake_llm.statuses == [429, 429, 200]


async def test_persistent_rate_limit_becomes_a_clear_error(make_settings, fake_llm: FakeLLM) -> None:
    fake_llm.rate_limit_first = 10
    generator = create_generator(groq_settings(make_settings, fake_llm, llm_max_retries=1))
    try:
        with pytest.raises(LLMError, match="rate-limiting"):
            await generator.complete(MESSAGES)
    finally:
        await generator.aclose()
    assert fake_llm.statuses == [429, 429]


async def test_bad_key_gives_a_clear_error_without_the_key(make_settings, fake_llm: FakeLLM, caplog) -> None:
    settings = make_settings(llm="groq", groq_api_key="gsk-wrong-secret-123", groq_base_url=fake_llm.url)
    generator = create_generator(settings)
    try:
        with pytest.raises(LLMError) as raised:
            await generator.complete(MESSAGES)
    finally:
        await generator.aclose()
    assert "GROQ_API_KEY" in str(raised.value) and "401" in str(raised.value)
    assert "gsk-wrong-secret-123" not in str(raised.value)
    assert "gsk-wrong-secret-123" not in repr(settings)
    assert fake_llm.statuses == [401]  # not retried


async def test_openai_compatible_endpoint(make_settings, fake_llm: FakeLLM) -> None:
    settings = make_settings(llm="openai-compatible", llm_base_url=f"{fake_llm.url}/v1", llm_api_key=fake_llm.api_key,
                             llm_model="llama3.1")
    generator = create_generator(settings)
    try:
        assert generator.mode == "openai-compatible"
        assert "".join([d async for d in generator.stream(MESSAGES)]) == fake_llm.reply
    finally:
        await generator.aclose()
    assert fake_llm.requests[0]["model"] == "llama3.1"


def test_auto_mode_picks_groq_then_openai_compatible_then_extractive(make_settings) -> None:
    assert create_generator(make_settings(llm="auto")) is None
    assert create_generator(make_settings(llm="auto", llm_base_url="http://127.0.0.1:9/v1")).mode == "openai-compatible"
    assert create_generator(make_settings(llm="auto", groq_api_key="gsk-x")).mode == "groq"
    with pytest.raises(ConfigError, match="GROQ_API_KEY"):
        create_generator(make_settings(llm="groq"))


def test_citations_to_sources_that_were_not_retrieved_are_removed() -> None:
    text, order = renumber("Vacation is 28 days [3]. Carry-over is 5 [1, 7]. Made up [9]. Again [3][3].", 4)
    assert text == "Vacation is 28 days [1]. Carry-over is 5 [2]. Made up. Again [1]."
    assert order == [3, 1]


async def test_service_answers_through_groq_with_clean_numbered_citations(make_settings, embedder,
                                                                           fake_llm: FakeLLM) -> None:
    def reply(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        assert '<source n="1"' in prompt and "Question: How many days of paid vacation" in prompt
        assert "untrusted" in body["messages"][0]["content"]
        return "Employees get 28 days of paid vacation [1], see also [42]."

    fake_llm.reply = reply
    service = await open_service(groq_settings(make_settings, fake_llm), embedder)
    try:
        await ingest_samples(service)
        answer = await service.ask("How many days of paid vacation do employees get?", "acme")
        assert answer.mode == "groq"
        assert answer.text == "Employees get 28 days of paid vacation [1], see also."
        assert [s.n for s in answer.sources] == [1] and answer.sources[0].source == "employee-handbook.md"

        events = [e async for e in service.ask_stream("How many days of paid vacation do employees get?", "acme")]
        assert all(isinstance(e, AnswerDelta) for e in events[:-1]) and len(events) > 3
        assert isinstance(events[-1], AnswerDone) and events[-1].answer.text == answer.text
    finally:
        await service.close()


async def test_llm_failure_falls_back_to_a_marked_extractive_answer(make_settings, embedder, fake_llm: FakeLLM,
                                                                   caplog) -> None:
    settings = make_settings(llm="groq", groq_api_key="gsk-wrong-secret-456", groq_base_url=fake_llm.url)
    service = await open_service(settings, embedder)
    try:
        await ingest_samples(service)
        with caplog.at_level(logging.DEBUG):
            answer = await service.ask("How many days of paid vacation do employees get?", "acme")
    finally:
        await service.close()
    assert answer.mode == "extractive" and "28 days" in answer.text
    assert answer.warning is not None and "GROQ_API_KEY" in answer.warning
    assert "gsk-wrong-secret-456" not in caplog.text
