"""`ask` latency without an LLM (extractive mode) on the sample documents, stage by stage.

    python -m benchmarks.ask_latency [N]

Sequential asks (concurrency 1) after a warm-up; the model and Milvus Lite are those of `make run`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import ROOT, save
from bot.settings import get_settings
from bot.wiring import open_service
from ingest.discover import discover

QUESTIONS = [
    "How many days of paid vacation do employees get?", "How quickly must a SEV1 page be acknowledged?",
    "What is the hotel limit per night in Paris?", "What is the name of the guest Wi-Fi network?",
    "How long must passwords be?", "What was the root cause of the telemetry outage?", "When does Kestrel v2 ship?",
    "Who pays for my home office?", "Where do I park my bike?", "What is the learning budget?",
]


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                llm="extractive")
        service = await open_service(settings)
        files, _ = discover([ROOT / "examples" / "docs"])
        report = await service.ingest(files, "bench")
        for question in QUESTIONS:  # warm-up
            await service.ask(question, "bench")
        totals, stages = [], {"embed": [], "search": [], "rescore": [], "generate": []}
        for i in range(n):
            started = time.perf_counter()
            answer = await service.ask(QUESTIONS[i % len(QUESTIONS)], "bench")
            totals.append((time.perf_counter() - started) * 1000)
            for stage in stages:
                stages[stage].append(answer.timings_ms.get(stage, 0.0))
        await service.close()
    total_ms = {"p50": round(statistics.median(totals), 2), "p99": round(float(np.percentile(totals, 99)), 2)}
    result = {"asks": n, "llm": "extractive (none configured)", "rescore": settings.rescore,
              "documents": report.documents, "chunks": report.chunks, "total_ms": total_ms,
              "stage_ms_p50": {k: round(statistics.median(v), 2) for k, v in stages.items()}}
    print(result)
    print(f"written to {save('ask-latency-extractive', result)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
