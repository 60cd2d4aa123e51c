"""Both embedders behind the one async interface, and the model recorded with the collection."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.wiring import open_service
from rag.embed import LocalEmbedder, OpenAIEmbedder
from rag.errors import ConfigError, ModelMismatchError
from tests.fakes.llm import FakeLLM


async def test_local_embedder_is_normalised_batched_and_off_the_event_loop(embedder: LocalEmbedder) -> None:
    texts = [f"sentence number {i} about vacation policies" for i in range(100)]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    vectors = await embedder.embed(texts)
    task.cancel()
    assert vectors.shape == (100, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert ticks > 3  # the loop kept running while the model encoded
    assert embedder.model_id == "sentence-transformers/all-MiniLM-L6-v2" and embedder.max_tokens == 256
    similar = await embedder.embed(["How many vacation days do I get?", "Employees get 28 days of paid vacation."])
    unrelated = await embedder.embed(["How many vacation days do I get?", "The printer is called Magellan."])
    assert float(similar[0] @ similar[1]) > float(unrelated[0] @ unrelated[1])


async def test_openai_embedder_against_a_compatible_server(fake_llm: FakeLLM) -> None:
    embedder = OpenAIEmbedder("text-embedding-3-small", fake_llm.api_key, f"{fake_llm.url}/v1", dimensions=256,
                              batch_size=7)
    try:
        vectors = await embedder.embed([f"text {i}" for i in range(20)])
    finally:
        await embedder.aclose()
    assert vectors.shape == (20, 256) and embedder.dim == 256
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(r["input"]) for r in fake_llm.requests] == [7, 7, 6]
    assert all(r["dimensions"] == 256 and r["model"] == "text-embedding-3-small" for r in fake_llm.requests)
    assert embedder.model_id == "openai/text-embedding-3-small@256"


async def test_openai_embedder_bad_key_is_a_clear_error(fake_llm: FakeLLM) -> None:
    embedder = OpenAIEmbedder("text-embedding-3-small", "sk-wrong", f"{fake_llm.url}/v1", None, max_retries=0)
    try:
        with pytest.raises(ConfigError, match="OPENAI_API_KEY") as raised:
            await embedder.embed(["x"])
    finally:
        await embedder.aclose()
    assert "sk-wrong" not in str(raised.value)


async def test_opening_a_collection_with_another_model_is_refused(make_settings, embedder, fake_llm) -> None:
    service = await open_service(make_settings(), embedder)
    await service.close()
    settings = make_settings(embedder="openai", openai_api_key=fake_llm.api_key, openai_base_url=f"{fake_llm.url}/v1",
                             embed_dimensions=384)
    with pytest.raises(ModelMismatchError) as raised:
        await open_service(settings)
    message = str(raised.value)
    assert "all-MiniLM-L6-v2" in message and "openai/text-embedding-3-small@384" in message
    assert "MILVUS_COLLECTION" in message
