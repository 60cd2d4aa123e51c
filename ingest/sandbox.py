"""Readers run in a child process with a memory cap and a time limit.

Uploaded files are hostile input for libraries that were not written for it: a zip bomb disguised as a DOCX, a
PDF whose pages take minutes each, deeply nested markup. In a child process (spawned, not forked: the bot has
threads) with `RLIMIT_AS` set, such a file costs one `ParseError` and a fresh child, never the bot's memory or its
event loop. One long-lived child serves every read, so the ~1 s start-up is paid once, not per file.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rag.errors import ParseError

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60


def _serve(connection: Connection, memory_mb: int, ocr_languages: str) -> None:
    """The child's loop: read (kind, path, name) requests, answer ("ok", documents) or ("error", message)."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from ingest import ocr
    from ingest.readers import READERS

    ocr.LANGUAGES = ocr_languages

    connection.send(("ready", None))  # the time limit counts from here, not from the imports
    while True:
        try:
            kind, path, name = connection.recv()
        except EOFError:
            return
        try:
            reply: tuple[str, Any] = ("ok", READERS[kind](Path(path), name))
        except ParseError as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("error", f"{name} needs more than {memory_mb} MB of memory to read (PARSE_MEMORY_MB): "
                              "it may be damaged or built to exhaust memory. Split or re-export it.")
        except RecursionError:
            reply = ("error", f"{name} is nested too deeply to read. Re-export or simplify it.")
        except Exception as exc:  # a library's own bug on a malformed file
            reply = ("error", f"{name} could not be read ({type(exc).__name__}: {str(exc)[:200]}). "
                              "Re-export it or convert it to another format.")
        connection.send(reply)


class ReaderSandbox:
    """Runs `ingest.readers.READERS[kind](path, name)` in the child; one read at a time."""

    def __init__(self, memory_mb: int, timeout_s: float, ocr_languages: str = "eng") -> None:
        self.memory_mb = memory_mb
        self.ocr_languages = ocr_languages
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None

    def read(self, kind: str, path: Path, name: str) -> list[Any]:
        with self._lock:
            connection = self._ensure_child()
            connection.send((kind, str(path), name))
            if not connection.poll(self.timeout_s):
                log.warning("Reading %s took over %g s; the reader process is restarted", name, self.timeout_s)
                self._stop_child()
                raise ParseError(f"{name} took longer than {self.timeout_s:g} s to read (PARSE_TIMEOUT_S): split it "
                                 "into smaller files or convert it to PDF or text.")
            try:
                status, payload = connection.recv()
            except (EOFError, OSError):
                code = self._process.exitcode if self._process else None
                log.warning("The reader process died reading %s (exit %s); it is restarted", name, code)
                self._stop_child()
                raise ParseError(f"{name} crashed the document reader (exit {code}): the file is probably damaged. "
                                 "Re-export it or convert it to another format.") from None
        if status != "ok":
            raise ParseError(payload)
        return payload

    def _ensure_child(self) -> Connection:
        if self._process is None or not self._process.is_alive():
            self._stop_child()
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child, self.memory_mb, self.ocr_languages),
                                            daemon=True, name="bitrag-reader")
            self._process.start()
            child.close()
            self._connection = parent
            try:
                ready = parent.poll(START_TIMEOUT_S) and parent.recv()[0] == "ready"
            except (EOFError, OSError):
                ready = False
            if not ready:
                self._stop_child()
                raise ParseError("The document reader process did not start; try again in a minute.")
        assert self._connection is not None
        return self._connection

    def _stop_child(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self._connection is not None:
            self._connection.close()
        self._process, self._connection = None, None

    def close(self) -> None:
        with self._lock:
            self._stop_child()


_shared: dict[tuple[int, float, str], ReaderSandbox] = {}
_shared_lock = threading.Lock()


def shared_sandbox(memory_mb: int, timeout_s: float, ocr_languages: str = "eng") -> ReaderSandbox:
    """One sandbox (one child) per limits for the whole process, however many services are opened."""
    with _shared_lock:
        key = (memory_mb, timeout_s, ocr_languages)
        if key not in _shared:
            _shared[key] = ReaderSandbox(memory_mb, timeout_s, ocr_languages)
        return _shared[key]
