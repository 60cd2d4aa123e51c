"""Tests that need a Debian package (PostgreSQL, Chromium, Tesseract, espeak-ng) or a shared data set skip without
it on a developer's machine, and fail in CI, where `BITRAG_REQUIRE_SYSTEM_DEPS=1`, `scripts/install-system-deps.sh`
installed the packages and the data sets are beside the checkout."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest


def require(found: object, package: str) -> None:
    _missing(found, f"needs Debian's {package}: run scripts/install-system-deps.sh")


def require_data(folder: Path, name: str) -> None:
    """A shared data set (e.g. BEIR SciFact beside the checkout): skipped without it, a failure in CI."""
    _missing((folder / "corpus.jsonl").exists(), f"needs the {name} data set in {folder}")


def _missing(found: object, message: str) -> None:
    if found:
        return
    if os.environ.get("BITRAG_REQUIRE_SYSTEM_DEPS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
