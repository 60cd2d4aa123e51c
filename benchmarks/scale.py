"""Scale: binary (BIN_FLAT, HAMMING) vs float32 (FLAT, IP) collections in Milvus Lite, same data, same run.

    python -m benchmarks.scale [--dims 384,1024] [--sizes 100000,1000000] [--binary-sizes 10000000] [--queries 200]

Vectors are synthetic (seeded Gaussian, unit length): scale behaviour depends on count and dimension, not on
meaning; quality is measured on real text by `benchmarks.quality`. Each mode gets its own Lite database, so the
milvus-lite server process RSS is that mode's alone. Reported per point: insert rows/s, server RSS after load,
on-disk size, top-10 search p50/p99 over `--queries` queries, and binary/float32 ratios. Plots (log-log): latency
vs N and memory vs N.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.common import RESULTS, save
from rag.milvus import DataType, MilvusClient
from rag.quantize import binarize
from rag.store import INSERT_BATCH_BYTES, release_lite_server


def vectors(seed: int, n: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def lite_server_rss(database: Path) -> int:
    """RSS of the milvus-lite server process serving `database` (Lite starts one server per database file)."""
    for child in psutil.Process().children(recursive=True):
        try:
            if str(database) in child.cmdline():
                return child.memory_info().rss
        except psutil.Error:
            continue
    return 0


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_point(mode: str, n: int, dim: int, queries: np.ndarray, workdir: Path) -> dict[str, Any]:
    folder = workdir / f"{mode}-{dim}-{n}"
    folder.mkdir(parents=True)
    database = folder / "bench.db"
    client = MilvusClient(str(database))
    rss_empty = lite_server_rss(database)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    if mode == "binary":
        schema.add_field("vector", DataType.BINARY_VECTOR, dim=dim)
        index_type, metric = "BIN_FLAT", "HAMMING"
    else:
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index_type, metric = "FLAT", "IP"
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type=index_type, metric_type=metric)
    client.create_collection("bench", schema=schema, index_params=index, consistency_level="Strong")
    batch = max(100, INSERT_BATCH_BYTES // (dim // 8 if mode == "binary" else dim * 4))
    started = time.perf_counter()
    for start in range(0, n, batch):
        block = vectors(start, min(batch, n - start), dim)  # seeded by position: the same rows in both modes
        rows = [r.tobytes() for r in binarize(block)] if mode == "binary" else block.tolist()
        data = [{"id": start + i, "vector": row} for i, row in enumerate(rows)]
        client.insert("bench", data)
    insert_s = time.perf_counter() - started
    client.flush("bench")
    client.load_collection("bench")
    search_q = binarize(queries) if mode == "binary" else queries
    latencies = []
    for i, q in enumerate(search_q):
        t = time.perf_counter()
        client.search("bench", data=[q.tobytes() if mode == "binary" else q.tolist()], anns_field="vector", limit=10,
                      search_params={"metric_type": metric})
        if i >= 5:  # warm-up excluded
            latencies.append((time.perf_counter() - t) * 1000)
    rss = lite_server_rss(database)
    client.close()
    release_lite_server(str(database))  # else each point's server and its memory would add up
    gc.collect()
    point = {"mode": mode, "dim": dim, "n": n, "insert_rows_per_s": round(n / insert_s),
             "server_rss_bytes": rss, "server_rss_growth_bytes": max(0, rss - rss_empty),
             "disk_bytes": folder_size(folder), "raw_vector_bytes": n * (dim // 8 if mode == "binary" else dim * 4),
             "search_ms_p50": round(float(np.percentile(latencies, 50)), 2),
             "search_ms_p99": round(float(np.percentile(latencies, 99)), 2)}
    shutil.rmtree(folder, ignore_errors=True)
    print(point, flush=True)
    return point


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (latency, memory) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (mode, dim), style in {("binary", 384): "o-", ("float32", 384): "s--", ("binary", 1024): "^-",
                               ("float32", 1024): "d--"}.items():
        series = sorted((p for p in points if p["mode"] == mode and p["dim"] == dim), key=lambda p: p["n"])
        if not series:
            continue
        label = f"{mode} {dim}-d"
        latency.plot([p["n"] for p in series], [p["search_ms_p50"] for p in series], style, label=label)
        memory.plot([p["n"] for p in series], [p["server_rss_growth_bytes"] / 2**20 for p in series], style,
                    label=label)
    for axis, title, unit in ((latency, "top-10 search latency (p50)", "ms"),
                              (memory, "milvus-lite RSS growth", "MiB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("vectors (N)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="384,1024")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--binary-sizes", default="", help="extra sizes for binary only, e.g. 10000000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    dims = [int(d) for d in args.dims.split(",")]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    extra = [int(s) for s in args.binary_sizes.split(",") if s]
    points = []
    with tempfile.TemporaryDirectory(prefix="bitrag-scale-", dir=os.environ.get("BENCH_TMP")) as tmp:
        for dim in dims:
            queries = vectors(999_999_999, args.queries + 5, dim)
            for n in sizes:
                for mode in ("binary", "float32"):
                    points.append(run_point(mode, n, dim, queries, Path(tmp)))
            for n in extra:
                points.append(run_point("binary", n, dim, queries, Path(tmp)))
    ratios = []
    for p in points:
        twin = next((q for q in points if q["mode"] == "float32" and q["dim"] == p["dim"] and q["n"] == p["n"]), None)
        if p["mode"] == "binary" and twin:
            ratios.append({"dim": p["dim"], "n": p["n"],
                           "memory_float32_over_binary": round(twin["server_rss_growth_bytes"] /
                                                               max(p["server_rss_growth_bytes"], 1), 1),
                           "disk_float32_over_binary": round(twin["disk_bytes"] / max(p["disk_bytes"], 1), 1),
                           "search_p50_float32_over_binary": round(twin["search_ms_p50"] / p["search_ms_p50"], 1)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(points, RESULTS / "scale.png")
    print(ratios)
    print(f"written to {save('scale', {'synthetic_vectors': True, 'points': points, 'ratios': ratios})}")


if __name__ == "__main__":
    main()
