"""End-to-end `ask` throughput and latency through the bot core with an instant fake LLM, batching off vs on.

    python -m benchmarks.e2e [--chunks 1000000] [--asks 200] [--concurrency 1,5,10,25,50,100] [--waits 0,2]
                             [--runtimes onnx-int8,torch] [--keep DIR]

The collection holds the sample documents (real text, real questions) plus `--chunks` filler chunks in the same
tenant: real text recombined from SciFact's sentences with real embeddings (`benchmarks.recombined`; ~1,070
characters each, float16 copies in the registry like real chunks), so every dense search scans the full collection
and keyword search (`--retrieval hybrid`) sees real word statistics. The LLM is the Groq client against a local
OpenAI-compatible fake (in a process of its own, like a remote model) that answers at once, so `generate` is the
client and HTTP overhead alone. Each ask goes through `BotCore.ask` and is rendered to Slack blocks (`format`).
Stages come from the answer's own timings (`queue`: time spent waiting for a batch to start, or for an LLM slot).

The same service answers every configuration in one run, on the same collection: micro-batching off
(`ASK_BATCHING=false`: one forward pass and one search per question) and on with each `--waits` value of
`ASK_BATCH_WAIT_MS`. While each level runs, a probe measures how late the event loop wakes a 5 ms sleep.

`--keep DIR` builds the knowledge base in DIR and keeps it; a later run with the same DIR measures the same collection
again without filling it (1M chunks take ~10 minutes to fill). On this 2-core machine one run's asks/s at 50 askers
varies by up to ±8 % from the next, so compare several runs, not two single ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.ask_latency import QUESTIONS
from benchmarks.common import ROOT, SCIFACT, save
from benchmarks.recombined import sentence_bank
from benchmarks.scale import folder_size, lite_server_rss
from bot.adapters.slack.render import answer_messages
from bot.core import BotCore, Conversation
from bot.settings import get_settings
from bot.views import AnswerView
from bot.wiring import open_service
from ingest.discover import discover
from rag.keywords import analyze_chunks
from rag.quantize import binarize
from rag.service import RagService
from rag.store import ChunkRecord
from tests.fakes.llm import FakeLLM
from tests.loop_lag import probe_loop_lag

TENANT = "bench"
STAGES = ("queue", "embed", "search", "rescore", "generate", "format")
FILLER_BATCH = 50_000


async def add_filler(service: RagService, n: int, scifact: Path, per_document: int = FILLER_BATCH) -> float:
    """Insert `n` recombined real-text chunks as documents of `per_document` chunks, the way ingestion would (each
    document pending, its chunks in Milvus, then ready); returns rows/s."""
    bank = await sentence_bank(scifact, service.embedder, ROOT / "data" / "cache" / "embeddings")
    started = time.perf_counter()
    for start in range(0, n, FILLER_BATCH):
        count = min(FILLER_BATCH, n - start)
        texts, vectors = await asyncio.to_thread(bank.chunks, start, count)
        bits = binarize(vectors)
        records, documents = [], []
        for first in range(0, count, per_document):
            part = slice(first, min(first + per_document, count))
            part_texts = texts[part]
            analyzed = (await asyncio.to_thread(analyze_chunks, part_texts)
                        if service.needs_keywords(part_texts) else None)
            name = f"filler-{start + first}"
            document, ids = await asyncio.to_thread(
                service.registry.begin, TENANT, name, "filler.md", name, None, len(part_texts),
                vectors[part] if service.settings.rescore == "precise" else None, None, analyzed,
                [(text, {"location": None}) for text in part_texts], bits[part])
            documents.append(document)
            records += [ChunkRecord(id=cid, tenant=TENANT, bits=bits[first + i].tobytes(), doc_id=document.doc_id,
                                    source="filler.md", text=part_texts[i], meta={"location": None})
                        for i, cid in enumerate(ids)]
        await service.store.insert(records)
        for document in documents:
            await asyncio.to_thread(service.registry.commit, document)
        print(f"filler {start + count:,}/{n:,}", flush=True)
    return n / (time.perf_counter() - started)


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by bitrag's process (every thread: loop, encoder, Milvus client), Milvus Lite's
    server process and the fake LLM's process."""
    me = psutil.Process()
    used = {"bitrag": sum(me.cpu_times()[:2]), "milvus": 0.0, "llm": 0.0}
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            used["milvus" if "milvus" in " ".join(child.cmdline()) else "llm"] += sum(child.cpu_times()[:2])
    return used


async def measure(core: BotCore, concurrency: int, asks: int) -> dict[str, Any]:
    conversation = Conversation(tenant=TENANT)
    gate = asyncio.Semaphore(concurrency)
    totals: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    queries = core.service.queries
    batches, items, _ = queries.batch_counts()

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
            for stage in STAGES[:-1]:
                stages[stage].append(view.timings_ms.get(stage, 0.0))

    stop, lags = asyncio.Event(), []
    probe = asyncio.create_task(probe_loop_lag(stop, lags))
    cpu = cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(asks)))
    wall = time.perf_counter() - started
    cpu = {k: v - cpu.get(k, 0.0) for k, v in cpu_seconds().items()}
    stop.set()
    await probe
    after_batches, after_items, _ = queries.batch_counts()
    return {"concurrency": concurrency, "asks": asks, "asks_per_s": round(asks / wall, 1),
            "total_ms_p50": round(statistics.median(totals), 2),
            "total_ms_p99": round(float(np.percentile(totals, 99)), 2),
            "loop_lag_ms_p99": round(float(np.percentile(lags, 99)), 2), "loop_lag_ms_max": round(max(lags), 2),
            "mean_batch": round((after_items - items) / max(1, after_batches - batches), 1),
            "cpu_ms_per_ask": {k: round(v * 1000 / asks, 2) for k, v in cpu.items()},
            "cpu_cores_busy": round(sum(cpu.values()) / wall, 2),
            "stage_ms_p50": {k: round(statistics.median(v), 2) for k, v in stages.items()},
            "stage_ms_mean": {k: round(statistics.fmean(v), 2) for k, v in stages.items()}}


def _serve_llm(connection: Connection) -> None:
    async def serve() -> None:
        llm = await FakeLLM().start()
        connection.send((llm.url, llm.api_key))
        await asyncio.Event().wait()

    asyncio.run(serve())


@contextlib.contextmanager
def llm_process() -> Iterator[tuple[str, str]]:
    """The fake LLM in a process of its own, like a remote model: its work is not counted as the bot's loop lag."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve_llm, args=(child,), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        process.terminate()
        process.join()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        tmp = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="bitrag-e2e-"))
        Path(tmp).mkdir(parents=True, exist_ok=True)
        llm_url, llm_key = stack.enter_context(llm_process())
        settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                llm="groq", groq_api_key=llm_key, groq_base_url=llm_url,
                                **({"retrieval": args.retrieval} if args.retrieval else {}))
        # Each runtime opens the same collection in turn (its vectors are the same model's): one collection, one run.
        for n, runtime in enumerate(args.runtimes or [settings.embed_runtime]):
            service = await open_service(settings.model_copy(update={"embed_runtime": runtime}))
            try:
                if n == 0:
                    files, _ = discover([ROOT / "examples" / "docs"])
                    await service.ingest(files, TENANT)
                    documents = await asyncio.to_thread(service.registry.documents, [TENANT])
                    filler = sum(d.chunks for d in documents if d.doc_id.startswith("filler-"))
                    if filler:  # --keep: an earlier run's filler is there
                        print(f"reusing {filler:,} filler chunks in {tmp}", flush=True)
                        insert_rate = None
                    else:
                        insert_rate = await add_filler(service, args.chunks, args.scifact) if args.chunks else 0.0
                        filler = args.chunks
                    in_collection = await asyncio.to_thread(service.registry.ready_chunk_count)
                core = BotCore(service)
                await measure(core, 1, 20)  # warm-up
                configurations = {}
                for name, batched, wait_ms in [("off", False, 0.0)] + [(f"on, wait {w:g} ms", True, w)
                                                                        for w in args.waits]:
                    service.queries.configure(batched, wait_ms)
                    configurations[name] = [await measure(core, c, max(args.asks, 4 * c)) for c in args.concurrency]
                    for level in configurations[name]:
                        print(service.embedder.encoder_id, name, level, flush=True)
                runs[service.embedder.encoder_id] = configurations
                keyword_note = await service.retrieval_note()
                if n == 0:  # what the whole process holds with this many chunks, after answering
                    memory = {"milvus_lite_rss_bytes": lite_server_rss(Path(settings.milvus_uri)),
                              "bitrag_rss_bytes": psutil.Process().memory_info().rss,
                              "disk_bytes": folder_size(Path(tmp))}
            finally:
                await service.close()
    first = next(iter(runs.values()))
    return {"chunks_in_collection": in_collection, "filler_chunks": filler,
            "filler_insert_rows_per_s": "reused (--keep)" if insert_rate is None else round(insert_rate),
            "llm": "groq client → instant local fake (own process)",
            "milvus": "lite (BIN_FLAT)", "retrieval": keyword_note, "rescore": settings.rescore,
            "top_k": settings.top_k, "oversample": settings.oversample, "llm_concurrency": settings.llm_concurrency,
            "ask_batch_max": settings.ask_batch_max, "memory": memory, "batching": first,
            **({"encoders": runs} if len(runs) > 1 else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--asks", type=int, default=200)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--retrieval", choices=["dense", "hybrid"], default=None, help="default: RETRIEVAL")
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 5, 10, 25, 50, 100])
    parser.add_argument("--waits", type=lambda s: [float(w) for w in s.split(",")], default=[0.0, 2.0],
                        help="ASK_BATCH_WAIT_MS values to run with batching on")
    parser.add_argument("--out", help="results file name (default: e2e-<retrieval>)")
    parser.add_argument("--keep", help="build the knowledge base in this folder and keep it; a later run with the "
                        "same folder reuses its filler (the sample documents are ingested again: unchanged, skipped)")
    parser.add_argument("--runtimes", type=lambda s: s.split(","), default=None,
                        help="EMBED_RUNTIME values measured in turn on the same collection (default: the configured)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    name = args.out or (f"e2e-{args.retrieval}" if args.retrieval else "e2e")
    print(f"written to {save(name, result)}")


if __name__ == "__main__":
    main()
