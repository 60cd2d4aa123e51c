"""Korean, as a Korean team would use bitrag: Korean documents, paraphrased Korean questions, the default settings.

    python -m benchmarks.korean

The set (`data/korean/`, written for this benchmark): three Korean policy documents (handbook, security, travel and
expenses) beside the English `examples/docs` of `make run` in the same knowledge base, and 24 Korean questions in
everyday wording (`data/korean-questions.json`), each with its document and the words of the sentence that answers
it. A chunk is relevant when it holds that sentence.

1. Retrieval, NDCG@10 over chunks and the answer's document first, per ranking: 1-bit dense alone (what bitrag did
   before: the English default model reads Korean as near noise), keywords alone (character bigrams of each word,
   the index; Kiwi's morphemes; both), hybrid fused as for English, and the default (keywords alone for a script
   the model does not cover: `retrieve.Retriever.weight_for`).
2. Extractive answers (no LLM) through `RagService.ask` with RETRIEVAL=dense and RETRIEVAL=hybrid (the default): is
   the first quoted sentence the answer; how many answerable questions are refused ("I don't know"), and how many of
   14 unanswerable ones (near the documents' topics, or off-topic) are.

Both again for a second set (`data/korean-questions-fresh.json`: 20 answerable, 12 unanswerable), written after the
first had shaped the Korean analysis and never used to choose anything.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, save
from bot.settings import get_settings
from bot.wiring import open_service, quiet_third_party_warnings
from ingest.discover import discover
from rag.analyze import KoreanMode
from rag.embed import as_queries
from rag.keywords import KeywordIndex, analyze_chunks
from rag.registry import Registry
from rag.retrieve import Retriever
from rag.service import RagService

DATA = Path(__file__).resolve().parent / "data"
QUESTIONS = DATA / "korean-questions.json"
FRESH = DATA / "korean-questions-fresh.json"  # written later, used to choose nothing: the honest figure
TENANT = "bench"


def ndcg10(ranked: list[int], relevant: set[int]) -> float:
    gain = sum(1 / math.log2(i + 2) for i, cid in enumerate(ranked[:10]) if cid in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return gain / ideal if ideal else 0.0


async def chunks_of(service: RagService) -> dict[int, dict[str, Any]]:
    """Every chunk of the knowledge base by id, with its source and text."""
    ids = [cid for d in await asyncio.to_thread(service.registry.documents, [TENANT])
           for cid in await asyncio.to_thread(service.registry.chunk_ids, d)]
    return await asyncio.to_thread(service.registry.chunks, [TENANT], ids)


async def retrieval(service: RagService, questions: list[list[str]]) -> dict[str, Any]:
    chunks = await chunks_of(service)
    store, registry, settings = service.store, service.registry, service.settings
    rankers = {
        "dense (1-bit + rescoring)": Retriever(store, registry, settings.rescore, settings.oversample,
                                               language_fallback=False),
        "hybrid, fused as for English": Retriever(store, registry, settings.rescore, settings.oversample,
                                                  settings.hybrid_dense_weight, language_fallback=False),
        "default (keywords alone for Korean)": Retriever(store, registry, settings.rescore, settings.oversample),
    }
    copies = {mode: _copy(chunks, mode) for mode in ("morphemes", "both")}  # the same chunks, analyzed otherwise
    scores: dict[str, list[float]] = {}
    first: dict[str, int] = {}
    for question, source, answer in questions:
        relevant = {cid for cid, c in chunks.items() if c["source"] == source and answer in " ".join(c["text"].split())}
        assert relevant, f"no chunk holds {answer!r}"
        query = (await service.embedder.embed(as_queries(service.embedder, [question])))[0]
        ranked = {name: [h.id for h in await r.retrieve(query, TENANT, 10, text=question)]
                  for name, r in rankers.items()}
        ranked["keywords, character bigrams (the index)"] = [cid for cid, _ in registry.keyword_search([TENANT],
                                                                                                       question, 10)]
        ranked["keywords, Kiwi morphemes"] = [cid for cid, _ in copies["morphemes"].keyword_search([TENANT], question,
                                                                                                   10)]
        ranked["keywords, morphemes + bigrams"] = [cid for cid, _ in copies["both"].keyword_search([TENANT], question,
                                                                                                   10)]
        for name, ids in ranked.items():
            scores.setdefault(name, []).append(ndcg10(ids, relevant))
            first[name] = first.get(name, 0) + bool(ids and chunks[ids[0]]["source"] == source)
    for copy in copies.values():
        copy.close()
    return {name: {"ndcg@10": round(sum(v) / len(v), 4), "right_document_first": round(first[name] / len(v), 4)}
            for name, v in scores.items()}


def _copy(chunks: dict[int, dict[str, Any]], mode: KoreanMode) -> Registry:
    """A registry holding only the keyword index of `chunks`, analyzed with `mode`, under the same chunk ids."""
    bigrams = Registry("sqlite:///:memory:")
    bigrams.keywords = KeywordIndex(mode)
    for source in sorted({c["source"] for c in chunks.values()}):
        ids = sorted(cid for cid, c in chunks.items() if c["source"] == source)  # one document's: consecutive
        # The copy hands out the knowledge base's chunk ids: its id counter is set to just before this document's.
        bigrams._db.execute("INSERT INTO counters (name, value) VALUES ('chunk_id', ?) ON CONFLICT (name) DO UPDATE "
                            "SET value = ?", (ids[0], ids[0]))
        document, copied = bigrams.begin(TENANT, source, source, source, None, len(ids), None,
                                         analyzed=analyze_chunks([chunks[i]["text"] for i in ids], mode))
        assert copied == ids
        bigrams.commit(document)
    return bigrams


async def extractive(service: RagService, questions: list[list[str]], unanswerable: list[str]) -> dict[str, Any]:
    right, refused, misses = 0, 0, []
    answered = [q for q in unanswerable if (await service.ask(q, TENANT)).grounded]
    for question, _, answer in questions:
        reply = await service.ask(question, TENANT)
        lines = [line for line in reply.text.splitlines() if line.startswith("- ")]
        quoted = " ".join(lines[0].split()) if lines else ""
        refused += not reply.grounded
        if answer in quoted:
            right += 1
        else:
            misses.append({"question": question, "expected": answer, "got": quoted or reply.text.splitlines()[0]})
    return {"first_sentence_is_the_answer": round(right / len(questions), 4),
            "answerable_refused": round(refused / len(questions), 4),
            "unanswerable_refused": round(1 - len(answered) / len(unanswerable), 4), "misses": misses,
            "unanswerable_answered": answered}


async def main() -> None:
    quiet_third_party_warnings()
    data = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    fresh = json.loads(FRESH.read_text(encoding="utf-8"))
    questions = data["answerable"]
    results: dict[str, Any] = {"answerable": len(questions), "unanswerable": len(data["unanswerable"]),
                               "fresh set": {"answerable": len(fresh["answerable"]),
                                             "unanswerable": len(fresh["unanswerable"])}}
    for retrieval_mode in ("dense", "hybrid"):
        with tempfile.TemporaryDirectory() as tmp:
            settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                    llm="extractive", retrieval=retrieval_mode)
            service = await open_service(settings)
            try:
                files, _ = discover([DATA / "korean", ROOT / "examples" / "docs"])
                report = await service.ingest(files, TENANT)
                assert not report.failed, report.failed
                if retrieval_mode == "dense":
                    results["model"] = service.embedder.model_id
                    results["retrieval"] = await retrieval(service, questions)
                    results["fresh set"]["retrieval"] = await retrieval(service, fresh["answerable"])
                results[f"extractive, RETRIEVAL={retrieval_mode}"] = await extractive(service, questions,
                                                                                      data["unanswerable"])
                results["fresh set"][f"extractive, RETRIEVAL={retrieval_mode}"] = await extractive(
                    service, fresh["answerable"], fresh["unanswerable"])
            finally:
                await service.close()
    print(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"written to {save('korean', results)}")


if __name__ == "__main__":
    asyncio.run(main())
