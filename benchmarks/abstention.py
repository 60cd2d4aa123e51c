"""When bitrag says "I don't know": both errors, on questions the documents answer and questions they do not.

    python -m benchmarks.abstention

The questions (`data/abstention-questions.json`, written for this benchmark over `examples/docs`, the knowledge
base of `make run`): 44 answerable (each with its source document), 40 unanswerable (near the documents' topics —
401(k), dress code, the CEO, Kestrel v3 — or off-topic), 10 conversations of two questions (follow-ups and topic
changes), and 5 Korean questions. Even positions tune the thresholds, odd positions test them. Five more sets were
written later, each before the change it measures (`fresh`: the name check; `fresh_2`: the rare-word check;
`fresh_3`: its noun condition; `fresh_4`: the asked-for check; `fresh_5`: existence questions, part of the asked-for
check); the file's `about` says which.

1. The word-coverage thresholds of `rag/abstain.py` (ABSTAIN_MIN_COVERAGE, ABSTAIN_TRUSTED_SCORE) are chosen on the
   tune half from the retrieved chunks: the setting with the most unanswerable questions refused among those that
   refuse at most 5 % of answerable ones (ties: the one whose word check applies to the fewest questions).
2. Every question is then asked through `RagService.ask` (extractive, no LLM), before (MIN_SIMILARITY alone, as
   bitrag shipped) and with each check added in turn up to now, and every set is reported: unanswerable refused,
   answerable refused, answerable answered without citing their document.

With an LLM the gate runs first, the same way (the model is never asked what the gate refuses); what the model
itself then declines is not measured here: no LLM is reachable from this machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, save
from bot.settings import get_settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.abstain import off_topic
from rag.embed import as_queries
from rag.models import Answer, Turn
from rag.retrieve import Hit
from rag.service import RagService

QUESTIONS = Path(__file__).resolve().parent / "data" / "abstention-questions.json"
TENANT = "bench"
COVERAGES = (0.0, 0.25, 0.34, 0.4, 0.5, 0.6, 0.67)
TRUSTED = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 1.01)
MAX_WRONG_REFUSALS = 0.05


SETS = ("tune", "test", "fresh", "fresh_2", "fresh_3", "fresh_4", "fresh_5")
STATES = (("before (MIN_SIMILARITY alone)", {"abstain_min_coverage": 0.0}),
          ("word check", {"abstain_check_names": False, "abstain_check_rare_words": False,
                          "abstain_check_asked_for": False}),
          ("word and name checks", {"abstain_check_rare_words": False, "abstain_check_asked_for": False}),
          ("word, name and rare-word checks", {"abstain_check_asked_for": False}),
          ("now: word, name, rare-word and asked-for checks", {}))


def split(data: dict[str, Any], kind: str, part: str) -> list[Any]:
    """One kind ("answerable", "unanswerable") of one set: the tune or test half, or a fresh set."""
    if part.startswith("fresh"):
        return list(data[part][kind])
    return data[kind][0::2] if part == "tune" else data[kind][1::2]


def refused(answer: Answer) -> bool:
    return not answer.grounded


async def retrieved(service: RagService, question: str) -> list[Hit]:
    query = (await service.embedder.embed(as_queries(service.embedder, [question])))[0]
    return await service.retriever.retrieve(query, TENANT, service.settings.top_k, text=question)


Refuses = Callable[[str, list[Hit], float, float], bool]  # question, hits, min coverage, trusted score


async def choose(service: RagService, data: dict[str, Any]) -> dict[str, Any]:
    """The thresholds, from the tune half's retrieved chunks."""
    minimum = service.settings.min_similarity
    answerable = [(q, await retrieved(service, q)) for q, _ in split(data, "answerable", "tune")]
    unanswerable = [(q, await retrieved(service, q)) for q in split(data, "unanswerable", "tune")]

    def refuses(question: str, hits: list[Hit], coverage: float, trusted: float) -> bool:
        return max(h.score for h in hits) < minimum or off_topic(question, hits, coverage, trusted)

    return choose_on(answerable, unanswerable, refuses)


def choose_on(answerable: list[tuple[str, list[Hit]]], unanswerable: list[tuple[str, list[Hit]]],
              refuses: Refuses) -> dict[str, Any]:
    """The grid of thresholds over the tune half's questions with their retrieved chunks, and the setting with the
    most unanswerable questions refused among those that refuse at most 5 % of answerable ones."""
    grid = []
    for coverage, trusted in itertools.product(COVERAGES, TRUSTED):
        wrong = sum(refuses(q, h, coverage, trusted) for q, h in answerable) / len(answerable)
        right = sum(refuses(q, h, coverage, trusted) for q, h in unanswerable) / len(unanswerable)
        grid.append({"min_coverage": coverage, "trusted_score": trusted, "unanswerable_refused": round(right, 4),
                     "answerable_refused": round(wrong, 4)})
    allowed = [g for g in grid if g["answerable_refused"] <= MAX_WRONG_REFUSALS]
    # Ties go to the lowest trusted score (the fewest answers the word check can refuse: the bound is on wrong
    # refusals), then the lowest coverage.
    best = max(allowed, key=lambda g: (g["unanswerable_refused"], -g["answerable_refused"], -g["trusted_score"],
                                       -g["min_coverage"]))
    return {"chosen": best, "grid": grid}


async def ask_all(service: RagService, data: dict[str, Any], part: str) -> dict[str, Any]:
    answerable = split(data, "answerable", part)
    unanswerable = split(data, "unanswerable", part)
    wrong_refusals, wrong_sources, right_refusals, misses = 0, 0, 0, []
    for question, source in answerable:
        answer = await service.ask(question, TENANT)
        if refused(answer):
            wrong_refusals += 1
            misses.append({"answerable, refused": question})
        elif source not in {s.source for s in answer.sources}:
            wrong_sources += 1
            misses.append({"answerable, other source": question, "cited": [s.source for s in answer.sources]})
    for question in unanswerable:
        answer = await service.ask(question, TENANT)
        right_refusals += refused(answer)
        if not refused(answer):
            misses.append({"unanswerable, answered": question, "top score": round(answer.sources[0].score, 3)})
    return {"answerable": len(answerable), "unanswerable": len(unanswerable),
            "unanswerable_refused": round(right_refusals / len(unanswerable), 4),
            "answerable_refused": round(wrong_refusals / len(answerable), 4),
            "answerable_without_their_source": round(wrong_sources / len(answerable), 4), "misses": misses}


async def conversations(service: RagService, data: dict[str, Any]) -> dict[str, Any]:
    """Each follow-up asked after its first question (with the first answer as history)."""
    right, rows = 0, []
    for first, follow_up, source in data["follow_ups"]:
        earlier = await service.ask(first, TENANT)
        history = [Turn("user", first), Turn("assistant", earlier.text)]
        answer = await service.ask(follow_up, TENANT, history)
        cited = [s.source for s in answer.sources]
        ok = refused(answer) if source is None else (not refused(answer) and cited[:1] == [source])
        right += ok
        rows.append({"first": first, "then": follow_up, "expected": source or "I don't know",
                     "got": "I don't know" if refused(answer) else cited[:1], "right": ok})
    return {"right": right, "of": len(rows), "rows": rows}


async def korean(service: RagService, data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for question, source in data["korean"]:
        answer = await service.ask(question, TENANT)
        rows.append({"question": question, "expected": source or "I don't know",
                     "got": "I don't know" if refused(answer) else answer.sources[0].source})
    return rows


async def main() -> None:
    data = json.loads(QUESTIONS.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        base = get_settings(bitrag_home=tmp, llm="extractive")
        service = await open_service(base)
        try:
            files, _ = discover([ROOT / "examples" / "docs"])
            await service.ingest(files, TENANT)
            tuned = await choose(service, data)
        finally:
            await service.close()
        chosen = tuned["chosen"]
        results: dict[str, Any] = {"chosen_on_tune_half": chosen}
        chosen_settings = {"abstain_min_coverage": chosen["min_coverage"],
                           "abstain_trusted_score": chosen["trusted_score"]}
        for label, update in STATES:
            settings = base.model_copy(update={**chosen_settings, **update})
            service = await open_service(settings)
            try:
                results[label] = {part: await ask_all(service, data, part) for part in SETS}
                if label == STATES[-1][0]:
                    results[label]["conversations"] = await conversations(service, data)
                    results[label]["korean"] = await korean(service, data)
            finally:
                await service.close()
        results["grid_on_tune_half"] = tuned["grid"]
    for label, _ in STATES:
        for part in SETS:
            r = results[label][part]
            print(f"{label:32} {part:5}: unanswerable refused {r['unanswerable_refused']:.0%}, answerable refused "
                  f"{r['answerable_refused']:.0%}, answerable without their source "
                  f"{r['answerable_without_their_source']:.0%}")
    talk = results[STATES[-1][0]]["conversations"]
    print(f"conversations: {talk['right']}/{talk['of']} right; chosen: {chosen}")
    print(f"written to {save('abstention', results)}")


if __name__ == "__main__":
    asyncio.run(main())
