"""The offline answerer: the sentences of the retrieved chunks that best match the question, each cited.

It needs no model call. Sentences are scored by the question words they contain (weighted by how rare each
word is among the candidate sentences) plus the rank score of the chunk they come from.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from rag.retrieve import Hit

NOTICE = "No language model is configured, so this is an extractive answer: the passages that best match."
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n{2,}|\n(?=[-*•#] )")
_STOP = frozenset("""
    a an and are as at be by can do does for from how i in is it of on or the to was what when where which who why
    with you your we our this that these those
""".split())


def _words(text: str) -> list[str]:
    return [w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in _STOP]


def _sentences(text: str) -> list[str]:
    """Sentences of a chunk. A short line without closing punctuation (a title, a heading) ends a sentence too,
    while ordinary line wraps inside a paragraph (PDF text) do not."""
    lines = text.splitlines()
    joined = "".join(line + ("\n\n" if len(line) < 60 and not line.rstrip().endswith((".", ",", ";", ":"))
                             else "\n") for line in lines)
    parts = (" ".join(s.split()).strip(" -*•#>") for s in _SENTENCE_END.split(joined))
    return [p for p in parts if len(p.split()) >= 4]


def extract(question: str, hits: Sequence[Hit], max_sentences: int = 3) -> str:
    question_words = set(_words(question))
    pool = [(n, sentence) for n, hit in enumerate(hits, start=1) for sentence in _sentences(hit.text)]
    if not pool:
        return NOTICE
    frequency = Counter(w for _, s in pool for w in set(_words(s)))
    idf = {w: math.log(1 + len(pool) / c) for w, c in frequency.items()}

    def score(item: tuple[int, str]) -> float:
        n, sentence = item
        words = set(_words(sentence))
        overlap = sum(idf.get(w, 0.0) for w in words & question_words)
        return overlap / math.sqrt(len(words) + 1) + 2.0 * hits[n - 1].score

    # Sentences that share no word with the question only fill in when nothing else matches.
    matching = [item for item in pool if set(_words(item[1])) & question_words] or pool
    best = sorted(matching, key=score, reverse=True)[:max_sentences]
    best.sort(key=lambda item: pool.index(item))  # keep document order for readability
    lines = [f"- {sentence.rstrip()} [{n}]" for n, sentence in best]
    return NOTICE + "\n\n" + "\n".join(lines)
