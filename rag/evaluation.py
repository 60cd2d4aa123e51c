"""Retrieval-quality evaluation on a BEIR-format collection: float32 dense vs every way bitrag can retrieve.

Every mode runs in the same process over the same embeddings and the same Milvus instance:
- `float32`: a FLOAT_VECTOR collection (FLAT, inner product) — exact float dense search, the old quality ceiling;
- `binary`: the 1-bit collection ranked by Hamming distance alone;
- `rescored`: Hamming candidates rescored as configured by RESCORE/OVERSAMPLE (`RETRIEVAL=dense`);
- `bm25`: Milvus's BM25 keyword search alone (where the Milvus has it);
- `hybrid`: rescored dense and BM25 candidates fused (`RETRIEVAL=hybrid`, where the Milvus has it);
- `default`: a copy of the mode `bitrag ask` uses with these settings (`retention_ndcg10` compares it to float32).
Metrics follow BEIR/pytrec_eval: NDCG with linear gains of graded relevance, recall and precision at k.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed import Embedder, as_passages, as_queries
from rag.keywords import analyze_chunks
from rag.milvus import DataType, MilvusClient
from rag.quantize import binarize, vector_bytes
from rag.registry import Registry
from rag.retrieve import Retriever
from rag.settings import RagSettings
from rag.store import INSERT_BATCH_BYTES, ChunkRecord, MilvusStore

TENANT = "eval"


@dataclass
class BeirData:
    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    fingerprint: str  # identifies the exact document selection, for the embedding cache


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_beir(folder: Path, split: str = "test", max_docs: int | None = None, max_queries: int | None = None,
              seed: int = 13) -> BeirData:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv. With `max_docs`, every document judged for the
    kept queries is kept and random other documents fill up to `max_docs` (a smaller but still hard haystack)."""
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.strip().split("\t")
            if len(parts) < 3 or not parts[2].lstrip("-").isdigit():
                continue  # header or blank line
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(folder / "queries.jsonl") if str(q["_id"]) in qrels}
    query_ids = sorted(queries, key=lambda q: (len(q), q))
    if max_queries:
        query_ids = query_ids[:max_queries]
    qrels = {q: qrels[q] for q in query_ids}
    corpus = {str(d["_id"]): f"{d.get('title', '')} {d.get('text', '')}".strip()
              for d in _read_jsonl(folder / "corpus.jsonl")}
    doc_ids = list(corpus)
    if max_docs and max_docs < len(doc_ids):
        judged = {d for rels in qrels.values() for d in rels if d in corpus}
        others = [d for d in doc_ids if d not in judged]
        random.Random(seed).shuffle(others)
        chosen = judged | set(others[:max(0, max_docs - len(judged))])
        doc_ids = [d for d in doc_ids if d in chosen]
    fingerprint = hashlib.sha256("\n".join(doc_ids).encode() + (folder / "corpus.jsonl").read_bytes()).hexdigest()
    name = folder.name if split == "test" else f"{folder.name} ({split})"
    return BeirData(name, doc_ids, [corpus[d] for d in doc_ids], query_ids,
                    [queries[q] for q in query_ids], qrels, fingerprint[:16])


# --- metrics ------------------------------------------------------------------------------------------------

def ndcg_at(ranked: Sequence[str], rels: dict[str, int], k: int) -> float:
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], rels: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def precision_at(ranked: Sequence[str], rels: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & set(ranked[:k])) / k


def score_runs(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean metrics over queries (the names of the issue's JSON)."""
    metrics = {"ndcg@10": (ndcg_at, 10), "recall@100": (recall_at, 100), "p@5": (precision_at, 5),
               "r@5": (recall_at, 5), "ndcg@5": (ndcg_at, 5)}
    return {name: float(np.mean([fn(runs[q], qrels[q], k) for q in runs])) for name, (fn, k) in metrics.items()}


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000, q)) if samples else 0.0


# --- embedding (cached) -------------------------------------------------------------------------------------

async def embed_cached(embedder: Embedder, texts: list[str], cache: Path | None, key: str,
                       progress: Callable[[int, int], None] | None = None, batch: int = 256,
                       queries: bool = False) -> np.ndarray:
    """Embeddings of `texts` — documents, or `queries` — read from `cache/<encoder>-<key>.npy` when present (keyed
    by the model, the runtime computing it, its prefixes and the content)."""
    texts = as_queries(embedder, texts) if queries else as_passages(embedder, texts)
    path = None
    if cache is not None:
        slug = embedder.encoder_id.replace("/", "_")
        path = cache / f"{slug}-{key}.npy"
        if path.exists():
            return np.load(path)
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(await embedder.embed(texts[start:start + batch]))
        if progress:
            progress(min(start + batch, len(texts)), len(texts))
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def query_cache_key(data: BeirData) -> str:
    return "queries-" + hashlib.sha256("\n".join(data.query_texts).encode()).hexdigest()[:16]


# --- the run ------------------------------------------------------------------------------------------------

async def evaluate(data: BeirData, embedder: Embedder, settings: RagSettings, cache: Path | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Build the three indexes in a fresh database and score every query in every mode."""
    def step(label: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: progress(label, done, total)) if progress else None

    docs = await embed_cached(embedder, data.doc_texts, cache, f"docs-{data.fingerprint}", step("embed corpus"))
    queries = await embed_cached(embedder, data.query_texts, cache, query_cache_key(data), step("embed queries"),
                                 queries=True)

    with tempfile.TemporaryDirectory(prefix="bitrag-eval-") as tmp:
        uri = settings.milvus_uri if not settings.milvus_is_lite else str(Path(tmp) / "eval.db")
        run_settings = settings.model_copy(update={
            "milvus_uri": uri, "milvus_collection": f"eval_{int(time.time())}", "retrieval": "hybrid",
            "keyword_index": "milvus",  # the collection gets Milvus's BM25 too: both keyword indexes side by side
            "registry_url": f"sqlite:///{Path(tmp) / 'registry.sqlite3'}"})
        store = MilvusStore(run_settings)
        await store.open(embedder.model_id, embedder.dim)
        registry = Registry(run_settings.registry_url)
        try:
            ids = await _load_binary(store, registry, data, docs, run_settings.rescore == "precise", step)
            await store.settle()
            float_search = await _float_collection(store, docs, run_settings.milvus_collection + "_f32")
            dense = Retriever(store, registry, run_settings.rescore, run_settings.oversample)
            hybrid = {index: Retriever(store, registry, run_settings.rescore, run_settings.oversample,
                                       settings.hybrid_dense_weight, index) for index in ("registry", "milvus")}
            by_id = dict(zip(ids, data.doc_ids, strict=True))
            modes = ["float32", "binary", "rescored", "bm25", "hybrid"] + (["bm25-milvus", "hybrid-milvus"]
                                                                           if store.keywords else [])
            runs: dict[str, dict[str, list[str]]] = {m: {} for m in modes}
            latency: dict[str, list[float]] = {m: [] for m in modes}

            async def timed(mode: str, qid: str, search: Awaitable[list[str]]) -> None:
                started = time.perf_counter()  # a coroutine starts its work when awaited
                runs[mode][qid] = await search
                latency[mode].append(time.perf_counter() - started)

            async def ranked(mode: str, qid: str, retriever: Retriever, query: np.ndarray, text: str) -> None:
                started = time.perf_counter()
                top10 = await retriever.retrieve(query, TENANT, 10, text=text)  # what `ask` does for top_k = 10
                latency[mode].append(time.perf_counter() - started)
                top100 = await retriever.retrieve(query, TENANT, 100, text=text)  # for recall@100
                head = [by_id[h.id] for h in top10]
                runs[mode][qid] = head + [d for d in (by_id[h.id] for h in top100) if d not in head]

            for i, (qid, text, query) in enumerate(zip(data.query_ids, data.query_texts, queries, strict=True)):
                await timed("float32", qid, _ids(float_search(query, 100), data.doc_ids.__getitem__))
                await timed("binary", qid, _ids(store.search(TENANT, binarize(query)[0].tobytes(), 100), by_id))
                await ranked("rescored", qid, dense, query, "")
                for index, suffix in (("registry", ""), ("milvus", "-milvus")):
                    if f"bm25{suffix}" in modes:
                        keyword = hybrid[index].keyword_search_many([TENANT], [text], 100, fields=False)
                        await timed(f"bm25{suffix}", qid, _ids(_first(keyword), by_id))
                        await ranked(f"hybrid{suffix}", qid, hybrid[index], query, text)
                if progress:
                    progress("search", i + 1, len(data.query_ids))
            milvus = "Milvus BM25 (bm25-milvus, hybrid-milvus)" if store.keywords else store.keyword_note
            keyword_note = f"registry BM25 (bm25, hybrid); {milvus}"
        finally:
            if not run_settings.milvus_is_lite:  # a Lite database goes with the temporary folder
                for name in (run_settings.milvus_collection, run_settings.milvus_collection + "_f32"):
                    await asyncio.to_thread(store.client.drop_collection, name)
            await store.close()
            registry.close()

    dim = embedder.dim
    ram = {"float32": dim * 4, "binary": vector_bytes(dim), "rescored": vector_bytes(dim),
           "bm25": 0, "hybrid": vector_bytes(dim), "bm25-milvus": 0, "hybrid-milvus": vector_bytes(dim)}
    results = {}
    for mode in modes:
        results[mode] = {k: round(v, 4) for k, v in score_runs(runs[mode], data.qrels).items()}
        results[mode].update(bytes_per_vector=ram[mode], search_ms_p50=round(percentile_ms(latency[mode], 50), 2),
                             search_ms_p99=round(percentile_ms(latency[mode], 99), 2))
    for mode in ("rescored", "hybrid", "hybrid-milvus"):
        if mode in results:
            results[mode]["disk_bytes_per_vector"] = dim * 2 if settings.rescore == "precise" else 0
    default = "hybrid" if settings.retrieval == "hybrid" and "hybrid" in results else "rescored"
    results["default"] = {"is": default, **results[default]}
    float32 = results["float32"]["ndcg@10"]
    retention = results["default"]["ndcg@10"] / float32 if float32 else 0.0
    return {"dataset": data.name, "docs": len(data.doc_ids), "queries": len(data.query_ids),
            "model": embedder.model_id, "rescore": settings.rescore, "oversample": settings.oversample,
            "retrieval": default, "keyword_search": keyword_note,
            "hybrid_dense_weight": settings.hybrid_dense_weight, "modes": results,
            "retention_ndcg10": round(retention, 4)}


async def _first(search: Awaitable[list[list[Any]]]) -> list[Any]:
    return (await search)[0]


async def _ids(search: Awaitable[list[Any]], names: Callable[[int], str] | dict[int, str]) -> list[str]:
    """The names of what a search found (row numbers of the float collection, or candidates' chunk ids)."""
    name = names.__getitem__ if isinstance(names, dict) else names
    return [name(item if isinstance(item, int) else item.id) for item in await search]


async def _load_binary(store: MilvusStore, registry: Registry, data: BeirData, docs: np.ndarray, precise: bool,
                       step: Callable[[str], Callable[[int, int], None] | None]) -> list[int]:
    """The corpus as one registry document with one chunk per BEIR document, inserted like `ingest` does."""
    analyzed = await asyncio.to_thread(analyze_chunks, data.doc_texts)
    bits = binarize(docs)
    document, ids = await asyncio.to_thread(registry.begin, TENANT, data.fingerprint, data.name, data.name, None,
                                            len(data.doc_ids), docs if precise else None, None, analyzed,
                                            [(text, {}) for text in data.doc_texts], bits)
    records = [ChunkRecord(id=cid, tenant=TENANT, bits=bits[i].tobytes(), doc_id=data.fingerprint, source=data.name,
                           text=text) for i, (cid, text) in enumerate(zip(ids, data.doc_texts, strict=True))]
    await store.insert(records)
    await asyncio.to_thread(registry.commit, document)
    report = step("index")
    if report:
        report(len(records), len(records))
    return ids


async def _float_collection(store: MilvusStore, docs: np.ndarray, name: str) -> Callable[..., Any]:
    """A float32 FLAT/IP collection beside the binary one, in the same Milvus; returns its search function."""
    client = store.client
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=docs.shape[1])
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    await asyncio.to_thread(client.create_collection, name, schema=schema, index_params=index,
                            consistency_level="Session")  # Strong waits for a time tick on a server
    rows = [{"id": i, "vector": v} for i, v in enumerate(docs.tolist())]
    batch = max(100, INSERT_BATCH_BYTES // (docs.shape[1] * 4))  # larger inserts slow down sharply
    for start in range(0, len(rows), batch):
        await asyncio.to_thread(client.insert, name, rows[start:start + batch])

    async def search(query: np.ndarray, limit: int) -> list[int]:
        hits = await asyncio.to_thread(client.search, name, data=[query.tolist()], anns_field="vector", limit=limit,
                                       search_params={"metric_type": "IP"})
        return [int(h["id"]) for h in hits[0]]

    return search
