"""Prometheus metrics and a health endpoint: `GET /metrics` and `GET /healthz` on `METRICS_PORT`.

Counted where every platform passes — the bot core — so Slack, Discord and the terminal are measured alike:
questions by outcome, latency per stage (embed, search, rescore, generate) and in total, rate-limit refusals,
and ingested files by status.
"""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from bot.views import AnswerView, IngestView, View
from bot.webserver import serve_app

REGISTRY = CollectorRegistry()
BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

QUESTIONS = Counter("bitrag_questions_total", "Questions answered, by platform and outcome",
                    ["platform", "outcome"], registry=REGISTRY)
QUESTION_SECONDS = Histogram("bitrag_question_seconds", "Time to a complete answer", ["platform"],
                             buckets=BUCKETS_S, registry=REGISTRY)
STAGE_SECONDS = Histogram("bitrag_stage_seconds", "Time per answer stage", ["stage"], buckets=BUCKETS_S,
                          registry=REGISTRY)
REFUSED = Counter("bitrag_rate_limited_total", "Questions refused by the rate limits", ["platform"],
                  registry=REGISTRY)
FILES = Counter("bitrag_ingested_files_total", "Files handled by ingestion, by status", ["status"],
                registry=REGISTRY)


def observe_answer(platform: str, view: View, started: float) -> None:
    """Record one finished question (`started` is a `time.perf_counter()` reading)."""
    if isinstance(view, AnswerView):
        outcome = "answered" if view.grounded else "no_answer"
        for stage, ms in view.timings_ms.items():
            STAGE_SECONDS.labels(stage).observe(ms / 1000)
    else:
        outcome = "error"
    QUESTIONS.labels(platform, outcome).inc()
    QUESTION_SECONDS.labels(platform).observe(time.perf_counter() - started)


def observe_ingest(view: View) -> None:
    if isinstance(view, IngestView):
        for result in view.report.results:
            FILES.labels(result.status).inc()


async def start_metrics_server(port: int, host: str = "127.0.0.1") -> tuple[web.AppRunner, int]:
    """Serve /metrics and /healthz; returns the runner and the bound port (0 picks one)."""
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return await serve_app(app, host, port, access_log=False)
