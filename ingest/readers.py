"""File readers: bytes on disk → llama-index `Document`s carrying the metadata citations need.

PDF goes through llama-index's `PDFReader` (pypdf, one document per page with its page label; pages without a text
layer are OCRed when Tesseract is installed). DOCX and HTML are turned into Markdown so headings survive into the
Markdown splitter; PPTX gives one document per slide. Tables, JSON, EPUB/ODT/RTF, images and ZIP archives have
modules of their own; `READERS` maps every kind to its reader. Each reader raises `ParseError` with a reason a user
can act on. Readers run in the sandboxed child process (`ingest.sandbox`); audio is not read here but transcribed
(`ingest.audio`), because that calls a web service with the bot's credentials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from llama_index.core import Document

from ingest import ocr
from ingest.archives import check_archive, read_zip
from ingest.html import html_to_markdown
from ingest.opendocument import read_epub, read_odt, read_rtf
from ingest.structured import read_json, read_jsonl
from ingest.tables import read_delimited, read_xlsx
from ingest.text import decode_text
from rag.errors import ParseError


def read_text(path: Path, name: str) -> list[Document]:
    return [Document(text=decode_text(path.read_bytes(), name))]


def read_pdf(path: Path, name: str) -> list[Document]:
    from llama_index.readers.file import PDFReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PdfStreamError
    from tenacity import RetryError

    try:
        try:
            pages = PDFReader().load_data(path)
        except RetryError as retried:  # PDFReader retries reads; the last attempt's error is the real one
            raise retried.last_attempt.exception() or retried from None
    except FileNotDecryptedError:
        raise ParseError(f"{name} is password-protected: remove the password and upload it again.") from None
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"{name} is not a readable PDF (corrupt or truncated: {exc}). "
                         "Re-export or re-download it.") from None
    labels = [str(page.metadata.get("page_label", i + 1)) for i, page in enumerate(pages)]
    texts = {i: page.text for i, page in enumerate(pages) if page.text.strip()}
    scanned = ocr.pdf_pages_with_images(path, [i for i in range(len(pages)) if i not in texts])
    found: dict[int, str] = {}
    if scanned and not ocr.available():
        if not texts:
            raise ParseError(ocr.missing_message(name, "image-only PDF"))
    elif scanned:  # scanned pages: OCR them, cite them as "p. N (OCR)"
        if len(scanned) > ocr.MAX_PDF_PAGES:
            raise ParseError(f"{name} has {len(scanned)} scanned pages, over the {ocr.MAX_PDF_PAGES} bitrag OCRs per "
                             "file: split it, or run OCR on it first (e.g. ocrmypdf).")
        found = {i: text for i, text in ocr.pdf_pages_text(path, scanned).items() if text}
    documents = [Document(text=text, metadata={"page": labels[i], **({"ocr": True} if i in found else {})})
                 for i, text in sorted({**texts, **found}.items())]
    if not documents:
        raise ParseError(f"{name} has no text layer, and OCR found no text on it (blank pages or drawings only?).")
    return documents


def read_docx(path: Path, name: str) -> list[Document]:
    """Paragraphs and tables in order; "Heading N" styles become Markdown headings."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    check_archive(path, name)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise ParseError(f"{name} is not a readable DOCX file ({exc}). Save it again as .docx.") from None
    except Exception as exc:  # zipfile.BadZipFile and lxml errors
        raise ParseError(f"{name} is not a readable DOCX file ({type(exc).__name__}). Save it again as .docx.") \
            from None
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = docx.text.paragraph.Paragraph(block, document)
            text = paragraph.text.strip()
            if not text:
                continue
            level = _heading_level(paragraph.style.name if paragraph.style is not None else "")
            lines.append(f"{'#' * level} {text}" if level else text)
        elif tag == "tbl":
            table = docx.table.Table(block, document)
            for row in table.rows:
                lines.append(" | ".join(cell.text.strip() for cell in row.cells))
        lines.append("")
    return [Document(text="\n".join(lines))]


def _heading_level(style: str) -> int:
    """Word's Title sits above Heading 1, so Title → #, Heading N → N+1 #s (sections nest under the title)."""
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(int(match.group(1)) + 1, 6) if match else 0


def read_pptx(path: Path, name: str) -> list[Document]:
    """One document per slide: its title, text frames, tables and speaker notes."""
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    check_archive(path, name)
    try:
        presentation = Presentation(str(path))
    except PackageNotFoundError as exc:
        raise ParseError(f"{name} is not a readable PPTX file ({exc}). Save it again as .pptx.") from None
    except Exception as exc:
        raise ParseError(f"{name} is not a readable PPTX file ({type(exc).__name__}). Save it again as .pptx.") \
            from None
    documents = []
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None else ""
        parts = [title] if title else []
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame and shape.text_frame.text.strip():
                parts.append(shape.text_frame.text.strip())
            if getattr(shape, "has_table", False) and shape.has_table:
                parts += [" | ".join(c.text.strip() for c in row.cells) for row in shape.table.rows]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                parts.append(f"Notes: {notes}")
        if parts:
            documents.append(Document(text="\n".join(parts), metadata={"slide": number, "title": title}))
    return documents


def read_html(path: Path, name: str) -> list[Document]:
    return [Document(text=html_to_markdown(decode_text(path.read_bytes(), name)))]


READERS: dict[str, Callable[[Path, str], list[Document]]] = {
    "markdown": read_text, "text": read_text, "code": read_text, "pdf": read_pdf,
    "docx": read_docx, "pptx": read_pptx, "html": read_html, "table": read_delimited, "xlsx": read_xlsx,
    "json": read_json, "jsonl": read_jsonl, "epub": read_epub, "odt": read_odt, "rtf": read_rtf,
    "image": ocr.read_image, "zip": lambda path, name: read_zip(path, name, READERS),
}
