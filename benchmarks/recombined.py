"""Realistic chunks at any scale, from real text: the ~47,000 sentences of SciFact's 5,183 abstracts, recombined.

Embedding 1M chunks would take ~11 hours on 2 cores, so a chunk's vector is the normalised mean of the cached
embeddings of the documents its sentences came from: a real embedding of related text, not noise. Its text is what
BM25 sees: real words with their real frequencies (a chunk is 5–8 sentences, ~1,070 characters, about a 200-token
chunk of `CHUNK_TOKENS`). Deterministic: chunk i is the same in every run and configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.embed import Embedder
from rag.evaluation import BeirData, embed_cached, load_beir

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass
class SentenceBank:
    sentences: list[str]
    source: np.ndarray  # index of the document each sentence came from
    vectors: np.ndarray  # (documents, dim) float32 embeddings of those documents

    def chunk(self, i: int) -> tuple[str, np.ndarray]:
        rng = np.random.default_rng(i)
        picked = rng.integers(0, len(self.sentences), int(rng.integers(5, 9)))
        vector = self.vectors[self.source[picked]].mean(axis=0)
        return " ".join(self.sentences[p] for p in picked), vector / np.linalg.norm(vector)

    def chunks(self, start: int, count: int) -> tuple[list[str], np.ndarray]:
        texts, vectors = zip(*(self.chunk(i) for i in range(start, start + count)), strict=True)
        return list(texts), np.stack(vectors).astype(np.float32)


async def sentence_bank(scifact: Path, embedder: Embedder, cache: Path) -> SentenceBank:
    """The sentences of SciFact's corpus with their abstracts' embeddings (cached by `bitrag eval`)."""
    data: BeirData = load_beir(scifact)
    vectors = await embed_cached(embedder, data.doc_texts, cache, f"docs-{data.fingerprint}")
    sentences, source = [], []
    for n, text in enumerate(data.doc_texts):
        for sentence in _SENTENCE.split(text):
            if len(sentence.split()) >= 5:
                sentences.append(sentence.strip())
                source.append(n)
    return SentenceBank(sentences, np.array(source), vectors)
