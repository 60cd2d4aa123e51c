"""Faults: Milvus stops and comes back; the LLM fails in every way; users are told, and the bot recovers alone."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core import BotCore, Conversation
from bot.settings import Settings
from bot.views import AnswerView, MessageView
from bot.wiring import open_service
from rag.embed import LocalEncoder
from tests.fakes.llm import FakeLLM
from tests.milvus_server import milvus_server
from tests.test_pipeline import ingest_samples


async def test_milvus_down_then_back(make_settings: Callable[..., Settings], embedder: LocalEncoder,
                                     tmp_path: Path) -> None:
    data = tmp_path / "milvus"
    with milvus_server(data) as uri:
        service = await open_service(make_settings(milvus_uri=uri), embedder)
        core = BotCore(service)
        acme = Conversation(tenant="acme")
        await ingest_samples(service, "acme")
        assert isinstance(await core.ask(acme, "How long must passwords be?"), AnswerView)
    try:
        started = time.monotonic()
        down = await core.ask(acme, "How long must passwords be?")
        waited = time.monotonic() - started
        assert isinstance(down, MessageView) and down.level == "error"
        assert "knowledge base is unavailable" in down.text and "Try again" in down.text
        assert waited < 15, waited
        with milvus_server(data, port=int(uri.rsplit(":", 1)[1])):
            back = await core.ask(acme, "How long must passwords be?")
            assert isinstance(back, AnswerView), back
            assert back.sources[0].name == "security-policy.pdf"
    finally:
        await service.close()


def free_port_below_ephemeral_range() -> int:
    """A free port the kernel never hands out as a client's source port: a client retrying an ephemeral port can
    end up connected to itself (TCP self-connect) and the server can then not bind it."""
    for port in random.Random().sample(range(20_000, 30_000), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 30000")


async def test_startup_waits_for_a_milvus_server_that_is_still_starting(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    port = free_port_below_ephemeral_range()
    settings = make_settings(milvus_uri=f"http://127.0.0.1:{port}", milvus_startup_wait_s=120)
    opening = asyncio.create_task(open_service(settings, embedder))
    await asyncio.sleep(3)
    assert not opening.done()  # still retrying, not failed
    with milvus_server(tmp_path / "late", port=port):
        service = await asyncio.wait_for(opening, 120)
        try:
            await ingest_samples(service, "acme")
        finally:
            await service.close()


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
async def test_llm_faults_are_retried_a_bounded_number_of_times_then_answered_extractively(
        fault: str, make_settings: Callable[..., Settings], embedder: LocalEncoder, fake_llm: FakeLLM) -> None:
    fake_llm.rate_limit_first = 100 if fault == "429" else 0
    fake_llm.retry_after = "1"
    fake_llm.fail_first = 100 if fault == "500" else 0
    fake_llm.stall_s = 5 if fault == "timeout" else 0
    settings = make_settings(llm="groq", groq_api_key=fake_llm.api_key, groq_base_url=fake_llm.url,
                             llm_max_retries=2, llm_timeout_s=0.5)
    service = await open_service(settings, embedder)
    try:
        await ingest_samples(service)
        started = time.monotonic()
        answer = await service.ask("How many days of paid vacation do employees get?", "acme")
        elapsed = time.monotonic() - started
    finally:
        await service.close()
    assert len(fake_llm.requests) == 3  # the first try and LLM_MAX_RETRIES=2 retries, no more
    if fault == "429":
        assert elapsed >= 2  # Retry-After: 1 honoured before each retry
    assert elapsed < 15
    assert answer.mode == "extractive" and "28 days" in answer.text and answer.sources
    assert answer.warning and "extractive answer instead" in answer.warning
