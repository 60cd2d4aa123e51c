"""How to fuse 1-bit dense and BM25 rankings: a sweep on data no reported figure comes from.

    python -m benchmarks.fusion [--scifact DIR]

For each collection, the real stores are built once (Milvus Lite: the 1-bit collection with its BM25 index, the
registry's float16 copies), and every query's candidates are fetched as `ask` fetches them for top_k = 10: 100
Hamming candidates rescored precisely, and 100 BM25 candidates rescored the same way. The fusions are then
compared on those same candidate lists: reciprocal-rank fusion (k = 60) and two normalised score fusions at dense
weights 0.1 … 0.9 ("max-scaled" is `rag.fusion.fuse`). The setting is chosen on SciFact *train* and the docstring
collection; SciFact *test* is listed for reference only (its figures in the README come from `bitrag eval`, which
runs the chosen default end to end).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, SCIFACT, save
from benchmarks.generalization import write_beir
from bot.settings import get_settings
from rag.embed import LocalEmbedder
from rag.evaluation import TENANT, _load_binary, embed_cached, load_beir, ndcg_at, query_cache_key
from rag.fusion import fuse, normalise
from rag.quantize import binarize
from rag.registry import Registry
from rag.store import MilvusStore

WEIGHTS = [round(w, 1) for w in np.arange(0.1, 1.0, 0.1)]
CANDIDATES = 100


def rrf(dense: np.ndarray, keyword: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion of the two rankings (a candidate missing from one gets nothing from it)."""
    def ranks(scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        order = np.argsort(-scores, kind="stable")
        rank = np.empty(len(scores))
        rank[order] = np.arange(1, len(scores) + 1)
        return np.where(present, 1.0 / (k + rank), 0.0)
    return ranks(dense, np.ones(len(dense), bool)) + ranks(keyword, keyword > 0)


def min_max(dense: np.ndarray, keyword: np.ndarray, weight: float) -> np.ndarray:
    """Both signals min-max normalised (BM25 over the candidates it returned; the others count as its minimum)."""
    returned = keyword > 0
    scaled = np.zeros_like(keyword)
    if returned.any():
        scaled[returned] = normalise(keyword[returned]) if returned.sum() > 1 else 1.0
    return weight * normalise(dense) + (1 - weight) * scaled


async def candidate_lists(data: Any, embedder: LocalEmbedder, cache: Path) -> list[tuple[list[str], np.ndarray,
                                                                                            np.ndarray]]:
    """Per query: candidate names, their precise dense scores, their BM25 scores (0 where BM25 did not find it)."""
    docs = await embed_cached(embedder, data.doc_texts, cache, f"docs-{data.fingerprint}")
    queries = await embed_cached(embedder, data.query_texts, cache, query_cache_key(data), queries=True)
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="bitrag-fusion-") as tmp:
        run = settings.model_copy(update={"milvus_uri": str(Path(tmp) / "f.db"), "retrieval": "hybrid",
                                          "registry_url": f"sqlite:///{Path(tmp) / 'r.sqlite3'}"})
        store = MilvusStore(run)
        await store.open(embedder.model_id, embedder.dim)
        registry = Registry(run.registry_url)
        try:
            ids = await _load_binary(store, registry, data, docs, True, lambda _: None)
            row = {cid: n for n, cid in enumerate(ids)}
            halves = docs.astype(np.float16).astype(np.float32)
            lists = []
            for query, text in zip(queries, data.query_texts, strict=True):
                dense = await store.search(TENANT, binarize(query)[0].tobytes(), CANDIDATES)
                keyword = await store.keyword_search(TENANT, text, CANDIDATES)
                bm25 = {c.id: c.keyword for c in keyword}
                chosen = [c.id for c in dense] + [c.id for c in keyword if c.id not in {d.id for d in dense}]
                lists.append(([data.doc_ids[row[i]] for i in chosen],
                              halves[[row[i] for i in chosen]] @ query,
                              np.array([bm25.get(i, 0.0) for i in chosen])))
        finally:
            await store.close()
            registry.close()
    return lists


def sweep(data: Any, lists: list[tuple[list[str], np.ndarray, np.ndarray]]) -> dict[str, float]:
    def ndcg(score: Any) -> float:
        total = 0.0
        for qid, (names, dense, keyword) in zip(data.query_ids, lists, strict=True):
            order = np.argsort(-score(dense, keyword), kind="stable")[:10]
            total += ndcg_at([names[i] for i in order], data.qrels[qid], 10)
        return round(total / len(lists), 4)

    results = {"dense (1-bit + precise)": ndcg(lambda d, k: np.where(np.arange(len(d)) < CANDIDATES, d, -9)),
               "bm25": ndcg(lambda d, k: k), "rrf k=60": ndcg(rrf)}
    for weight in WEIGHTS:
        results[f"minmax w={weight}"] = ndcg(lambda d, k, w=weight: min_max(d, k, w))
        results[f"max-scaled w={weight}"] = ndcg(lambda d, k, w=weight: fuse(d, k, w))  # rag.fusion.fuse
    return results


async def main(args: argparse.Namespace) -> None:
    embedder = LocalEmbedder("all-MiniLM-L6-v2")
    cache = ROOT / "data" / "cache" / "embeddings"
    with tempfile.TemporaryDirectory(prefix="bitrag-docstrings-") as tmp:
        datasets = {"python-docstrings": load_beir(write_beir(Path(tmp) / "python-docstrings", 4000, 500))}
        datasets["scifact-train"] = load_beir(args.scifact, split="train")
        datasets["scifact-test (reference only)"] = load_beir(args.scifact)
        results = {}
        for name, data in datasets.items():
            results[name] = sweep(data, await candidate_lists(data, embedder, cache))
            print(name, results[name], flush=True)
    await embedder.aclose()
    tuning = [n for n in results if "reference" not in n]
    mean = {variant: round(float(np.mean([results[n][variant] for n in tuning])), 4) for variant in results[tuning[0]]}
    best = max(mean, key=mean.get)
    print(f"best on {', '.join(tuning)}: {best} (mean NDCG@10 {mean[best]})")
    path = save("fusion", {"candidates": CANDIDATES, "datasets": results, "tuning_mean": mean, "chosen": best})
    print(f"written to {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    asyncio.run(main(parser.parse_args()))
