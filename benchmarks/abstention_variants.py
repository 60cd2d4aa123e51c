"""Other ways to decide "I don't know", measured on the same questions and retrieved chunks as the default.

    python -m benchmarks.abstention_variants

`benchmarks/abstention.py` asks every question through `RagService.ask`; this script retrieves each question's chunks
once (extractive, hybrid: the defaults) and decides on them with the default gate (`rag/abstain.py`: it reproduces
`abstention.py`'s figures) and with variants that were tried and not adopted, each with its thresholds chosen on
the tune half the same way (`abstention.choose_on`):

- **existence, every noun**: a yes-or-no question about whether a thing exists requires every noun of its phrase
  ("daily food allowance"), not the last alone.
- **last noun alone, every question**: what-questions too ("the *street* address": address).
- **uncommon verbs**: a verb that everyday English seldom uses (Zipf < 4.5, as for rare nouns: "complained",
  "expand") must be in a passage, like a rare noun.
- **nearness, coverage** / **nearness, word checks**: a question word counts as found when a word of the passage is
  within a cosine of 0.6 of it, each embedded alone by the configured model (all-MiniLM-L6-v2: "food"–"meal" 0.80,
  "idle"–"inactivity" 0.65, "street"–"address" 0.50): in the coverage check, or in the name-free word checks (rare
  and asked-for nouns).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.abstention import QUESTIONS, SETS, Refuses, choose_on, retrieved, split
from benchmarks.common import ROOT, save
from bot.settings import get_settings
from bot.wiring import open_service
from ingest.discover import discover
from rag.abstain import checkable, content_words, english_words, names, off_topic, passage_of, rare_words, unmentioned
from rag.analyze import FUNCTION_WORDS, WORD, stem
from rag.asked import asked_phrase
from rag.everyday import EVERYDAY_ZIPF, can_be_noun, commonness, lemmas
from rag.retrieve import Hit

TENANT = "bench"
NEAR = 0.6
Asked = list[tuple[str, list[Hit]]]


def words_of(text: str) -> list[str]:
    return sorted({w for w in WORD.findall(text.lower()) if len(w) > 1 and w not in FUNCTION_WORDS})


def uncommon_verbs(question: str) -> list[str]:
    return [w for w, _ in english_words(question) or () if w not in FUNCTION_WORDS and "VERB" in lemmas(w)
            and not can_be_noun(w) and commonness(w) < EVERYDAY_ZIPF]


def variants(minimum: float, vectors: dict[str, np.ndarray]) -> dict[str, Refuses]:
    def near(word: str, text: str) -> bool:
        found = words_of(text)
        return bool(found) and max(float(vectors[w] @ vectors[word.lower()]) for w in found) >= NEAR

    def gate(missing: Callable[[str, list[Hit]], list[str]],
             coverage: Callable[[str, str], float] | None = None) -> Refuses:
        def refuses(question: str, hits: list[Hit], min_coverage: float, trusted: float) -> bool:
            if max(h.score for h in hits) < minimum or (min_coverage > 0 and missing(question, hits)):
                return True
            if coverage is None or not checkable(question):
                return off_topic(question, hits, min_coverage, trusted, check_names=False, check_rare_words=False,
                                 check_asked_for=False)
            if min_coverage <= 0 or max(h.score for h in hits) >= trusted:
                return False
            return max(coverage(question, passage_of(h)) for h in hits[:3]) < min_coverage
        return refuses

    def text_of(hits: list[Hit]) -> str:
        return "\n".join(passage_of(h) for h in hits)

    def absent(words: list[str], hits: list[Hit]) -> list[str]:
        found = content_words(text_of(hits))
        return [w for w in words if stem(w) not in found]

    def every_noun(question: str, hits: list[Hit]) -> list[str]:
        nouns, existence = asked_phrase(question)
        extra = absent(nouns, hits) if existence and english_words(question) is not None else []
        return unmentioned(question, hits) + extra

    def last_noun(question: str, hits: list[Hit]) -> list[str]:
        nouns, _ = asked_phrase(question)
        kept = {n.lower() for n in names(question)} | set(rare_words(question))
        return [w for w in unmentioned(question, hits) if w in kept or w not in nouns[:-1]]

    def verbs(question: str, hits: list[Hit]) -> list[str]:
        return unmentioned(question, hits) + absent(uncommon_verbs(question), hits)

    def near_words(question: str, hits: list[Hit]) -> list[str]:
        named = set(names(question))
        return [w for w in unmentioned(question, hits) if w in named or not near(w, text_of(hits))]

    def near_coverage(question: str, passage: str) -> float:
        asked = words_of(question)
        if not asked:
            return 1.0
        found = content_words(passage)
        return sum(stem(w) in found or near(w, passage) for w in asked) / len(asked)

    return {"default (rag/abstain.py)": gate(unmentioned),
            "existence, every noun": gate(every_noun),
            "last noun alone, every question": gate(last_noun),
            "uncommon verbs": gate(verbs),
            f"nearness ≥ {NEAR}, coverage": gate(unmentioned, near_coverage),
            f"nearness ≥ {NEAR}, word checks": gate(near_words)}


def figures(refuses: Refuses, answerable: Asked, unanswerable: Asked, coverage: float,
            trusted: float) -> dict[str, Any]:
    wrong = [q for q, h in answerable if refuses(q, h, coverage, trusted)]
    kept = [q for q, h in unanswerable if not refuses(q, h, coverage, trusted)]
    return {"unanswerable_refused": round(1 - len(kept) / len(unanswerable), 4),
            "answerable_refused": round(len(wrong) / len(answerable), 4),
            "answerable, refused": wrong, "unanswerable, answered": kept}


async def main() -> None:
    data = json.loads(QUESTIONS.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        service = await open_service(get_settings(bitrag_home=tmp, llm="extractive"))
        try:
            files, _ = discover([ROOT / "examples" / "docs"])
            await service.ingest(files, TENANT)
            asked: dict[tuple[str, str], Asked] = {}
            for part in SETS:
                for kind in ("answerable", "unanswerable"):
                    questions = [q[0] if kind == "answerable" else q for q in split(data, kind, part)]
                    asked[(part, kind)] = [(q, await retrieved(service, q)) for q in questions]
            vocabulary = sorted({w for pairs in asked.values() for q, hits in pairs
                                 for w in words_of(q + "\n" + "\n".join(passage_of(h) for h in hits))})
            embedded = await service.embedder.embed(vocabulary)
            minimum = service.settings.min_similarity
        finally:
            await service.close()
    vectors = dict(zip(vocabulary, embedded, strict=True))
    results: dict[str, Any] = {"nearness": NEAR}
    for label, refuses in variants(minimum, vectors).items():
        chosen = choose_on(asked[("tune", "answerable")], asked[("tune", "unanswerable")], refuses)["chosen"]
        row = {part: figures(refuses, asked[(part, "answerable")], asked[(part, "unanswerable")],
                             chosen["min_coverage"], chosen["trusted_score"]) for part in SETS}
        results[label] = {"chosen_on_tune_half": chosen, **row}
        print(f"{label:34} " + "  ".join(f"{part} {r['unanswerable_refused']:.0%}/{r['answerable_refused']:.0%}"
                                         for part, r in row.items()))
    print(f"written to {save('abstention-variants', results)}")


if __name__ == "__main__":
    asyncio.run(main())
