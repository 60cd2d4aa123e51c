"""Encoder runtimes side by side in one run: torch, ONNX Runtime float32, ONNX Runtime int8 (`EMBED_RUNTIME`).

    python -m benchmarks.encoders [--runtimes torch,onnx,onnx-int8] [--part speed|quality|all] [--max-docs 4000]

For each runtime, on the same machine in the same run:
- build: the ONNX export into an empty cache folder (what a first start pays once); load: a fresh process that
  imports bitrag's embedder and loads the model, the export already cached (what every CLI call that embeds pays);
- questions: embedding one at a time (p50 over 50 SciFact questions) and 50 in one call (median of 5 calls);
- ingestion: `benchmarks.ingest` end to end, mixed formats (60 files) and one abstract per file (600 files), with
  the encoder alone on the same chunk texts;
- quality: NDCG@10 through `rag.evaluation.evaluate` (the code `bitrag eval` runs; the 1-bit search + rescoring
  of the default settings, and hybrid) on SciFact test and on the Python docstrings collection of
  `benchmarks.generalization`, plus the upgrade case: a collection embedded by torch searched with questions
  embedded by each other runtime (the vectors are the same model's, so a collection is not re-embedded).
The default (`CPU_RUNTIME` in rag/embed.py) is the fastest runtime whose NDCG@10 is >= 99.5 % of torch's on both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import ingest
from benchmarks.common import ROOT, SCIFACT, save
from benchmarks.generalization import write_beir
from bot.settings import get_settings
from bot.wiring import quiet_third_party_warnings
from rag.embed import create_local_embedder
from rag.evaluation import BeirData, evaluate, load_beir, query_cache_key

CACHE = ROOT / "data" / "cache" / "embeddings"
LOAD = ("import time, sys; t = time.perf_counter(); from rag.embed import create_local_embedder; "
        "from rag.settings import RagSettings; "
        "create_local_embedder(RagSettings(_env_file=None, embed_runtime=sys.argv[1])); "
        "print(time.perf_counter() - t)")
MODES = ("float32", "rescored", "hybrid")


def load_seconds(runtime: str, repeats: int = 3) -> float:
    """Median wall time of a fresh process importing the embedder and loading the model (export cached)."""
    times = [float(subprocess.run([sys.executable, "-c", LOAD, runtime], check=True, capture_output=True, text=True,
                                  cwd=ROOT).stdout.split()[-1]) for _ in range(repeats)]
    return round(statistics.median(times), 2)


def build_seconds(runtime: str) -> float | None:
    if runtime == "torch":
        return None
    with tempfile.TemporaryDirectory(prefix="bitrag-export-") as cache:
        started = time.perf_counter()
        create_local_embedder(get_settings(embed_runtime=runtime, embed_cache_dir=cache))
        return round(time.perf_counter() - started, 1)


async def question_ms(embedder: Any, questions: list[str]) -> dict[str, float]:
    await embedder.embed(questions[:4])  # warm-up
    single = []
    for question in questions[:50]:
        started = time.perf_counter()
        await embedder.embed([question])
        single.append(time.perf_counter() - started)
    batch = []
    for _ in range(5):
        started = time.perf_counter()
        await embedder.embed(questions[:50])
        batch.append(time.perf_counter() - started)
    return {"batch1_ms_p50": round(statistics.median(single) * 1000, 2),
            "batch50_ms_median": round(statistics.median(batch) * 1000, 1)}


def upgrade_cache(runtime: str, data: BeirData, encoder_id: str) -> str:
    """Cache files under a new encoder id: torch's document vectors with `runtime`'s question vectors."""
    slug = encoder_id.replace("/", "_")
    mixed = f"{slug}-torch-docs"
    shutil.copy(CACHE / f"{slug.split('+')[0]}-docs-{data.fingerprint}.npy",
                CACHE / f"{mixed}-docs-{data.fingerprint}.npy")
    shutil.copy(CACHE / f"{slug}-{query_cache_key(data)}.npy", CACHE / f"{mixed}-{query_cache_key(data)}.npy")
    return f"{encoder_id}-torch-docs"


def scores(result: dict[str, Any]) -> dict[str, float]:
    return {mode: round(result["modes"][mode]["ndcg@10"], 4) for mode in MODES if mode in result["modes"]}


async def quality(runtime: str, embedder: Any, datasets: dict[str, BeirData]) -> dict[str, Any]:
    settings = get_settings(embed_runtime=runtime)
    out: dict[str, Any] = {}
    for name, data in datasets.items():
        out[name] = scores(await evaluate(data, embedder, settings, CACHE))
        if runtime != "torch":  # the torch run came first, so its document vectors are cached
            own = embedder.encoder_id
            embedder.encoder_id = upgrade_cache(runtime, data, own)
            try:
                out[f"{name} (torch documents)"] = scores(await evaluate(data, embedder, settings, CACHE))
            finally:
                embedder.encoder_id = own
        print(runtime, name, out, flush=True)
    return out


async def speed(runtime: str, questions: list[str], scifact: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"build_s": build_seconds(runtime), "load_s": load_seconds(runtime)}
    embedder = create_local_embedder(get_settings(embed_runtime=runtime))
    try:
        row["questions"] = await question_ms(embedder, questions)
    finally:
        await embedder.aclose()
    for layout in ("mixed", "files"):
        measured = await ingest.run(argparse.Namespace(layout=layout, runtime=runtime, scifact=scifact,
                                                       docs_per_format=10, abstracts_per_doc=8, files=600))
        row[f"ingest_{layout}"] = {key: measured[key] for key in (
            "documents", "chunks", "ingest_chunks_per_s", "encoder_chunks_per_s")}
    print(runtime, row, flush=True)
    return row


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quiet_third_party_warnings()
    results: dict[str, Any] = {runtime: {} for runtime in args.runtimes}
    with tempfile.TemporaryDirectory(prefix="bitrag-encoders-") as tmp:
        datasets = {"scifact": load_beir(args.scifact),
                    "python-docstrings": load_beir(write_beir(Path(tmp) / "python-docstrings", args.max_docs, 500))}
        for runtime in args.runtimes if args.part in ("speed", "all") else ():
            results[runtime].update(await speed(runtime, datasets["scifact"].query_texts, args.scifact))
        for runtime in args.runtimes if args.part in ("quality", "all") else ():
            # torch first: the upgrade case reads its cached document vectors
            embedder = create_local_embedder(get_settings(embed_runtime=runtime))
            try:
                results[runtime]["ndcg@10"] = await quality(runtime, embedder, datasets)
            finally:
                await embedder.aclose()
    return {"runtimes": results, "criterion": "fastest with NDCG@10 (rescored) >= 99.5 % of torch's on both sets"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", type=lambda s: s.split(","), default=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--max-docs", type=int, default=4000)
    parser.add_argument("--part", choices=["speed", "quality", "all"], default="all",
                        help="speed wants a quiet machine; quality does not (its figures do not depend on load)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    print(f"written to {save('encoders' if args.part == 'all' else f'encoders-{args.part}', result)}")


if __name__ == "__main__":
    main()
