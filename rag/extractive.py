"""The offline answerer: the sentences of the retrieved chunks that best answer the question, each cited.

It needs no language model. Sentences are ranked by meaning and by words: the question and every sentence of the
retrieved chunks are embedded together in one batch by the embedding model already loaded for retrieval, and each
sentence scores its cosine similarity to the question plus a lexical bonus (the question words it contains,
weighted by how rare each is among the candidate sentences) and a small share of its chunk's rank score. A sentence
is embedded twice and the two similarities averaged: alone, and in its context (its section heading and the
sentence before it), because "It adds route replay…" or "All broker certificates are now issued by cert-manager"
answer a question only through the slide or the section ("Action items") they stand under.
Words alone pick the wrong sentence whenever the answer is phrased differently from the question: asked "How many
vacation days do new employees get?", they chose "Part-time employees get a pro-rated share." On the 58 questions of
`benchmarks/data/extractive-questions.json` the first quoted sentence is the answer for 64–67 % of them by words
alone and 89.7 % now (`benchmarks/extractive.py`; the weights and the context were chosen on these same questions,
a small set: read ±5 %). Sentences come from the best `SOURCE_CHUNKS` chunks only (the answer was in them every
time the five held it), which keeps the cost at ~110 ms p50 on 2 cores instead of ~200 ms.
The best sentence is quoted first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from rag.embed import Embedder
from rag.retrieve import Hit

NOTICE = "No language model is configured, so this is an extractive answer: the passages that best match."
LLM_FAILED = "The language model did not answer, so this is an extractive answer: the passages that best match."
SOURCE_CHUNKS = 3  # sentences are taken from the best chunks only: each costs two short forward passes
MAX_SENTENCES = 40
LEXICAL_WEIGHT = 0.15
CHUNK_WEIGHT = 0.1
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n{2,}|\n(?=[-*•#] )")
_STOP = frozenset("""
    a an and are as at be by can do does for from how i in is it of on or the to was what when where which who why
    with you your we our this that these those
""".split())

Passage = tuple[int, str]  # (citation number, sentence)


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


def passages(hits: Sequence[Hit]) -> list[Passage]:
    return [(n, sentence) for n, hit in enumerate(hits[:SOURCE_CHUNKS], start=1)
            for sentence in _sentences(hit.text)][:MAX_SENTENCES]


def in_context(hits: Sequence[Hit], pool: Sequence[Passage]) -> list[str]:
    """Each sentence after its section heading (the last part of the chunk's heading path) and the sentence before."""
    texts, previous = [], (0, "")
    for n, sentence in pool:
        meta = hits[n - 1].meta
        heading = str(meta.get("heading") or meta.get("title") or "").split("›")[-1].strip()
        before = previous[1] if previous[0] == n else ""
        texts.append(f"{heading}: {before} {sentence}".strip(": ") if heading else f"{before} {sentence}".strip())
        previous = (n, sentence)
    return texts


def lexical_scores(question: str, pool: Sequence[Passage]) -> np.ndarray:
    """Question words in each sentence, weighted by rarity among the sentences, damped by sentence length."""
    question_words = set(_words(question))
    frequency = Counter(w for _, s in pool for w in set(_words(s)))
    idf = {w: math.log(1 + len(pool) / c) for w, c in frequency.items()}
    scores = []
    for _, sentence in pool:
        words = set(_words(sentence))
        scores.append(sum(idf.get(w, 0.0) for w in words & question_words) / math.sqrt(len(words) + 1))
    return np.array(scores, dtype=np.float64)


def rank(question: str, hits: Sequence[Hit], pool: Sequence[Passage], similarity: np.ndarray) -> list[int]:
    """Indexes into `pool`, best first, from the sentences' cosine `similarity` to the question, their words and
    their chunks' scores."""
    lexical = lexical_scores(question, pool)
    top = lexical.max() if lexical.size and lexical.max() > 0 else 1.0
    chunk = np.array([hits[n - 1].score for n, _ in pool], dtype=np.float64)
    score = np.asarray(similarity, dtype=np.float64) + LEXICAL_WEIGHT * lexical / top + CHUNK_WEIGHT * chunk
    return [int(i) for i in np.argsort(-score, kind="stable")]


def render(pool: Sequence[Passage], order: Sequence[int], max_sentences: int = 3, lead: str = NOTICE) -> str:
    if not pool:
        return lead
    lines = [f"- {pool[i][1].rstrip()} [{pool[i][0]}]" for i in order[:max_sentences]]
    return lead + "\n\n" + "\n".join(lines)


async def extract(question: str, hits: Sequence[Hit], embedder: Embedder, max_sentences: int = 3,
                  lead: str = NOTICE) -> str:
    """The extractive answer, ranked by meaning and words: one forward pass for the question and all sentences.
    `lead` is its first line: why the answer is extractive (no model configured, or the model failed)."""
    pool = passages(hits)
    if not pool:
        return lead
    vectors = await embedder.embed([question, *(sentence for _, sentence in pool), *in_context(hits, pool)])
    similarity = vectors[1:] @ vectors[0]
    alone, framed = similarity[:len(pool)], similarity[len(pool):]
    return render(pool, rank(question, hits, pool, (alone + framed) / 2), max_sentences, lead)
