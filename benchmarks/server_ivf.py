"""A real Milvus server (PyPI `milvus==2.3.5`): BIN_IVF_FLAT with nprobe swept, recall vs exact Hamming search.

    python -m benchmarks.server_ivf [--n 1000000] [--dim 384] [--nlist 1024] [--queries 200] [--scifact DIR]

Part 1, synthetic clustered vectors (seeded; `--clusters` Gaussian centres, each vector = centre + unit noise, so
neighbours have a cosine near 0.7 like text embeddings do; uniform random vectors would have no neighbourhoods for
IVF to find): insert rows/s, index build time, server RSS, then for each nprobe the top-10 and top-50 search
p50/p99 and recall against exact Hamming search computed with numpy (tie-aware: a hit counts when its distance is
no larger than the k-th exact distance), and the same for BIN_FLAT on the same server. Top-50 matters most: that
is the candidate set precise rescoring re-ranks (top_k 5 × oversample 10).

Part 2, real text (`--scifact`): `bitrag eval`'s three modes on the server with the product's store (partition
key, flushed and indexed), first with BIN_FLAT, then BIN_IVF_FLAT for each nprobe, so the effect of nprobe on
NDCG@10 after rescoring is seen. `--parts scifact` reruns one part and keeps the other from the results file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.common import RESULTS, ROOT, SCIFACT, save
from rag.milvus import DataType, MilvusClient
from rag.quantize import binarize, hamming
from rag.store import flush_and_index
from tests.milvus_server import milvus_server, server_pid

NPROBES = (1, 4, 8, 16, 32, 64, 128, 256)
BATCH_ROWS = 40_000


def clustered(seed: int, n: int, dim: int, clusters: int) -> np.ndarray:
    """`n` vectors around `clusters` random centres (centres seeded apart from the noise)."""
    centres = np.random.default_rng(12345).standard_normal((clusters, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    return centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim), dtype=np.float32)


def tie_aware_recall(found: list[int], distances: np.ndarray, k: int) -> float:
    """Share of k results as close as the k-th exact neighbour (`distances`: the query's to every row; Hamming
    distances tie a lot, so which of several equally close rows is returned does not matter)."""
    kth = np.partition(distances, k - 1)[k - 1]
    return float(np.sum(distances[found[:k]] <= kth)) / k


def search_sweep(client: Any, name: str, queries: np.ndarray, exact: list[np.ndarray], params: dict[str, Any],
                 ) -> dict[str, float]:
    latency: dict[int, list[float]] = {10: [], 50: []}
    recall: dict[int, list[float]] = {10: [], 50: []}
    for i, query in enumerate(queries):
        for k in (10, 50):
            started = time.perf_counter()
            hits = client.search(name, data=[query.tobytes()], anns_field="vector", limit=k, search_params=params)
            latency[k].append((time.perf_counter() - started) * 1000)
            recall[k].append(tie_aware_recall([int(h["id"]) for h in hits[0]], exact[i], k))
    return {f"top{k}_{stat}": round(value, 4 if stat.startswith("recall") else 2)
            for k in (10, 50)
            for stat, value in (("recall", float(np.mean(recall[k]))),
                                ("ms_p50", float(np.percentile(latency[k][5:], 50))),
                                ("ms_p99", float(np.percentile(latency[k][5:], 99))))}


def synthetic(uri: str, n: int, dim: int, nlist: int, clusters: int, n_queries: int) -> dict[str, Any]:
    client = MilvusClient(uri)
    pid = server_pid(uri)
    rss_before = psutil.Process(pid).memory_info().rss if pid else 0
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.BINARY_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="BIN_IVF_FLAT", metric_type="HAMMING", params={"nlist": nlist})
    client.create_collection("ivf", schema=schema, index_params=index, consistency_level="Session")
    bits = np.empty((n, dim // 8), dtype=np.uint8)
    started = time.perf_counter()
    for start in range(0, n, BATCH_ROWS):
        block = binarize(clustered(start, min(BATCH_ROWS, n - start), dim, clusters))
        bits[start:start + len(block)] = block
        client.insert("ivf", [{"id": start + i, "vector": row.tobytes()} for i, row in enumerate(block)])
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    flush_and_index(client, "ivf")
    index_s = time.perf_counter() - started
    client.release_collection("ivf")  # reload: segments sealed before their index was built are searched exactly
    client.load_collection("ivf")
    rss_loaded = psutil.Process(pid).memory_info().rss if pid else 0
    queries = binarize(clustered(10**9, n_queries + 5, dim, clusters))
    exact = [hamming(q, bits) for q in queries]
    sweep = []
    for nprobe in NPROBES:
        if nprobe > nlist:
            break
        point = {"nprobe": nprobe, **search_sweep(client, "ivf", queries, exact,
                                                  {"metric_type": "HAMMING", "params": {"nprobe": nprobe}})}
        print(point, flush=True)
        sweep.append(point)
    client.release_collection("ivf")
    client.drop_index("ivf", "vector")
    flat = client.prepare_index_params()
    flat.add_index(field_name="vector", index_type="BIN_FLAT", metric_type="HAMMING")
    client.create_index("ivf", flat)
    flush_and_index(client, "ivf")
    client.load_collection("ivf")
    bin_flat = search_sweep(client, "ivf", queries, exact, {"metric_type": "HAMMING"})
    print({"BIN_FLAT": bin_flat}, flush=True)
    client.drop_collection("ivf")
    client.close()
    return {"vectors": "synthetic clustered", "n": n, "dim": dim, "nlist": nlist, "clusters": clusters,
            "queries": n_queries, "insert_rows_per_s": round(n / insert_s), "flush_and_index_s": round(index_s, 1),
            "server_rss_bytes": rss_loaded, "server_rss_growth_bytes": max(0, rss_loaded - rss_before),
            "bin_ivf_flat": sweep, "bin_flat": bin_flat}


def scifact(uri: str, folder: Path, nlist: int) -> list[dict[str, Any]]:
    from bot.settings import Settings
    from rag.embed import LocalEmbedder
    from rag.evaluation import evaluate, load_beir

    data = load_beir(folder)

    async def run() -> list[dict[str, Any]]:
        embedder = LocalEmbedder("all-MiniLM-L6-v2")
        rows = []
        try:
            for index, nprobe in [("BIN_FLAT", None), *(("BIN_IVF_FLAT", p) for p in (1, 4, 8, 16, 32, nlist))]:
                settings = Settings(_env_file=None, milvus_uri=uri, milvus_index=index, milvus_nlist=nlist,
                                    milvus_nprobe=nprobe or 1)
                result = await evaluate(data, embedder, settings, ROOT / "data" / "cache" / "embeddings")
                row = {"index": index, "nprobe": nprobe, "nlist": nlist if nprobe else None,
                       "retention_ndcg10": result["retention_ndcg10"],
                       **{f"{mode}_ndcg@10": m["ndcg@10"] for mode, m in result["modes"].items()},
                       **{f"{mode}_ms_p50": m["search_ms_p50"] for mode, m in result["modes"].items()}}
                print(row, flush=True)
                rows.append(row)
        finally:
            await embedder.aclose()
        return rows

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--nlist", type=int, default=1024, help="bitrag's MILVUS_NLIST default")
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--scifact-nlist", type=int, default=64, help="≈ √5,183 documents")
    parser.add_argument("--parts", default="synthetic,scifact",
                        help="parts to run; the others are kept from the previous results file")
    args = parser.parse_args()
    parts = args.parts.split(",")
    previous = RESULTS / "server-ivf.json"
    result: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    result = {k: v for k, v in result.items() if k in ("synthetic", "scifact")}
    result["server"] = "milvus 2.3.5 standalone (PyPI milvus)"
    with tempfile.TemporaryDirectory(prefix="bitrag-milvus-") as tmp, milvus_server(Path(tmp)) as uri:
        if "synthetic" in parts:
            result["synthetic"] = synthetic(uri, args.n, args.dim, args.nlist, args.clusters, args.queries)
        if "scifact" in parts and args.scifact.exists():
            result["scifact"] = scifact(uri, args.scifact, args.scifact_nlist)
    print(f"written to {save('server-ivf', result)}")


if __name__ == "__main__":
    main()
