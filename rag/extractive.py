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

A question in a script the embedding model does not cover (Korean for the English default model) is ranked by
words alone — the keyword index's terms (`analyze.py`: character pairs), not spaces — and the retrieval rank of its
chunk: that model's vectors of such text are near noise. On the Korean set (`benchmarks/korean.py`) the first quoted
sentence answers 20 of 24 questions and the other 4 are refused; none quotes a wrong sentence first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from rag.abstain import checkable
from rag.analyze import model_covers, script_of, terms
from rag.embed import Embedder, as_passages, as_queries
from rag.retrieve import Hit

NOTICE = "No language model is configured, so this is an extractive answer: the passages that best match."
LLM_FAILED = "The language model did not answer, so this is an extractive answer: the passages that best match."
SOURCE_CHUNKS = 3  # sentences are taken from the best chunks only: each costs two short forward passes
MAX_SENTENCES = 40
LEXICAL_WEIGHT = 0.15
CHUNK_WEIGHT = 0.1
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# A sentence ends at . ! ? before a capital, a digit, a quote or a Hangul/kana/Han character; at 。！？ (Chinese and
# Japanese put no space after them); at a blank line, and before a list item.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[\uac00-\ud7af\u3040-\u30ff\u4e00-\u9fff])|(?<=[。！？])\s*|"
                           r"\n{2,}|\n(?=[-*•#] )")
_STOP = frozenset("""
    a an and are as at be by can do does for from how i in is it of on or the to was what when where which who why
    with you your we our this that these those
""".split())

Passage = tuple[int, str]  # (citation number, sentence)


def _words(text: str) -> list[str]:
    return [w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in _STOP]


def _words_for(question: str) -> Callable[[str], list[str]]:
    """How the question and its sentences are cut into words: at spaces for Latin script, else by the keyword
    index's analyzer (a Korean word carries its particles: 휴가는, 휴가를 are one noun)."""
    return _words if checkable(question) else terms


def _long_enough(sentence: str) -> bool:
    """Four words, or (scripts written without spaces between words) eight characters."""
    return len(sentence.split()) >= 4 or (not checkable(sentence) and len(sentence) >= 8)


def _sentences(text: str) -> list[str]:
    """Sentences of a chunk. A short line without closing punctuation (a title, a heading) ends a sentence too,
    while ordinary line wraps inside a paragraph (PDF text) do not."""
    lines = text.splitlines()
    joined = "".join(line + ("\n\n" if len(line) < 60 and not line.rstrip().endswith((".", ",", ";", ":"))
                             else "\n") for line in lines)
    parts = (" ".join(s.split()).strip(" -*•#>") for s in _SENTENCE_END.split(joined))
    return [p for p in parts if _long_enough(p)]


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
    words_of = _words_for(question)
    question_words = set(words_of(question))
    frequency = Counter(w for _, s in pool for w in set(words_of(s)))
    idf = {w: math.log(1 + len(pool) / c) for w, c in frequency.items()}
    scores = []
    for _, sentence in pool:
        words = set(words_of(sentence))
        scores.append(sum(idf.get(w, 0.0) for w in words & question_words) / math.sqrt(len(words) + 1))
    return np.array(scores, dtype=np.float64)


def rank(question: str, hits: Sequence[Hit], pool: Sequence[Passage], similarity: np.ndarray | None) -> list[int]:
    """Indexes into `pool`, best first, from the sentences' cosine `similarity` to the question, their words and
    their chunks' scores; with no `similarity` (the model does not cover the question's script), from their words
    and their chunks' retrieval rank."""
    lexical = lexical_scores(question, pool)
    top = lexical.max() if lexical.size and lexical.max() > 0 else 1.0
    if similarity is None:
        return [int(i) for i in np.lexsort(([n for n, _ in pool], -lexical))]
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
    if not model_covers(embedder.model_id, script_of(question)):
        return render(pool, rank(question, hits, pool, None), max_sentences, lead)
    vectors = await embedder.embed([*as_queries(embedder, [question]), *as_passages(
        embedder, [*(sentence for _, sentence in pool), *in_context(hits, pool)])])
    similarity = vectors[1:] @ vectors[0]
    alone, framed = similarity[:len(pool)], similarity[len(pool):]
    return render(pool, rank(question, hits, pool, (alone + framed) / 2), max_sentences, lead)
