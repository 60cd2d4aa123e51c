"""Fusing the dense and the keyword ranking of one question's candidates.

`w · dense + (1 − w) · bm25`, where the dense similarities are min-max normalised over the candidates and the BM25
scores are divided by their maximum (a candidate keyword search did not return counts 0: BM25's own zero, "no
query word in it"). Chosen by `benchmarks/fusion.py` on data no reported figure comes from — SciFact's train queries
and the docstring collection of `benchmarks/generalization.py` — among reciprocal-rank fusion (k = 60), min-max
fusion of both and this, at dense weights 0.1 … 0.9. Mean NDCG@10 over the two: dense alone 0.637, RRF 0.669,
min-max 0.686 (w = 0.8), this 0.686 (w = 0.7, the default `HYBRID_DENSE_WEIGHT`). Score fusion beats rank fusion
because scores say how much better the first candidate is than the tenth, and ranks do not.
"""

from __future__ import annotations

import numpy as np


def normalise(scores: np.ndarray) -> np.ndarray:
    """Scores mapped to [0, 1] by the candidates' own minimum and maximum (all equal → all 0)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    return (scores - low) / (high - low) if high > low else np.zeros_like(scores)


def fuse(dense: np.ndarray, keyword: np.ndarray, dense_weight: float) -> np.ndarray:
    """One score per candidate from its dense similarity and its BM25 score (0 where BM25 did not return it)."""
    keyword = np.asarray(keyword, dtype=np.float64)
    top = float(keyword.max()) if keyword.size else 0.0
    scaled = keyword / top if top > 0 else np.zeros_like(keyword)
    return dense_weight * normalise(dense) + (1.0 - dense_weight) * scaled
