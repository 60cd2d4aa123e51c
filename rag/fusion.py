"""Fusing the dense and the keyword ranking of one question's candidates.

Each signal is min-max normalised over the candidates, then mixed: `w · dense + (1 − w) · bm25`, with a candidate
that keyword search did not return counted as BM25's minimum. Normalised score fusion beat reciprocal-rank fusion
on every collection we measured (the scores say how much better the first is than the tenth; ranks do not), and
the dense weight was chosen on data no setting is reported on: SciFact's train queries and the docstring
collection of `benchmarks/generalization.py` (sweep in `benchmarks/fusion.py`, results in benchmarks/README.md).
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
    returned = keyword > 0
    scaled = np.zeros_like(keyword)
    if returned.any():
        low = float(keyword[returned].min())
        high = float(keyword[returned].max())
        scaled[returned] = (keyword[returned] - low) / (high - low) if high > low else 1.0
    return dense_weight * normalise(dense) + (1.0 - dense_weight) * scaled
