"""End-to-end `ask` latency through the bot core with an instant fake LLM, at concurrency 1, 10 and 50.

    python -m benchmarks.e2e [--chunks 1000000] [--asks 200] [--concurrency 1,10,50]

The collection holds the sample documents (real text, real questions) plus `--chunks` filler chunks in the same
tenant: real text recombined from SciFact's sentences with real embeddings (`benchmarks.recombined`; ~1,070
characters each, float16 copies in the registry like real chunks), so every dense search scans the full collection
and keyword search (`--retrieval hybrid`) sees real word statistics. The LLM is the Groq client against a local
OpenAI-compatible fake that answers at once, so `generate` is the client and HTTP overhead alone. Each ask goes
through `BotCore.ask` and is rendered to Slack blocks (`format`). Stages come from the answer's own timings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.ask_latency import QUESTIONS
from benchmarks.common import ROOT, SCIFACT, save
from benchmarks.recombined import sentence_bank
from bot.adapters.slack.render import answer_messages
from bot.core import BotCore, Conversation
from bot.settings import get_settings
from bot.views import AnswerView
from bot.wiring import open_service
from ingest.discover import discover
from rag.quantize import binarize
from rag.service import RagService
from rag.store import ChunkRecord
from tests.fakes.llm import FakeLLM

TENANT = "bench"
FILLER_BATCH = 50_000


async def add_filler(service: RagService, n: int, scifact: Path) -> float:
    """Insert `n` recombined real-text chunks as documents of 50k chunks, the way ingestion would; returns rows/s."""
    bank = await sentence_bank(scifact, service.embedder, ROOT / "data" / "cache" / "embeddings")
    started = time.perf_counter()
    for start in range(0, n, FILLER_BATCH):
        count = min(FILLER_BATCH, n - start)
        texts, vectors = await asyncio.to_thread(bank.chunks, start, count)
        document, ids = await asyncio.to_thread(service.registry.begin, TENANT, f"filler-{start}", "filler.md",
                                                f"filler-{start}", None, count, vectors)
        bits = binarize(vectors)
        await service.store.insert([ChunkRecord(id=cid, tenant=TENANT, doc_id=document.doc_id, source="filler.md",
                                                text=texts[i], bits=bits[i].tobytes(),
                                                meta={"location": None})
                                    for i, cid in enumerate(ids)])
        await asyncio.to_thread(service.registry.commit, document)
        print(f"filler {start + count:,}/{n:,}", flush=True)
    return n / (time.perf_counter() - started)


async def measure(core: BotCore, concurrency: int, asks: int) -> dict[str, Any]:
    conversation = Conversation(tenant=TENANT)
    gate = asyncio.Semaphore(concurrency)
    totals: list[float] = []
    stages: dict[str, list[float]] = {"embed": [], "search": [], "rescore": [], "generate": [], "format": []}

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            view = await core.ask(conversation, QUESTIONS[i % len(QUESTIONS)])
            formatting = time.perf_counter()
            assert isinstance(view, AnswerView), view
            answer_messages(view)
            done = time.perf_counter()
            totals.append((done - started) * 1000)
            stages["format"].append((done - formatting) * 1000)
            for stage in ("embed", "search", "rescore", "generate"):
                stages[stage].append(view.timings_ms.get(stage, 0.0))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(asks)))
    wall = time.perf_counter() - started
    return {"concurrency": concurrency, "asks": asks, "asks_per_s": round(asks / wall, 1),
            "total_ms_p50": round(statistics.median(totals), 2),
            "total_ms_p99": round(float(np.percentile(totals, 99)), 2),
            "stage_ms_p50": {k: round(statistics.median(v), 2) for k, v in stages.items()}}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    llm = await FakeLLM().start()
    with tempfile.TemporaryDirectory(prefix="bitrag-e2e-") as tmp:
        settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                llm="groq", groq_api_key=llm.api_key, groq_base_url=llm.url,
                                **({"retrieval": args.retrieval} if args.retrieval else {}))
        service = await open_service(settings)
        try:
            files, _ = discover([ROOT / "examples" / "docs"])
            report = await service.ingest(files, TENANT)
            insert_rate = await add_filler(service, args.chunks, args.scifact) if args.chunks else 0.0
            core = BotCore(service)
            await measure(core, 1, 20)  # warm-up
            levels = [await measure(core, c, max(args.asks, 4 * c)) for c in args.concurrency]
            keyword_note = service.store.keyword_note
        finally:
            await service.close()
            await llm.stop()
    for level in levels:
        print(level, flush=True)
    return {"chunks_in_collection": report.chunks + args.chunks, "filler_chunks": args.chunks,
            "filler_insert_rows_per_s": round(insert_rate), "llm": "groq client → instant local fake",
            "milvus": "lite (BIN_FLAT)", "retrieval": keyword_note, "rescore": settings.rescore,
            "top_k": settings.top_k, "oversample": settings.oversample, "levels": levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--asks", type=int, default=200)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--retrieval", choices=["dense", "hybrid"], default=None, help="default: RETRIEVAL")
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 10, 50])
    args = parser.parse_args()
    result = asyncio.run(run(args))
    name = f"e2e-{args.retrieval}" if args.retrieval else "e2e"
    print(f"written to {save(name, result)}")


if __name__ == "__main__":
    main()
