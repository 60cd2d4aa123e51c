"""Similarity estimates for Hamming candidates, all on a cosine-like scale so one threshold fits every mode.

- `none`: cos(π·h/d), the expected cosine of two random-hyperplane sign codes at Hamming distance h.
- `asymmetric`: the float query against the document's sign bits, q·sign(d) / √(2d/π). For unit vectors with
  Gaussian-like coordinates, E[q·sign(d)] ≈ √(2d/π)·cos(q, d), so this estimates the cosine with no extra storage
  and keeps the query's full precision.
- `precise`: q·d with the document's float16 copy, read from disk for the candidates only.
"""

from __future__ import annotations

import math

import numpy as np

from rag.quantize import unpack_signs


def hamming_similarity(distances: np.ndarray, dim: int) -> np.ndarray:
    return np.cos(np.pi * np.asarray(distances, dtype=np.float64) / dim).astype(np.float32)


def asymmetric_similarity(query: np.ndarray, packed: np.ndarray, dim: int) -> np.ndarray:
    signs = unpack_signs(packed, dim)
    return (signs @ query.astype(np.float32)) / np.float32(math.sqrt(2.0 * dim / math.pi))


def precise_similarity(query: np.ndarray, halves: np.ndarray) -> np.ndarray:
    return halves.astype(np.float32) @ query.astype(np.float32)
