"""Composition root: builds a `RagService` with the ingestion layer's parser plugged in."""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from typing import TYPE_CHECKING, Any

from rag.embed import Embedder, create_embedder
from rag.models import ParsedDocument, SourceFile
from rag.service import RagService
from rag.settings import RagSettings
from rag.store import start_lite_server

if TYPE_CHECKING:
    from ingest.parser import FileParser, Transcribe

log = logging.getLogger(__name__)

# Room left in the model's input for the "title › heading" line prepended to each chunk before embedding.
CONTEXT_TOKENS = 40


def quiet_third_party_warnings() -> None:
    """milvus-lite imports the deprecated pkg_resources; users cannot act on that warning."""
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")


class DeferredParser:
    """The `FileParser`, built when a file first needs it: the readers import llama-index (~1.6 s), which
    `bitrag sources`, `stats` or `forget` never use. Thread-safe: the service parses in worker threads."""

    def __init__(self, settings: RagSettings, embedder: Embedder) -> None:
        self._settings, self._embedder = settings, embedder
        self._parser: FileParser | None = None
        self._lock = threading.Lock()

    def _built(self) -> FileParser:
        with self._lock:
            if self._parser is None:
                self._parser = make_parser(self._settings, self._embedder)
            return self._parser

    def parse(self, source: SourceFile) -> ParsedDocument:
        return self._built().parse(source)

    def __getattr__(self, name: str) -> Any:  # check(), and whatever else FileParser offers the adapters
        return getattr(self._built(), name)


def make_parser(settings: RagSettings, embedder: Embedder) -> FileParser:
    from ingest.parser import FileParser
    from ingest.sandbox import shared_sandbox

    chunk_tokens = min(settings.chunk_tokens, max(32, embedder.max_tokens - CONTEXT_TOKENS))
    if chunk_tokens < settings.chunk_tokens:
        log.info("CHUNK_TOKENS lowered to %d: %s reads at most %d tokens", chunk_tokens, embedder.model_id,
                 embedder.max_tokens)
    sandbox = shared_sandbox(settings.parse_memory_mb, settings.parse_timeout_s, settings.ocr_languages)
    return FileParser(embedder.count_tokens, chunk_tokens, settings.chunk_overlap, settings.max_file_mb, sandbox,
                      settings.max_file_chunks, make_transcriber(settings))


def make_transcriber(settings: RagSettings) -> Transcribe | None:
    """Audio is transcribed by Groq's Whisper when a Groq key is set; without one, audio files get a message."""
    from ingest.audio import GroqTranscriber

    if settings.groq_api_key is None:
        return None
    return GroqTranscriber(settings.groq_api_key.get_secret_value(), settings.groq_base_url,
                           settings.transcribe_model, settings.transcribe_max_upload_mb, settings.llm_timeout_s * 5,
                           settings.llm_max_retries)


async def open_service(settings: RagSettings, embedder: Embedder | None = None) -> RagService:
    quiet_third_party_warnings()
    settings.make_home()
    owned = embedder is None
    starting = asyncio.create_task(asyncio.to_thread(start_lite_server, settings.milvus_uri)
                                   if settings.milvus_is_lite else asyncio.sleep(0))
    try:
        embedder = embedder or await create_embedder(settings)
    finally:
        await starting
    try:
        service = await RagService.open(settings, DeferredParser(settings, embedder), embedder)
    except BaseException:
        if owned:
            await embedder.aclose()
        raise
    service.owns_embedder = owned
    return service
