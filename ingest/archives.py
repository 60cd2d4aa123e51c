"""ZIP archives: the zip-bomb check every zip-based format goes through (DOCX, PPTX, XLSX, ODT, EPUB), and
reading a .zip upload as one document made of its supported members, each cited by its path inside the archive."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ingest.formats import kind_of, split_mode
from rag.errors import ParseError

# Refuse archives that inflate absurdly before any parser sees them.
MAX_UNZIPPED_BYTES = 1 << 30
MAX_COMPRESSION_RATIO = 200


def check_archive(path: Path, name: str) -> None:
    """Refuse zip bombs by the sizes the archive declares (cheap: nothing is inflated)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip at all: the reader says so in its own words
    unzipped = sum(m.file_size for m in members)
    packed = max(1, sum(m.compress_size for m in members))
    if unzipped > MAX_UNZIPPED_BYTES or unzipped / packed > MAX_COMPRESSION_RATIO:
        raise ParseError(f"{name} would inflate to {unzipped / 2**20:,.0f} MB ({unzipped / packed:,.0f}× its packed "
                         "size): that looks like a zip bomb, so it was not opened.")


MAX_MEMBERS = 2000
SKIPPED_KINDS = {"zip", "audio"}  # no archives in archives; audio needs the transcription service, not a reader


def read_zip(path: Path, name: str, readers: Mapping[str, Callable[[Path, str], list[Any]]]) -> list[Any]:
    """The supported members of a .zip, each read by its own format's reader (`readers`, the table of
    `ingest.readers`, passed in so that this module depends on no reader) in a scratch folder, their documents
    tagged with the member's path (cited as "docs/setup.md › Install") and how to split them."""
    check_archive(path, name)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ParseError(f"{name} is not a readable ZIP archive ({exc}).") from None
    with archive, tempfile.TemporaryDirectory(prefix="bitrag-zip-") as scratch:
        members = [m for m in archive.infolist() if not m.is_dir() and not _hidden(m.filename)]
        if len(members) > MAX_MEMBERS:
            raise ParseError(f"{name} holds {len(members):,} files, over the {MAX_MEMBERS:,} per archive: split it.")
        documents: list[Any] = []
        problems: list[str] = []
        for number, member in enumerate(members):
            kind = kind_of(Path(member.filename))
            if kind is None or kind in SKIPPED_KINDS:
                continue
            # Written under a name of our own: member names may hold "../" or absolute paths.
            target = Path(scratch) / f"{number}{Path(member.filename).suffix.lower()}"
            with archive.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            try:
                read = readers[kind](target, member.filename)
            except ParseError as exc:
                problems.append(str(exc))
                continue
            finally:
                target.unlink()
            for document in read:
                document.metadata.update(member=member.filename, split=split_mode(kind, member.filename))
            documents += read
    if not documents:
        reason = f": {problems[0]}" if problems else " (or none of its files has text)"
        raise ParseError(f"{name} contains no supported file with text{reason}")
    return documents


def _hidden(member: str) -> bool:
    """Dot files and macOS resource forks; "../" parts are not hidden (and harmless: members are never written
    where their names point)."""
    return any((part.startswith(".") and part not in (".", "..")) or part == "__MACOSX" for part in member.split("/"))
