"""CSV, TSV and XLSX: every row is written with its column names, so a chunk of rows never loses its header.

A spreadsheet row alone ("4711 | Berlin | 2026-03") means nothing to an embedding model or to the reader of a
citation; "id: 4711 · office: Berlin · since: 2026-03" does. Rows are grouped into documents of about
`GROUP_CHARS` characters, each cited as "rows 2–14" (spreadsheets: "Sheet1, rows 2–14"; row 1 is the header).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from llama_index.core import Document

from ingest.archives import check_archive
from ingest.text import decode_text
from rag.errors import ParseError

GROUP_CHARS = 700  # about one 200-token chunk


def row_text(header: list[str], row: list[str]) -> str:
    named = zip(header, row, strict=False)  # short rows leave columns out; long ones get numbered columns
    cells = [(name or f"column {i + 1}", value.strip()) for i, (name, value) in enumerate(named)]
    extra = [(f"column {i + 1}", value.strip()) for i, value in enumerate(row[len(header):], start=len(header))]
    return " · ".join(f"{name}: {value}" for name, value in [*cells, *extra] if value)


def group_rows(rows: Iterable[tuple[int, str]], sheet: str | None = None) -> Iterator[Document]:
    """(row number, text) pairs → documents of consecutive rows, each with its row range."""
    batch: list[tuple[int, str]] = []
    size = 0
    for number, text in rows:
        if not text:
            continue
        if batch and size + len(text) > GROUP_CHARS:
            yield _document(batch, sheet)
            batch, size = [], 0
        batch.append((number, text))
        size += len(text) + 1
    if batch:
        yield _document(batch, sheet)


def _document(batch: list[tuple[int, str]], sheet: str | None) -> Document:
    first, last = batch[0][0], batch[-1][0]
    meta: dict[str, str] = {"rows": f"{first}–{last}" if last != first else str(first)}
    if sheet:
        meta["sheet"] = sheet
    return Document(text="\n".join(text for _, text in batch), metadata=meta)


def read_delimited(path: Path, name: str) -> list[Document]:
    text = decode_text(path.read_bytes(), name)
    if path.suffix.lower() == ".tsv":
        dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    csv.field_size_limit(16 * 1024 * 1024)
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise ParseError(f"{name} is not a readable CSV file ({exc}). Export it again as CSV.") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ParseError(f"{name} has no data rows under its header.")
    header = [cell.strip() for cell in rows[0]]
    return list(group_rows((i + 2, row_text(header, row)) for i, row in enumerate(rows[1:])))


def read_xlsx(path: Path, name: str) -> list[Document]:
    """Every sheet; its first non-empty row is the header. Formulas are read as their last computed values."""
    import openpyxl

    check_archive(path, name)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException…
        raise ParseError(f"{name} is not a readable XLSX file ({type(exc).__name__}). Save it again as .xlsx.") \
            from None
    documents: list[Document] = []
    try:
        for sheet in workbook.worksheets:
            header: list[str] | None = None
            numbered: list[tuple[int, str]] = []
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = ["" if v is None else str(v) for v in values]
                if not any(c.strip() for c in cells):
                    continue
                if header is None:
                    header = [c.strip() for c in cells]
                    continue
                numbered.append((number, row_text(header, cells)))
            documents += group_rows(numbered, sheet.title)
    finally:
        workbook.close()
    if not documents:
        raise ParseError(f"{name} has no data rows under a header in any sheet.")
    return documents
