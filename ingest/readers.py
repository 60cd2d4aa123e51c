"""File readers: bytes on disk → llama-index `Document`s carrying the metadata citations need.

PDF goes through llama-index's `PDFReader` (pypdf, one document per page with its page label). DOCX and HTML are
turned into Markdown so headings survive into the Markdown splitter; PPTX gives one document per slide. Each
reader raises `ParseError` with a reason a user can act on.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from llama_index.core import Document

from rag.errors import ParseError

# Office files are zip archives: refuse ones that inflate absurdly before any XML parser sees them.
MAX_UNZIPPED_BYTES = 1 << 30
MAX_COMPRESSION_RATIO = 200


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
    documents = [Document(text=page.text, metadata={"page": str(page.metadata.get("page_label", i + 1))})
                 for i, page in enumerate(pages) if page.text.strip()]
    if not documents:
        raise ParseError(f"{name} has no text layer (a scanned or image-only PDF?): run OCR on it or "
                         "upload a text version.")
    return documents


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
    """The page's main content as Markdown-ish text: navigation, scripts and footers are dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(path.read_bytes(), name), "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "noscript", "form", "svg"]):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines = []
    for element in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "th", "blockquote"]):
        if element.find_parent(["p", "li", "pre", "td", "th", "blockquote"]) is not None:
            continue  # its text is part of an enclosing block already
        text = re.sub(r"\s+([.,;:!?)])", r"\1", element.get_text(" ", strip=True))  # "<b>x</b>." → "x."
        if not text:
            continue
        if element.name[0] == "h":
            lines.append(f"{'#' * int(element.name[1])} {text}")
        elif element.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(text)
        lines.append("")
    return [Document(text="\n".join(lines))]


READERS: dict[str, Callable[[Path, str], list[Document]]] = {
    "markdown": read_text, "text": read_text, "code": read_text, "pdf": read_pdf,
    "docx": read_docx, "pptx": read_pptx, "html": read_html,
}
