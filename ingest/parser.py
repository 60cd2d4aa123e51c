"""`FileParser`: the ingestion layer's implementation of `rag.models.DocumentParser`.

Checks come before reading (size, emptiness, type), so an oversized or unsupported upload costs nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from llama_index.core import Document

from ingest.chunking import Chunker
from ingest.formats import Kind, kind_of, split_mode, supported_list
from ingest.sandbox import ReaderSandbox
from rag.errors import ParseError, UnsupportedFileError
from rag.models import ParsedDocument, SourceFile

Transcribe = Callable[[Path, str], list[Document]]
NO_TRANSCRIPTION = ("{name} is audio: transcribing it needs Groq's speech-to-text. Set GROQ_API_KEY "
                    "(https://console.groq.com/keys) and upload it again.")


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def title_of(name: str) -> str:
    """`security-policy_v2.pdf` → `security policy v2`: gives chunks their document's topic when embedded."""
    return Path(name).stem.replace("_", " ").replace("-", " ").strip()


class FileParser:
    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, chunk_overlap: int,
                 max_file_mb: float, sandbox: ReaderSandbox, max_chunks: int = 10_000,
                 transcribe: Transcribe | None = None) -> None:
        self._chunker = Chunker(count_tokens, chunk_tokens, chunk_overlap)
        self._chunk_tokens = chunk_tokens
        self._max_chunks = max_chunks
        self._sandbox = sandbox
        self._max_bytes = int(max_file_mb * 1024 * 1024)
        self._max_file_mb = max_file_mb
        self._transcribe = transcribe

    def check(self, name: str, size: int) -> Kind:
        """Validate a file by name and size alone (adapters call this before downloading anything)."""
        kind = kind_of(Path(name))
        if kind is None:
            raise UnsupportedFileError(f"{name}: this file type is not supported. Supported: {supported_list()}.")
        if kind == "audio" and self._transcribe is None:  # before a chat adapter downloads it
            raise ParseError(NO_TRANSCRIPTION.format(name=name))
        if size == 0:
            raise ParseError(f"{name} is empty (0 bytes).")
        if size > self._max_bytes:
            raise ParseError(f"{name} is {size / 1048576:.1f} MB, over the {self._max_file_mb:g} MB limit "
                             "(MAX_FILE_MB): split it or ask an admin to raise the limit.")
        return kind

    def _check_chunks(self, name: str, chunks: int) -> None:
        if chunks > self._max_chunks:
            raise ParseError(f"{name} holds too much text: about {chunks:,} chunks, over the {self._max_chunks:,} "
                             "limit per file (MAX_FILE_CHUNKS). Split it into smaller files.")

    def _read(self, kind: Kind, file: SourceFile) -> list[Document]:
        """Audio is transcribed by a web service (with the bot's credentials); everything else is read by a reader
        in the sandboxed child process."""
        if kind != "audio":
            return self._sandbox.read(kind, file.path, file.name)
        assert self._transcribe is not None  # check() refused audio without it
        return self._transcribe(file.path, file.name)

    def parse(self, file: SourceFile) -> ParsedDocument:
        try:
            size = file.path.stat().st_size
        except OSError as exc:
            raise ParseError(f"{file.name} could not be read: {exc.strerror}.") from None
        kind = self.check(file.name, size)
        started = time.perf_counter()
        documents = self._read(kind, file)
        for document in documents:
            document.metadata.setdefault("split", split_mode(kind, file.name))
        read = time.perf_counter()
        # Refuse hopeless sizes before splitting (≥ 6 characters per token is a low estimate of the chunk count).
        self._check_chunks(file.name, sum(len(d.text) for d in documents) // (6 * self._chunk_tokens))
        chunks = self._chunker.split(documents, title_of(file.name))
        if not chunks:
            raise ParseError(f"{file.name} contains no text to index.")
        self._check_chunks(file.name, len(chunks))
        timings = {"read": (read - started) * 1000, "split": (time.perf_counter() - read) * 1000}
        return ParsedDocument(chunks=chunks, content_hash=content_hash(file.path), kind=kind, timings_ms=timings)
