"""Memory per chunk of the whole process: where chunk text lives, float32 vs 1-bit, the same real-text chunks, one run.

    python -m benchmarks.memory [--sizes 100000,1000000] [--queries 200]

Each configuration gets its own BITRAG_HOME (Milvus Lite database and SQLite registry), filled with the same chunks
of `benchmarks.recombined` (SciFact sentences recombined, ~1,070 characters each, real embeddings) the way ingestion
writes them (`Registry.begin`, `MilvusStore.insert`, `Registry.commit`, in documents of 50,000 chunks):
- `float32 dense, text in Milvus`: the layout of a float32 RAG on Milvus (and of bitrag before schema 2): 384-d
  FLOAT_VECTOR (FLAT, IP) with each chunk's text and metadata in the collection;
- `1-bit dense, text in Milvus`: bitrag before schema 2 (BINARY_VECTOR, BIN_FLAT, HAMMING, text in the collection);
- `1-bit dense` (`RETRIEVAL=dense`): bitrag now: 1-bit codes, ids and tenants in Milvus; text, metadata and float16
  copies in the registry, on disk;
- `1-bit hybrid (default)`: the same, and the registry's keyword index (`RETRIEVAL=hybrid`).
Then bitrag's side is opened afresh (a new milvus-lite server loads the collection, a new registry connection) and
`--queries` questions are answered as `ask` retrieves: Hamming (or float) search for 50 candidates, keyword search
for hybrid, and the text of the 5 kept, from wherever it lives. Reported: RSS per chunk of the whole process — the
milvus-lite server's RSS over an empty one's, plus bitrag's own growth over the measuring phase (page cache not
counted: RSS is resident memory) — disk per chunk (database and registry), insert rows/s, and search p50.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.common import ROOT, SCIFACT, save
from benchmarks.recombined import SentenceBank, sentence_bank
from benchmarks.scale import folder_size, lite_server_rss
from bot.settings import get_settings
from rag.embed import LocalEmbedder
from rag.evaluation import load_beir
from rag.keywords import analyze_chunks
from rag.milvus import DataType, MilvusClient
from rag.quantize import binarize
from rag.registry import Registry
from rag.settings import RagSettings
from rag.store import TEXT_FIELDS, ChunkRecord, MilvusStore

FLOAT32 = "float32 dense, text in Milvus"
BEFORE = "1-bit dense, text in Milvus"
DENSE = "1-bit dense"
HYBRID = "1-bit hybrid (default)"
CONFIGURATIONS = (FLOAT32, BEFORE, DENSE, HYBRID)
DOCUMENT = 50_000  # chunks per registry document, as benchmarks/e2e.py fills
TENANT = "bench"


class Float32Store(MilvusStore):
    """bitrag's schema-1 collection with float32 vectors: what the same chunks cost without quantization."""

    def collection_spec(self, model_id: str, dim: int) -> dict[str, Any]:
        spec = super().collection_spec(model_id, dim)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                            description=spec["schema"].description)
        for field in spec["schema"].fields:
            if field.name == "vector":
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            else:
                schema.add_field(field.name, field.dtype, **field.params, is_primary=field.is_primary)
        index = self._client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        return {**spec, "schema": schema, "index_params": index}

    async def insert(self, records: Any, collection: str | None = None) -> None:
        raise NotImplementedError("fill() writes float rows itself")


def _open(configuration: str, settings: RagSettings) -> MilvusStore:
    if configuration == FLOAT32:
        return Float32Store(settings, text_in_milvus=True)
    return MilvusStore(settings, text_in_milvus=configuration == BEFORE)


async def fill(configuration: str, bank: SentenceBank, n: int, settings: RagSettings) -> dict[str, Any]:
    """Write `n` chunks as ingestion does; returns insert rows/s and the empty server's RSS."""
    store = _open(configuration, settings)
    registry = await asyncio.to_thread(Registry, settings.registry_url)
    await store.open("bench", bank.vectors.shape[1])
    rss_empty = lite_server_rss(Path(settings.milvus_uri))
    started = time.perf_counter()
    for start in range(0, n, DOCUMENT):
        count = min(DOCUMENT, n - start)
        texts, vectors = await asyncio.to_thread(bank.chunks, start, count)
        analyzed = await asyncio.to_thread(analyze_chunks, texts) if configuration == HYBRID else None
        in_registry = [(t, {"location": None}) for t in texts] if not store.holds_text else None
        document, ids = await asyncio.to_thread(registry.begin, TENANT, f"d{start}", "recombined.txt", f"d{start}",
                                                None, count, vectors, None, analyzed, in_registry)
        if configuration == FLOAT32:
            rows = [{"id": cid, "tenant": TENANT, "doc_id": document.doc_id, "source": "recombined.txt",
                     "vector": vector, "text": text, "meta": {"location": None}}
                    for cid, text, vector in zip(ids, texts, vectors.tolist(), strict=True)]
            for part in range(0, len(rows), 1_000):  # ~2.5 MB per call, like MilvusStore.insert
                await store._call("insert", store.collection, rows[part:part + 1_000])
        else:
            bits = binarize(vectors)
            await store.insert([ChunkRecord(id=cid, tenant=TENANT, bits=bits[i].tobytes(), doc_id=document.doc_id,
                                            source="recombined.txt", text=texts[i], meta={"location": None})
                                for i, cid in enumerate(ids)])
        await asyncio.to_thread(registry.commit, document)
    insert_s = time.perf_counter() - started
    await store._call("flush", store.collection)
    await store.close()
    registry.close()
    return {"insert_rows_per_s": round(n / insert_s), "rss_empty": rss_empty}


async def measure(configuration: str, n: int, queries: np.ndarray, texts: list[str],
                  settings: RagSettings) -> dict[str, Any]:
    """Open bitrag's side afresh and answer the questions' retrieval; RSS of both processes after."""
    gc.collect()
    me = psutil.Process()
    rss_before = me.memory_info().rss
    store = _open(configuration, settings)
    registry = await asyncio.to_thread(Registry, settings.registry_url)
    await store.open("bench", queries.shape[1])
    latencies: list[float] = []
    for i, (query, text) in enumerate(zip(queries, texts, strict=True)):
        began = time.perf_counter()
        if configuration == FLOAT32:
            hits = await store._call("search", store.collection, data=[query.tolist()], anns_field="vector",
                                     limit=50, filter=f'tenant in ["{TENANT}"]', output_fields=TEXT_FIELDS,
                                     search_params={"metric_type": "IP"})  # the text comes with the search
            assert all(h["entity"]["text"] for h in hits[0][:5])
        else:
            candidates = await store.search(TENANT, binarize(query)[0].tobytes(), 50)
            if configuration == HYBRID:
                await asyncio.to_thread(registry.keyword_search, [TENANT], text, 50)
            kept = [c.id for c in candidates[:5]]
            chunks = await asyncio.to_thread(registry.chunks, [TENANT], kept)
            if len(chunks) < len(kept):
                chunks.update(await store.fetch(TENANT, [i for i in kept if i not in chunks]))
            assert len(chunks) == len(kept), (configuration, len(chunks))
        if i >= 5:
            latencies.append((time.perf_counter() - began) * 1000)
    server = lite_server_rss(Path(settings.milvus_uri))
    own = max(0, me.memory_info().rss - rss_before)
    await store.close()
    registry.close()
    return {"server_rss_bytes": server, "bitrag_rss_growth_bytes": own,
            "search_ms_p50": round(float(np.percentile(latencies, 50)), 2)}


async def point(configuration: str, bank: SentenceBank, n: int, queries: np.ndarray, texts: list[str],
                folder: Path, base: RagSettings) -> dict[str, Any]:
    settings = base.model_copy(update={"bitrag_home": folder, "milvus_uri": str(folder / "bench.db"),
                                       "registry_url": f"sqlite:///{folder / 'registry.db'}"})
    filled = await fill(configuration, bank, n, settings)
    measured = await measure(configuration, n, queries, texts, settings)
    growth = max(0, measured["server_rss_bytes"] - filled["rss_empty"]) + measured["bitrag_rss_growth_bytes"]
    result = {"configuration": configuration, "n": n, "insert_rows_per_s": filled["insert_rows_per_s"],
              **measured, "server_rss_empty_bytes": filled["rss_empty"], "rss_growth_bytes": growth,
              "rss_per_chunk": round(growth / n), "disk_per_chunk": round(folder_size(folder) / n)}
    print(result, flush=True)
    return result


async def main(args: argparse.Namespace) -> None:
    embedder = LocalEmbedder("all-MiniLM-L6-v2")
    bank = await sentence_bank(args.scifact, embedder, ROOT / "data" / "cache" / "embeddings")
    questions = load_beir(args.scifact).query_texts[:args.queries + 5]
    queries = await embedder.embed(questions)
    await embedder.aclose()
    base = get_settings()
    points = []
    with tempfile.TemporaryDirectory(prefix="bitrag-memory-", dir=os.environ.get("BENCH_TMP")) as tmp:
        for n in args.sizes:
            for configuration in CONFIGURATIONS:
                folder = Path(tmp) / f"{configuration.replace(' ', '-').replace(',', '')}-{n}"
                folder.mkdir()
                points.append(await point(configuration, bank, n, queries, questions, folder, base))
                shutil.rmtree(folder, ignore_errors=True)
    summary = []
    for n in args.sizes:
        at = {p["configuration"]: p for p in points if p["n"] == n}
        float32 = at[FLOAT32]["rss_per_chunk"] or 1
        summary.append({"n": n, **{c: {**{k: at[c][k] for k in ("rss_per_chunk", "disk_per_chunk",
                                                                 "insert_rows_per_s", "search_ms_p50")},
                                       "float32_over_this": round(float32 / max(at[c]["rss_per_chunk"], 1), 1)}
                                   for c in CONFIGURATIONS}})
        print(summary[-1], flush=True)
    chars = int(np.mean([len(bank.chunk(i)[0]) for i in range(1000)]))
    path = save("memory", {"chunk_chars_mean": chars, "points": points, "summary": summary})
    print(f"written to {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    asyncio.run(main(parser.parse_args()))
