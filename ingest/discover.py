"""Expanding the paths given to `bitrag ingest` into files, recursively."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ingest.formats import kind_of
from rag.models import SourceFile

MISSING = "no such file or folder"
IGNORED_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache"}


def discover(paths: Iterable[Path]) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Files to ingest, and (name, reason) for what was skipped: unsupported types found inside folders.

    A file named explicitly is always returned, so an unsupported one gets a "failed" line with the reason;
    a missing path is reported as skipped."""
    files: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        if path.is_file():
            files.append(SourceFile.local(path))
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if any(part in IGNORED_DIRS or part.startswith(".") for part in relative.parts):
                    continue
                if not child.is_file():
                    continue
                if kind_of(child) is None:
                    skipped.append((str(child), "unsupported file type"))
                else:
                    files.append(SourceFile.local(child))
        else:
            skipped.append((str(path), MISSING))
    return files, skipped
