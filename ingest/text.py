"""Decoding uploaded bytes as text, strictly: a wrong guess would index garbage that looks like an answer."""

from __future__ import annotations

from rag.errors import ParseError


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is refused rather than garbled."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise ParseError(f"{name} looks like a binary file, not text: check the file type or extension.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{name} is not UTF-8 text (invalid byte at position {exc.start}): "
                         "save it as UTF-8 and upload it again.") from None
