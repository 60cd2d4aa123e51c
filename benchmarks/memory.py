"""Memory per chunk: float32 dense vs 1-bit dense vs 1-bit + BM25, the same real-text chunks, one run.

    python -m benchmarks.memory [--sizes 100000,1000000] [--queries 200]

Each configuration is a bitrag-shaped collection in its own Milvus Lite database (so the milvus-lite server's RSS is
that configuration's alone), filled with the same chunks of `benchmarks.recombined` (SciFact sentences recombined,
~1,070 characters each, real embeddings) through `MilvusStore.insert` as ingestion does:
- `float32 dense`: the same schema with a 384-d FLOAT_VECTOR (FLAT, IP) in place of the binary field;
- `1-bit dense`: bitrag with `RETRIEVAL=dense` (BINARY_VECTOR, BIN_FLAT, HAMMING);
- `1-bit + BM25`: bitrag's default (`RETRIEVAL=hybrid`): the analysed text, its BM25 sparse vector and inverted index;
- `text only` (baseline): the same rows with an 8-bit vector, to tell the stored text and metadata (which every
  configuration keeps, for answers) from what each index adds.
Reported per configuration and size: insert rows/s, the server's RSS after loading and searching (growth over the
empty server), disk, and search p50. "Index RAM per chunk" is the RSS growth minus the text-only baseline's.
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

from benchmarks.common import ROOT, SCIFACT, save
from benchmarks.recombined import SentenceBank, sentence_bank
from benchmarks.scale import folder_size, lite_server_rss
from bot.settings import get_settings
from rag.embed import LocalEmbedder
from rag.evaluation import load_beir
from rag.milvus import DataType, MilvusClient
from rag.quantize import binarize
from rag.settings import RagSettings
from rag.store import ChunkRecord, MilvusStore

CONFIGURATIONS = ("text only", "float32 dense", "1-bit dense", "1-bit + BM25")
BATCH = 20_000
TENANT = "bench"


class Float32Store(MilvusStore):
    """bitrag's collection with float32 vectors: what the same chunks cost without quantization."""

    def collection_spec(self, model_id: str, dim: int) -> dict[str, Any]:
        spec = super().collection_spec(model_id, dim)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        for field in spec["schema"].fields:
            if field.name == "vector":
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            else:
                schema.add_field(field.name, field.dtype, **field.params, is_primary=field.is_primary)
        index = self._client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        return {**spec, "schema": schema, "index_params": index}


async def fill(configuration: str, bank: SentenceBank, n: int, queries: np.ndarray, texts: list[str],
               folder: Path, base: RagSettings) -> dict[str, Any]:
    database = folder / "bench.db"
    settings = base.model_copy(update={"milvus_uri": str(database),
                                       "retrieval": "hybrid" if configuration == "1-bit + BM25" else "dense"})
    store = (Float32Store if configuration == "float32 dense" else MilvusStore)(settings)
    dim = 8 if configuration == "text only" else bank.vectors.shape[1]
    await store.open("bench", dim)
    rss_empty = lite_server_rss(database)
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        chunk_texts, vectors = bank.chunks(start, min(BATCH, n - start))
        if configuration == "float32 dense":
            rows = [{"id": start + i, "tenant": TENANT, "doc_id": "d", "source": "recombined.txt", "vector": vector,
                     "text": text, "meta": {"location": None}}
                    for i, (text, vector) in enumerate(zip(chunk_texts, vectors.tolist(), strict=True))]
            for part in range(0, len(rows), 1_000):  # ~2.5 MB per call, like MilvusStore.insert
                await store._call("insert", store.collection, rows[part:part + 1_000])
        else:
            bits = binarize(vectors[:, :dim] if dim == 8 else vectors)
            await store.insert([ChunkRecord(id=start + i, tenant=TENANT, doc_id="d", source="recombined.txt",
                                            text=t, bits=bits[i].tobytes(), meta={"location": None})
                                for i, t in enumerate(chunk_texts)])
    insert_s = time.perf_counter() - started
    await store._call("flush", store.collection)
    latencies: list[float] = []
    for i, (query, text) in enumerate(zip(queries, texts, strict=True)):
        began = time.perf_counter()
        if configuration == "float32 dense":
            await store._call("search", store.collection, data=[query.tolist()], anns_field="vector", limit=50,
                              filter=f'tenant in ["{TENANT}"]', output_fields=["doc_id", "source", "text", "meta"],
                              search_params={"metric_type": "IP"})
        elif configuration != "text only":
            await store.search(TENANT, binarize(query)[0].tobytes(), 50)
            if store.keywords:
                await store.keyword_search(TENANT, text, 50)
        if i >= 5:
            latencies.append((time.perf_counter() - began) * 1000)
    rss = lite_server_rss(database)
    await store.close()
    gc.collect()
    point = {"configuration": configuration, "n": n, "insert_rows_per_s": round(n / insert_s),
             "server_rss_bytes": rss, "rss_growth_bytes": max(0, rss - rss_empty), "disk_bytes": folder_size(folder),
             "search_ms_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else None}
    print(point, flush=True)
    return point


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
                folder = Path(tmp) / f"{configuration.replace(' ', '-')}-{n}"
                folder.mkdir()
                points.append(await fill(configuration, bank, n, queries, questions, folder, base))
                shutil.rmtree(folder, ignore_errors=True)
    summary = []
    for n in args.sizes:
        at = {p["configuration"]: p for p in points if p["n"] == n}
        text = at["text only"]["rss_growth_bytes"]
        row: dict[str, Any] = {"n": n}
        for configuration in CONFIGURATIONS[1:]:
            p = at[configuration]
            row[configuration] = {"rss_per_chunk": round(p["rss_growth_bytes"] / n),
                                  "index_ram_per_chunk": round(max(0, p["rss_growth_bytes"] - text) / n),
                                  "disk_per_chunk": round(p["disk_bytes"] / n),
                                  "insert_rows_per_s": p["insert_rows_per_s"], "search_ms_p50": p["search_ms_p50"]}
        row["text_only_rss_per_chunk"] = round(text / n)
        float32 = row["float32 dense"]["index_ram_per_chunk"] or 1
        row["index_ram_of_float32"] = {c: round(row[c]["index_ram_per_chunk"] / float32, 3)
                                       for c in CONFIGURATIONS[1:]}
        summary.append(row)
        print(row, flush=True)
    chars = int(np.mean([len(bank.chunk(i)[0]) for i in range(1000)]))
    path = save("memory", {"chunk_chars_mean": chars, "points": points, "summary": summary})
    print(f"written to {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    asyncio.run(main(parser.parse_args()))
