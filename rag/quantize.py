"""1-bit quantization: the sign of each dimension, packed 8 per byte.

Bit order is numpy's default big-endian packing: dimension 0 is the most significant bit of byte 0, which is
also how Milvus reads `BINARY_VECTOR` bytes, so Hamming distances computed here equal Milvus' own.
"""

from __future__ import annotations

import numpy as np

# popcount of every byte value, for Hamming distances without unpacking to bits.
_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint16)


def binarize(vectors: np.ndarray) -> np.ndarray:
    """Map float vectors of shape (n, dim) to packed sign bits of shape (n, dim // 8), dtype uint8.

    A dimension becomes 1 when its value is > 0. `dim` must be a multiple of 8 (a Milvus requirement).
    """
    array = np.asarray(vectors)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {array.shape}")
    if array.shape[1] % 8:
        raise ValueError(f"dimension {array.shape[1]} is not a multiple of 8; Milvus binary vectors need that")
    return np.packbits(array > 0, axis=1)


def unpack_signs(packed: np.ndarray, dim: int) -> np.ndarray:
    """Inverse of `binarize` up to magnitude: float32 ±1 vectors of shape (n, dim)."""
    bits = np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=-1, count=dim)
    return bits.astype(np.float32) * 2.0 - 1.0


def hamming(query: np.ndarray, packed: np.ndarray) -> np.ndarray:
    """Hamming distances between one packed query (dim // 8,) and packed rows (n, dim // 8)."""
    return _POPCOUNT[np.bitwise_xor(np.asarray(packed, dtype=np.uint8), query)].sum(axis=-1).astype(np.int64)


def vector_bytes(dim: int) -> int:
    """RAM taken by one binary vector of `dim` dimensions."""
    return dim // 8
