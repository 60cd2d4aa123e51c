"""JSON and JSON Lines: values are indexed with their key paths ("servers[0].region: eu-west-1"), so a chunk
keeps the structure that gives a bare value its meaning. A JSON document is cited by its top-level key or index,
a JSON Lines file by line numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_index.core import Document

from ingest.tables import group_rows
from ingest.text import decode_text
from rag.errors import ParseError


def flatten(value: Any, path: str) -> Iterator[str]:
    """`path: value` lines for every scalar inside `value`."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from flatten(inner, f"{path}[{index}]")
    elif value is not None and value != "":
        yield f"{path}: {value}" if path else str(value)


def _load(text: str, name: str, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {line}" if line is not None else f"line {exc.lineno}, column {exc.colno}"
        raise ParseError(f"{name} is not valid JSON ({exc.msg} at {where}): fix it and upload it again.") from None


def read_json(path: Path, name: str) -> list[Document]:
    data = _load(decode_text(path.read_bytes(), name), name)
    if isinstance(data, dict):
        entries: list[tuple[str, Any]] = [(str(key), value) for key, value in data.items()]
    elif isinstance(data, list):
        entries = [(f"[{index}]", value) for index, value in enumerate(data)]
    else:
        entries = [("", data)]
    documents = []
    for label, value in entries:  # the top-level key is both the citation and the path prefix
        text = "\n".join(flatten(value, label))
        if text.strip():
            documents.append(Document(text=text, metadata={"key": label} if label else {}))
    return documents


def read_jsonl(path: Path, name: str) -> list[Document]:
    lines = decode_text(path.read_bytes(), name).splitlines()
    records = ((number, " · ".join(flatten(_load(line, name, number), "")))
               for number, line in enumerate(lines, start=1) if line.strip())
    return [Document(text=d.text, metadata={"lines": d.metadata["rows"]}) for d in group_rows(records)]
