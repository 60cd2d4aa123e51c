"""Offline (extractive) answers: is the first quoted sentence the answer? The words-only ranker bitrag used before
vs the ranker of `rag.extractive` (meaning + words), on the same retrieved chunks, in one run.

    python -m benchmarks.extractive

The questions (`data/extractive-questions.json`, 58, in varied wording: paraphrases, questions that share few words
with their answer) are asked over `examples/docs`, the knowledge base of `make run`; each has the sentence that
answers it. A question counts when the first sentence of the answer contains that sentence.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, save
from bot.settings import get_settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.embed import as_queries
from rag.extractive import NOTICE, _sentences, extract, lexical_scores
from rag.retrieve import Hit
from rag.service import RagService

QUESTIONS = Path(__file__).resolve().parent / "data" / "extractive-questions.json"
TENANT = "bench"


def words_only(question: str, hits: Sequence[Hit], max_sentences: int = 3) -> str:
    """The ranker before meaning was added: question words weighted by rarity (`lexical_scores`, unchanged) plus
    twice the chunk's score, over the sentences of every hit; sentences without a question word only as a last
    resort; quoted in document order."""
    pool = [(n, sentence) for n, hit in enumerate(hits, start=1) for sentence in _sentences(hit.text)]
    if not pool:
        return NOTICE
    lexical = lexical_scores(question, pool)
    score = lexical + 2.0 * np.array([hits[n - 1].score for n, _ in pool])
    matching = [i for i in range(len(pool)) if lexical[i] > 0] or list(range(len(pool)))
    best = sorted(sorted(matching, key=lambda i: -score[i])[:max_sentences])
    return NOTICE + "\n\n" + "\n".join(f"- {pool[i][1].rstrip()} [{pool[i][0]}]" for i in best)


def first_sentence(answer: str) -> str:
    lines = [line for line in answer.splitlines() if line.startswith("- ")]
    return " ".join(lines[0].split()) if lines else ""


async def retrieved(service: RagService, question: str) -> list[Hit]:
    query = (await service.embedder.embed(as_queries(service.embedder, [question])))[0]
    return await service.retriever.retrieve(query, TENANT, service.settings.top_k, text=question)


async def compare(service: RagService) -> dict[str, Any]:
    """Both rankers on every question; the knowledge base must hold examples/docs under TENANT."""
    questions = json.loads(QUESTIONS.read_text())
    hits_first = {"words only (before)": 0, "meaning + words (now)": 0}
    latency: dict[str, list[float]] = {name: [] for name in hits_first}
    misses = []
    for question, expected in questions:
        hits = await retrieved(service, question)
        for name in hits_first:
            started = time.perf_counter()
            answer = (words_only(question, hits) if name.startswith("words")
                      else await extract(question, hits, service.embedder))
            latency[name].append((time.perf_counter() - started) * 1000)
            correct = " ".join(expected.split()) in first_sentence(answer)
            hits_first[name] += correct
            if not correct and name.endswith("(now)"):
                misses.append({"question": question, "expected": expected, "quoted first": first_sentence(answer)})
    return {"questions": len(questions),
            "first_sentence_is_the_answer": {k: round(v / len(questions), 4) for k, v in hits_first.items()},
            "extract_ms_p50": {k: round(statistics.median(v), 2) for k, v in latency.items()},
            "misses_now": misses}


async def main() -> None:
    results = {}
    for retrieval in ("dense", "hybrid"):  # the chunks the sentences come from differ a little
        with tempfile.TemporaryDirectory() as tmp:
            settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                    llm="extractive", retrieval=retrieval)
            service = await open_service(settings)
            try:
                files, _ = discover([ROOT / "examples" / "docs"])
                await service.ingest(files, TENANT)
                await compare(service)  # warm-up
                results[retrieval] = await compare(service)
            finally:
                await service.close()
    print(json.dumps(results, indent=2))
    print(f"written to {save('extractive', {'retrieval': results})}")


if __name__ == "__main__":
    asyncio.run(main())
