"""The registry's keyword index at scale: what it costs to write, to keep and to search, at 100k and 1M chunks.

    python -m benchmarks.keywords [--runs 100000:50,100000:5000,1000000:5000]

Chunks are recombined real text (`benchmarks.recombined`: SciFact's sentences, real word statistics, ~1,070
characters each). They are written the way ingestion writes them — analyzed (`keywords.analyze_chunks`), then one
registry transaction per document (`Registry.begin` + `commit`) — in documents of a given size (`--runs`
chunks:chunks-per-document): the number of rows a question reads grows with the number of documents holding its
words, so both a knowledge base of small documents and one of large ones are measured. Then SciFact's 300 test
questions are searched (top 100, as hybrid retrieval asks for `TOP_K × OVERSAMPLE` candidates) in one tenant holding
everything. Reported: write rate,
file size per chunk, search p50/p99, and this process's RSS growth (the index lives in the SQLite file: only
SQLite's page cache, a few MB, is in RAM; the OS page cache is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import ROOT, SCIFACT, save
from benchmarks.recombined import sentence_bank
from bot.settings import get_settings
from bot.wiring import quiet_third_party_warnings
from rag.embed import create_embedder
from rag.evaluation import load_beir
from rag.keywords import analyze_chunks
from rag.registry import Registry

TENANT = "bench"


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def build(registry: Registry, bank: Any, size: int, doc_chunks: int) -> dict[str, float]:
    started, analyzing = time.perf_counter(), 0.0
    merging: list[float] = []  # each merge transaction (`Registry._merge_once`): other registry users wait for it
    merge_once = registry._merge_once

    def timed_merge(tenant: str) -> bool:
        began = time.perf_counter()
        merged = merge_once(tenant)
        if merged:
            merging.append(time.perf_counter() - began)
        return merged

    registry._merge_once = timed_merge  # type: ignore[method-assign]
    for start in range(0, size, doc_chunks):
        count = min(doc_chunks, size - start)
        texts = [bank.chunk(i)[0] for i in range(start, start + count)]
        began = time.perf_counter()
        analyzed = analyze_chunks(texts)
        analyzing += time.perf_counter() - began
        document, _ = registry.begin(TENANT, f"doc-{start}", f"doc-{start}.md", f"doc-{start}", None, count, None,
                                     analyzed=analyzed)
        registry.commit(document)
        if (start // doc_chunks) % max(1, 100_000 // doc_chunks) == 0:
            print(f"  {start + count:,}/{size:,}", flush=True)
    total = time.perf_counter() - started
    return {"write_chunks_per_s": round(size / total), "analyze_share": round(analyzing / total, 3),
            "merges": len(merging), "merge_share": round(sum(merging) / total, 3),
            "merge_s_max": round(max(merging, default=0.0), 2)}


def search(registry: Registry, questions: list[str]) -> dict[str, float]:
    for question in questions[:20]:  # warm-up: SQLite's and the OS's caches, as on a running bitrag
        registry.keyword_search([TENANT], question, 100)
    times = []
    for question in questions:
        began = time.perf_counter()
        registry.keyword_search([TENANT], question, 100)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"search_ms_p50": round(statistics.median(times), 2),
            "search_ms_p99": round(times[int(len(times) * 0.99) - 1], 2)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="100000:50,100000:5000,1000000:5000")
    args = parser.parse_args()
    quiet_third_party_warnings()
    embedder = await create_embedder(get_settings())
    bank = await sentence_bank(SCIFACT, embedder, ROOT / "data" / "cache" / "embeddings")
    await embedder.aclose()
    questions = load_beir(SCIFACT).query_texts
    runs = []
    for size, doc_chunks in (map(int, run.split(":")) for run in args.runs.split(",")):
        with tempfile.TemporaryDirectory(prefix="bitrag-keywords-") as tmp:
            path = Path(tmp) / "registry.sqlite3"
            before = rss_mb()
            registry = Registry(f"sqlite:///{path}")
            print(f"{size:,} chunks in documents of {doc_chunks:,}", flush=True)
            written = build(registry, bank, size, doc_chunks)
            searched = search(registry, questions)
            rows = sum(registry._db.execute(f"SELECT COUNT(*) FROM {table}")[0][0]
                       for table in ("keyword_postings", "keyword_segments"))
            registry.close()
            disk = sum(f.stat().st_size for f in Path(tmp).iterdir())
            run = {"chunks": size, "chunks_per_document": doc_chunks, **written, **searched,
                   "posting_rows": rows, "file_bytes_per_chunk": round(disk / size),
                   "rss_growth_mb": round(rss_mb() - before, 1)}
            print(run, flush=True)
            runs.append(run)
    print(f"written to {save('keywords', {'cpu_cores': os.cpu_count(), 'questions': len(questions), 'runs': runs})}")


if __name__ == "__main__":
    asyncio.run(main())
