"""1-bit quantization: packing, bit order, and agreement with Milvus' own Hamming distances."""

from __future__ import annotations

import numpy as np
import pytest

from rag.milvus import DataType, MilvusClient
from rag.quantize import binarize, hamming, unpack_signs, vector_bytes


def test_sign_bits_pack_most_significant_first() -> None:
    vector = np.array([[1.0, -1, -1, -1, -1, -1, -1, 0.5, -2, 3, -1, -1, -1, -1, -1, -1]], dtype=np.float32)
    packed = binarize(vector)
    assert packed.dtype == np.uint8
    assert packed.tolist() == [[0b10000001, 0b01000000]]


def test_zero_is_a_zero_bit_and_round_trip_keeps_signs() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    vectors[0, :8] = 0.0
    signs = unpack_signs(binarize(vectors), 384)
    assert signs.shape == (50, 384)
    assert np.array_equal(signs, np.where(vectors > 0, 1.0, -1.0))
    assert vector_bytes(384) == 48 and binarize(vectors).shape == (50, 48)


def test_batch_is_vectorised_and_matches_rowwise() -> None:
    vectors = np.random.default_rng(2).standard_normal((1000, 64))
    assert np.array_equal(binarize(vectors), np.stack([binarize(v)[0] for v in vectors]))


def test_dimension_must_be_a_multiple_of_eight() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        binarize(np.ones((2, 12)))


def test_hamming_distances_from_milvus_equal_numpy(tmp_path) -> None:
    rng = np.random.default_rng(3)
    dim, n = 384, 2000
    packed = binarize(rng.standard_normal((n, dim)))
    queries = binarize(rng.standard_normal((5, dim)))
    client = MilvusClient(str(tmp_path / "hamming.db"))
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.BINARY_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="BIN_FLAT", metric_type="HAMMING")
    client.create_collection("h", schema=schema, index_params=index, consistency_level="Strong")
    client.insert("h", [{"id": i, "vector": packed[i].tobytes()} for i in range(n)])
    try:
        for query in queries:
            hits = client.search("h", data=[query.tobytes()], anns_field="vector", limit=20,
                                 search_params={"metric_type": "HAMMING"})[0]
            expected = hamming(query, packed)
            for hit in hits:
                assert hit["distance"] == expected[hit["id"]]
            assert [h["distance"] for h in hits] == sorted(expected)[:20]
    finally:
        client.close()
