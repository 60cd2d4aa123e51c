"""Retrieval quality on a BEIR collection for every rescoring mode, side by side (same embeddings, same run).

    python -m benchmarks.quality [DATASET_DIR]      # default: ../shared/data/scifact

Embeddings are cached in data/cache/embeddings, so only the first run pays for encoding (~4 min on 2 cores).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from benchmarks.common import ROOT, SCIFACT, save
from bot.settings import get_settings
from bot.wiring import quiet_third_party_warnings
from rag.embed import create_embedder
from rag.evaluation import evaluate, load_beir


async def main(dataset: Path) -> None:
    quiet_third_party_warnings()
    settings = get_settings()
    embedder = await create_embedder(settings)
    data = load_beir(dataset)
    runs = {}
    for mode in ("precise", "asymmetric", "none"):
        result = await evaluate(data, embedder, settings.model_copy(update={"rescore": mode}),
                                ROOT / "data" / "cache" / "embeddings")
        runs[mode] = result
        default = result["modes"]["default"]
        print(f"{mode:>10}: NDCG@10 {default['ndcg@10']:.4f}  retention {result['retention_ndcg10']:.4f}  "
              f"p50 {default['search_ms_p50']:.2f} ms")
    float32 = runs["precise"]["modes"]["float32"]
    binary = runs["precise"]["modes"]["binary"]
    print(f"   float32: NDCG@10 {float32['ndcg@10']:.4f}; binary (Hamming only): {binary['ndcg@10']:.4f}")
    path = save(f"quality-{data.name}", {"dataset": data.name, "docs": len(data.doc_ids),
                                         "queries": len(data.query_ids), "runs": runs})
    print(f"written to {path}")
    await embedder.aclose()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else SCIFACT))
