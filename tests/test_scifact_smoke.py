"""Retrieval quality smoke test on a SciFact subset: binary + rescoring keeps ≥ 97 % of float32 NDCG@10,
computed in the same run on the same embeddings (the full 300-query run is `bitrag eval`)."""

from __future__ import annotations

import pytest

from rag.evaluation import evaluate, load_beir
from tests.conftest import SCIFACT

pytestmark = pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").exists(), reason="shared SciFact data not present")


@pytest.mark.slow
async def test_rescoring_keeps_float32_quality_on_a_scifact_subset(make_settings, embedder) -> None:
    data = load_beir(SCIFACT, max_docs=700, max_queries=100)
    assert len(data.doc_ids) == 700 and len(data.query_ids) == 100
    result = await evaluate(data, embedder, make_settings())
    modes = result["modes"]
    float32, binary, default = (modes[m]["ndcg@10"] for m in ("float32", "binary", "default"))
    print(f"SciFact subset NDCG@10: float32 {float32:.4f}, binary {binary:.4f}, default {default:.4f}")
    assert float32 > 0.5  # the real model on real data, not noise
    assert default >= 0.97 * float32
    assert binary < default  # rescoring does something
    assert modes["default"]["bytes_per_vector"] * 32 == modes["float32"]["bytes_per_vector"]
    assert result["retention_ndcg10"] == pytest.approx(default / float32, abs=1e-3)


@pytest.mark.slow
async def test_asymmetric_rescoring_needs_no_float_copy_and_beats_hamming(make_settings, embedder) -> None:
    data = load_beir(SCIFACT, max_docs=300, max_queries=40)
    result = await evaluate(data, embedder, make_settings(rescore="asymmetric"))
    assert result["modes"]["default"]["disk_bytes_per_vector"] == 0
    assert result["modes"]["default"]["ndcg@10"] >= result["modes"]["binary"]["ndcg@10"]


def test_ndcg_matches_a_hand_computed_value() -> None:
    from rag.evaluation import ndcg_at, precision_at, recall_at

    rels = {"a": 1, "b": 2}
    # ranked: x, b, a → dcg = 2/log2(3) + 1/log2(4); ideal = 2/1 + 1/log2(3)
    expected = (2 / 1.5849625 + 1 / 2) / (2 + 1 / 1.5849625)
    assert ndcg_at(["x", "b", "a"], rels, 10) == pytest.approx(expected, rel=1e-6)
    assert recall_at(["x", "b"], rels, 2) == 0.5 and precision_at(["x", "b", "a", "y", "z"], rels, 5) == 0.4
