"""Tests that need a Debian package (PostgreSQL, Chromium, Tesseract, espeak-ng) skip without it on a developer's
machine, and fail in CI, where `BITRAG_REQUIRE_SYSTEM_DEPS=1` and `scripts/install-system-deps.sh` installed it."""

from __future__ import annotations

import os

import pytest


def require(found: object, package: str) -> None:
    if found:
        return
    message = f"needs Debian's {package}: run scripts/install-system-deps.sh"
    if os.environ.get("BITRAG_REQUIRE_SYSTEM_DEPS") == "1":
        pytest.fail(message)
    pytest.skip(message)
