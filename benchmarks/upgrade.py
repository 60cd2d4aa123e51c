"""Turning hybrid retrieval on for a knowledge base written under RETRIEVAL=dense: how long a serving bitrag takes to
put it into the keyword index, and how questions fare meanwhile.

    python -m benchmarks.upgrade [--chunks 100000] [--per-document 50]

A knowledge base of `--chunks` recombined real-text chunks (`benchmarks.recombined`, in documents of
`--per-document` chunks, written as ingestion writes them) is filled under RETRIEVAL=dense, so no document is in the
keyword index — what an upgrade from an older default, or a switch to hybrid, starts from. It is then opened with
RETRIEVAL=hybrid and `RagService.index_missing_keywords` runs as `bitrag run` starts it, in the background, while
SciFact's test questions are retrieved one after another (embedding + search + rescoring; no LLM). Reported: the
indexing time and rate (reading the stored text, analyzing, writing, merging small documents), the registry's
growth on disk, and retrieval p50/p99 before, during and after.
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

from benchmarks.common import SCIFACT, save
from benchmarks.e2e import TENANT, add_filler
from bot.settings import get_settings
from bot.wiring import open_service
from rag.evaluation import load_beir
from rag.service import RagService


async def retrieve_ms(service: RagService, question: str) -> float:
    started = time.perf_counter()
    query = await service.queries.embed(question, {})
    await service.queries.retrieve(query, TENANT, service.settings.top_k, question, {})
    return (time.perf_counter() - started) * 1000


def summary(times: list[float]) -> dict[str, float]:
    return {"questions": len(times), "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(float(np.percentile(times, 99)), 2)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    questions = load_beir(args.scifact, "test").query_texts
    with tempfile.TemporaryDirectory(prefix="bitrag-upgrade-") as tmp:
        settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                llm="extractive", retrieval="dense")
        dense = await open_service(settings)
        try:
            await add_filler(dense, args.chunks, args.scifact, args.per_document)
        finally:
            await dense.close()
        registry_file = Path(tmp) / "registry.sqlite3"
        size_before = registry_file.stat().st_size
        service = await open_service(settings.model_copy(update={"retrieval": "hybrid"}))
        try:
            documents = len(await asyncio.to_thread(service.registry.unindexed))
            before = [await retrieve_ms(service, q) for q in questions[:100]]
            started = time.perf_counter()
            indexing = asyncio.create_task(service.index_missing_keywords())
            during, asked = [], 0
            while not indexing.done():
                during.append(await retrieve_ms(service, questions[asked % len(questions)]))
                asked += 1
            indexed = await indexing
            seconds = time.perf_counter() - started
            after = [await retrieve_ms(service, q) for q in questions[:100]]
            assert indexed == documents and not await asyncio.to_thread(service.registry.unindexed)
        finally:
            await service.close()
        size_after = registry_file.stat().st_size
    return {"chunks": args.chunks, "chunks_per_document": args.per_document, "documents": documents,
            "indexing_s": round(seconds, 1), "indexing_chunks_per_s": round(args.chunks / seconds),
            "registry_growth_bytes_per_chunk": round((size_after - size_before) / args.chunks),
            "retrieval_before": summary(before), "retrieval_while_indexing": summary(during),
            "retrieval_after": summary(after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--per-document", type=int, default=50)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--out", default="upgrade")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(result)
    print(f"written to {save(args.out, result)}")


if __name__ == "__main__":
    main()
