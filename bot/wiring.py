"""Composition root: builds a `RagService` with the ingestion layer's parser plugged in."""

from __future__ import annotations

import logging
import warnings

from ingest.audio import GroqTranscriber
from ingest.parser import FileParser, Transcribe
from ingest.sandbox import shared_sandbox
from rag.embed import Embedder, create_embedder
from rag.service import RagService
from rag.settings import RagSettings

log = logging.getLogger(__name__)

# Room left in the model's input for the "title › heading" line prepended to each chunk before embedding.
CONTEXT_TOKENS = 40


def quiet_third_party_warnings() -> None:
    """milvus-lite imports the deprecated pkg_resources; users cannot act on that warning."""
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")


def make_parser(settings: RagSettings, embedder: Embedder) -> FileParser:
    chunk_tokens = min(settings.chunk_tokens, max(32, embedder.max_tokens - CONTEXT_TOKENS))
    if chunk_tokens < settings.chunk_tokens:
        log.info("CHUNK_TOKENS lowered to %d: %s reads at most %d tokens", chunk_tokens, embedder.model_id,
                 embedder.max_tokens)
    sandbox = shared_sandbox(settings.parse_memory_mb, settings.parse_timeout_s, settings.ocr_languages)
    return FileParser(embedder.count_tokens, chunk_tokens, settings.chunk_overlap, settings.max_file_mb, sandbox,
                      settings.max_file_chunks, make_transcriber(settings))


def make_transcriber(settings: RagSettings) -> Transcribe | None:
    """Audio is transcribed by Groq's Whisper when a Groq key is set; without one, audio files get a message."""
    if settings.groq_api_key is None:
        return None
    return GroqTranscriber(settings.groq_api_key.get_secret_value(), settings.groq_base_url,
                           settings.transcribe_model, settings.transcribe_max_upload_mb, settings.llm_timeout_s * 5,
                           settings.llm_max_retries)


async def open_service(settings: RagSettings, embedder: Embedder | None = None) -> RagService:
    quiet_third_party_warnings()
    owned = embedder is None
    embedder = embedder or await create_embedder(settings)
    try:
        service = await RagService.open(settings, make_parser(settings, embedder), embedder)
    except BaseException:
        if owned:
            await embedder.aclose()
        raise
    service.owns_embedder = owned
    return service
