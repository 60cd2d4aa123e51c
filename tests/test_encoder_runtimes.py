"""EMBED_RUNTIME: torch, ONNX Runtime float32 and int8 compute the same model's vectors, the export is built once
from the local weights and cached, running it needs no torch, and each misconfiguration names the setting to fix."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from rag.embed import LocalEmbedder, LocalEncoder, OnnxEmbedder, _cuda_available, _local_model_path, resolve_runtime
from rag.errors import ConfigError
from rag.onnx_export import onnx_model_file
from rag.settings import RagSettings
from tests.conftest import ROOT

TEXTS = ["How many vacation days do I get?", "Employees get 28 days of paid vacation a year, " * 12,
         "연차 휴가는 며칠인가요?", "직원은 매년 유급 휴가 15일을 받습니다. 휴가는 팀장에게 미리 신청합니다.",
         "Wie viele Urlaubstage habe ich?", "x"]
MODEL_DIR = Path(_local_model_path("all-MiniLM-L6-v2"))


@pytest.fixture(scope="module")
def torch_embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "least_cosine", "mean_cosine"), [("onnx", 0.9999, 0.9999),
                                                                      ("onnx-int8", 0.95, 0.98)])
async def test_onnx_runtimes_compute_the_same_vectors_as_torch(
        runtime: str, least_cosine: float, mean_cosine: float, torch_embedder: LocalEmbedder, tmp_path: Path) -> None:
    onnx = OnnxEmbedder("all-MiniLM-L6-v2", 64, runtime, tmp_path)
    try:
        expected, got = await torch_embedder.embed(TEXTS), await onnx.embed(TEXTS)
        assert got.shape == expected.shape == (len(TEXTS), 384) and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = (got * expected).sum(axis=1)
        # int8 strays most on text the English model barely reads (Korean: 0.96); English stays above 0.99.
        assert cosines.min() >= least_cosine and cosines.mean() >= mean_cosine, cosines
        # Order kept although passes run longest first, and a text's vector does not depend on the texts embedded
        # with it: int8 runs each text in a pass of its own, since dynamic quantization scales a pass's activations
        # by their range (in shared passes the same texts moved to a cosine of 0.97).
        alone = np.concatenate([await onnx.embed([text]) for text in TEXTS])
        same = (alone * got).sum(axis=1)
        assert same.min() >= 0.99999, same
        if runtime == "onnx-int8":  # control: the same texts in one shared pass do move
            onnx._pass_size = lambda texts: len(texts)  # type: ignore[method-assign]
            shared = (await onnx.embed(TEXTS) * alone).sum(axis=1)
            assert shared.min() < 0.999, shared
        # Same model, same collection: the id a collection records does not change with the runtime.
        assert onnx.model_id == torch_embedder.model_id and f"+{runtime}." in onnx.encoder_id
        assert onnx.max_tokens == torch_embedder.max_tokens == 256
        for text in TEXTS:
            assert onnx.count_tokens(text) == torch_embedder.count_tokens(text)
        long = "word " * 2000  # truncated at the model's 256 tokens, like sentence-transformers
        assert np.allclose(await onnx.embed([long]), await torch_embedder.embed([long]), atol=0.03)
    finally:
        await onnx.aclose()


def test_the_export_is_built_once_when_two_processes_start_together(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    built: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            built.append(onnx_model_file(MODEL_DIR, "all-MiniLM-L6-v2", "onnx-int8", tmp_path))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with caplog.at_level(logging.WARNING, logger="rag.onnx_export"):
        threads = [threading.Thread(target=build) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors and len(built) == 2 and built[0] == built[1] and built[0].is_file()
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1 and "once" in caplog.text
    folder = built[0].parent
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["model-int8.onnx", "model.onnx"]
    assert not [p for p in folder.iterdir() if p.suffix == ".tmp"]  # nothing half-written left behind
    # The feed-forward output projections stay float32 (quantized, NDCG@10 on docstrings fell 1.6 %): 6 of 18.
    operators = Counter(node.op_type for node in onnx.load(str(built[0])).graph.node)
    assert operators["MatMul"] == 6 and operators["MatMulInteger"] == 12, operators
    stamp = built[0].stat().st_mtime_ns
    assert onnx_model_file(MODEL_DIR, "all-MiniLM-L6-v2", "onnx-int8", tmp_path) == built[0]
    assert built[0].stat().st_mtime_ns == stamp  # found again, not rebuilt


def test_running_the_default_cpu_encoder_needs_neither_torch_nor_transformers(tmp_path: Path) -> None:
    onnx_model_file(MODEL_DIR, "all-MiniLM-L6-v2", "onnx-int8", tmp_path)  # built beforehand (that needs torch)
    script = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
              "sys.modules['sentence_transformers'] = None\n"
              "import asyncio; from rag.embed import create_local_embedder; from rag.settings import RagSettings\n"
              f"e = create_local_embedder(RagSettings(_env_file=None, embed_cache_dir={str(tmp_path)!r}))\n"
              "v = asyncio.run(e.embed(['연차 휴가는 며칠인가요?', 'vacation days']))\n"
              "print(e.runtime, v.shape)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["onnx-int8", "(2,", "384)"], done.stdout
    # Control: the same script with torch's runtime does need torch, so blocking it above really blocked it.
    refused = subprocess.run([sys.executable, "-c", script.replace("embed_cache_dir", "embed_runtime='torch', "
                                                                                      "embed_cache_dir")],
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "sentence_transformers" in refused.stderr


def test_runtime_choice_and_its_refusals_name_the_setting() -> None:
    assert resolve_runtime("auto", "cpu", "float32") == "onnx-int8"
    assert resolve_runtime("auto", "cuda", "float32") == "torch"
    assert resolve_runtime("auto", "auto", "float16") == "torch"  # float16 is torch's on a GPU
    assert resolve_runtime("onnx", "auto", "float32") == "onnx"
    for device, precision, named in [("cuda", "float32", "EMBED_DEVICE=cuda"), ("auto", "float16",
                                                                                  "EMBED_PRECISION=float16")]:
        with pytest.raises(ConfigError, match="EMBED_RUNTIME=torch") as raised:
            resolve_runtime("onnx-int8", device, precision)
        assert named in str(raised.value)
    with pytest.raises(ValueError, match="embed_runtime"):
        RagSettings(_env_file=None, embed_runtime="tensorrt")


def test_an_unwritable_cache_and_a_model_without_local_files_are_clear_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"EMBED_CACHE_DIR=.*writable folder"):
        onnx_model_file(MODEL_DIR, "all-MiniLM-L6-v2", "onnx", blocker / "cache")
    with pytest.raises(ConfigError, match="EMBED_RUNTIME=torch"):
        OnnxEmbedder("some-org/model-only-on-the-hub", 64, "onnx-int8", tmp_path)
    weightless = tmp_path / "weightless"
    shutil.copytree(MODEL_DIR, weightless, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    with pytest.raises(ConfigError, match=r"has no model\.safetensors"):
        OnnxEmbedder(str(weightless), 64, "onnx", tmp_path / "cache")


def test_a_pooling_the_onnx_runtime_does_not_do_is_refused_not_guessed(tmp_path: Path) -> None:
    model = tmp_path / "max-pooled"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    pooling = model / "1_Pooling" / "config.json"
    text = pooling.read_text()
    assert '"pooling_mode_mean_tokens": true' in text  # control: the packaged model pools by mean
    pooling.write_text(text.replace('"pooling_mode_mean_tokens": true', '"pooling_mode_mean_tokens": false')
                       .replace('"pooling_mode_max_tokens": false', '"pooling_mode_max_tokens": true'))
    with pytest.raises(ConfigError, match="pools by max: set EMBED_RUNTIME=torch"):
        OnnxEmbedder(str(model), 64, "onnx-int8", tmp_path / "cache")


def test_the_default_runtime_is_the_one_the_suite_runs(embedder: LocalEncoder) -> None:
    if _cuda_available():  # a GPU machine runs the default in torch
        assert embedder.runtime == "torch"
    else:
        assert embedder.runtime == "onnx-int8" and embedder.device == "cpu" and embedder.precision == "int8"
