"""When to say "I don't know": the retrieved chunks must be about what the question asks, not only near its topic.

The rescored cosine alone cannot tell them apart. On this project's question set (`benchmarks/abstention.py`, 44
answerable and 40 unanswerable questions about examples/docs), the top score of answerable questions spans
0.13–0.80 and of unanswerable ones 0.04–0.76 ("When does Kestrel v3 ship?" scores 0.757 against the slide saying
when *v2* ships): with `MIN_SIMILARITY` alone, 70 % of unanswerable questions got an answer. What separates them is
whether the question's own words are in the passage: "dress code", "401(k)", "CEO", "Berlin", "v3" are nowhere in
the closest chunks. So a question is answered only when the best of the top chunks covers enough of its content
words (stemmed, function words left out) — unless its score is high enough to trust on its own (paraphrases share
meaning, not words). The thresholds are chosen on half of the question set and measured on the other half:
there, 75 % of unanswerable questions are refused (30 % with the score alone) and 5 % of answerable ones (README,
"Knowing when not to answer").

When the embedding model does not cover the question's script (Korean for the English default model) its score
means nothing, so neither `MIN_SIMILARITY` nor the trusted score applies: the word check alone decides, with the
keyword analyzer's content words (`analyze.py`: Korean morphemes by Kiwi, Chinese and Japanese character pairs;
`benchmarks/korean.py` measures it). A question in a non-Latin script that the model does cover (a multilingual
model) keeps the score threshold alone, as before: the word check was not measured there. The thresholds were
chosen on English questions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.analyze import FUNCTION_WORDS, WORD, stem, terms

_LATIN = re.compile(r"^[\x00-\u024f\s]*$")  # Latin letters (with accents), digits and punctuation only

if TYPE_CHECKING:
    from rag.retrieve import Hit


def content_words(text: str) -> set[str]:
    """Stemmed words that carry meaning: lowercased, function words and one-letter tokens left out."""
    return {stem(word) for word in WORD.findall(text.lower()) if len(word) > 1 and word not in FUNCTION_WORDS}


def coverage(question: str, passage: str) -> float:
    """The share of the question's content words found in the passage (1.0 when it has none to check): stemmed
    words for a question in Latin script, the keyword index's terms for any other."""
    words = content_words if checkable(question) else (lambda text: set(terms(text, "strict")))
    asked = words(question)
    if not asked:
        return 1.0
    return len(asked & words(passage)) / len(asked)


def checkable(question: str) -> bool:
    """Whether a question is in Latin script (the English word check, and follow-up detection, apply)."""
    return bool(_LATIN.match(question))


def off_topic(question: str, hits: Sequence[Hit], min_coverage: float, trusted_score: float,
              considered: int = 3, scored: bool = True) -> bool:
    """True when none of the top `considered` hits covers `min_coverage` of the question's content words and the
    best score is under `trusted_score` (`scored=False`: the model does not cover the question's script, so its
    score is not trusted). Each hit is read with its document's name and heading, as it was embedded."""
    if min_coverage <= 0 or not hits or (scored and not checkable(question)):
        return False  # a model that reads the question's (non-Latin) script is trusted as before: not measured here
    if scored and max(hit.score for hit in hits) >= trusted_score:
        return False
    best = max(coverage(question, f"{hit.source} {hit.location or ''} {hit.text}") for hit in hits[:considered])
    return best < min_coverage


_REFERS_BACK = re.compile(r"^(and|but|also|what about|how about|then)\b|\b(it|its|they|them|their|that|this|those|"
                          r"these|there|he|she|his|her|one|ones|same|else)\b", re.IGNORECASE)


def refers_back(question: str) -> bool:
    """Whether a question leans on the previous one ("And a SEV2 page?", "Can I carry some of them over?"); a
    question in another script is assumed to (no word check for it: see the module docstring)."""
    return not checkable(question) or bool(_REFERS_BACK.search(question))
