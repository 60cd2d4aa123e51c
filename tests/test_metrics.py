"""/metrics and /healthz: questions, stage latencies, refusals and ingested files, counted in the bot core."""

from __future__ import annotations

import aiohttp

from bot.core import BotCore, Conversation
from bot.metrics import REGISTRY, start_metrics_server
from bot.ratelimit import RateLimiter
from ingest.discover import discover
from rag.service import RagService
from tests.conftest import SAMPLE_DOCS


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_endpoint_counts_questions_stages_refusals_and_files(service: RagService) -> None:
    core = BotCore(service, RateLimiter(per_user_per_min=2, per_tenant_per_min=100))
    before = {"answered": sample("bitrag_questions_total", platform="slack", outcome="answered"),
              "embed": sample("bitrag_stage_seconds_count", stage="embed"),
              "refused": sample("bitrag_rate_limited_total", platform="slack"),
              "added": sample("bitrag_ingested_files_total", status="added")}
    slack = Conversation(tenant="acme", user="U1", platform="slack")
    files, _ = discover([SAMPLE_DOCS])
    await core.ingest(slack, files)
    await core.ask(slack, "How long must passwords be?")
    _ = [e async for e in core.ask_stream(slack, "When does Kestrel v2 ship?")]
    await core.ask(slack, "Third question in a minute")  # over the limit of 2

    runner, port = await start_metrics_server(0, "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                assert health.status == 200 and await health.text() == "ok"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
    finally:
        await runner.cleanup()
    assert 'bitrag_questions_total{outcome="answered",platform="slack"}' in text
    assert 'bitrag_stage_seconds_bucket{le="0.05",stage="search"}' in text
    assert sample("bitrag_questions_total", platform="slack", outcome="answered") == before["answered"] + 2
    assert sample("bitrag_stage_seconds_count", stage="embed") == before["embed"] + 2
    assert sample("bitrag_rate_limited_total", platform="slack") == before["refused"] + 1
    assert sample("bitrag_ingested_files_total", status="added") == before["added"] + 7
