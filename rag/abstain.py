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

What this does not cover: the word check is for languages written with spaces between words and an English
stemmer; questions in Korean, Chinese or Japanese (and other scripts) fall back to the score threshold alone, which
the English default model cannot use well for them either.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.retrieve import Hit

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LATIN = re.compile(r"^[\x00-\u024f\s]*$")  # Latin letters (with accents), digits and punctuation only
# English function words and question words: they say nothing about what is asked.
FUNCTION_WORDS = frozenset("""
    a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me might more most must my myself no nor not now
    of off on once only or other our ours ourselves out over own same shall she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom whose why will with would you your yours yourself yourselves
    much many get gets got please tell know anyone someone something anything ok also may
""".split())


_NLTK = threading.Lock()


def import_nltk() -> None:
    """Import nltk once, whole, under one lock: every thread that may be first to use it calls this (stemming here,
    llama-index's sentence splitter in ingestion). Two threads importing parts of nltk at once fail in the import
    system — seen: `_DeadlockError` on nltk.stem.porter and "partially initialized module 'nltk.data'" when the
    first question met the first upload. Lazy, because the import takes ~1.2 s that listing documents never needs."""
    with _NLTK:
        import nltk  # noqa: F401


@lru_cache(maxsize=1)
def _porter() -> Any:
    import_nltk()
    from nltk.stem.porter import PorterStemmer  # pure Python, no data files

    return PorterStemmer()


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_porter().stem(word))


def content_words(text: str) -> set[str]:
    """Stemmed words that carry meaning: lowercased, function words and one-letter tokens left out."""
    return {_stem(word) for word in _WORD.findall(text.lower()) if len(word) > 1 and word not in FUNCTION_WORDS}


def coverage(question: str, passage: str) -> float:
    """The share of the question's content words found in the passage (1.0 when it has none to check)."""
    asked = content_words(question)
    if not asked:
        return 1.0
    return len(asked & content_words(passage)) / len(asked)


def checkable(question: str) -> bool:
    """Whether the word check applies: a question in Latin script (see the module docstring)."""
    return bool(_LATIN.match(question))


def off_topic(question: str, hits: Sequence[Hit], min_coverage: float, trusted_score: float,
              considered: int = 3) -> bool:
    """True when none of the top `considered` hits covers `min_coverage` of the question's content words and the
    best score is under `trusted_score`. Each hit is read with its document's name and heading, as it was embedded."""
    if min_coverage <= 0 or not hits or not checkable(question):
        return False
    if max(hit.score for hit in hits) >= trusted_score:
        return False
    best = max(coverage(question, f"{hit.source} {hit.location or ''} {hit.text}") for hit in hits[:considered])
    return best < min_coverage


_REFERS_BACK = re.compile(r"^(and|but|also|what about|how about|then)\b|\b(it|its|they|them|their|that|this|those|"
                          r"these|there|he|she|his|her|one|ones|same|else)\b", re.IGNORECASE)


def refers_back(question: str) -> bool:
    """Whether a question leans on the previous one ("And a SEV2 page?", "Can I carry some of them over?"); a
    question in another script is assumed to (no word check for it: see the module docstring)."""
    return not checkable(question) or bool(_REFERS_BACK.search(question))
