"""EPUB, ODT and RTF: the other document formats teams share, through maintained readers (ebooklib, odfpy,
striprtf). Headings become Markdown headings, as for DOCX, so citations name the section; EPUB chapters are cited
by their table-of-contents title."""

from __future__ import annotations

from pathlib import Path

from llama_index.core import Document

from ingest.archives import check_archive
from ingest.html import html_to_markdown
from rag.errors import ParseError


def read_epub(path: Path, name: str) -> list[Document]:
    import ebooklib
    from ebooklib import epub

    check_archive(path, name)
    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises bare exceptions and zipfile/lxml errors on bad files
        raise ParseError(f"{name} is not a readable EPUB file ({type(exc).__name__}). Export it again.") from None
    titles = {}
    for link in _toc_links(book.toc):
        titles.setdefault(link.href.split("#", 1)[0], link.title)
    documents = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        text = html_to_markdown(item.get_content().decode("utf-8", errors="replace"))
        if text.strip():
            chapter = titles.get(item.get_name()) or f"section {len(documents) + 1}"
            documents.append(Document(text=text, metadata={"chapter": chapter}))
    if not documents:
        raise ParseError(f"{name} has no text chapters.")
    return documents


def _toc_links(toc: object) -> list:
    from ebooklib import epub

    links = []
    for entry in toc if isinstance(toc, list | tuple) else [toc]:
        if isinstance(entry, epub.Link):
            links.append(entry)
        elif isinstance(entry, tuple) and len(entry) == 2:  # (Section, [children])
            section, children = entry
            if getattr(section, "href", None):
                links.append(section)
            links += _toc_links(children)
    return links


def read_odt(path: Path, name: str) -> list[Document]:
    from odf import teletype
    from odf.namespaces import TABLENS, TEXTNS
    from odf.opendocument import load
    from odf.table import TableRow

    check_archive(path, name)
    try:
        document = load(str(path))
    except Exception as exc:
        raise ParseError(f"{name} is not a readable ODT file ({type(exc).__name__}). Save it again as .odt.") \
            from None
    lines: list[str] = []
    for node in document.text.childNodes:
        kind = getattr(node, "qname", (None, None))
        text = teletype.extractText(node).strip()
        if not text:
            continue
        if kind == (TEXTNS, "h"):
            level = int(node.getAttrNS(TEXTNS, "outline-level") or 1)
            lines.append(f"{'#' * min(level, 6)} {text}")
        elif kind == (TABLENS, "table"):
            for row in node.getElementsByType(TableRow):
                lines.append(" | ".join(teletype.extractText(cell).strip() for cell in row.childNodes))
        else:
            lines.append(text)
        lines.append("")
    return [Document(text="\n".join(lines))]


def read_rtf(path: Path, name: str) -> list[Document]:
    from striprtf.striprtf import rtf_to_text

    data = path.read_bytes()
    if not data.lstrip().startswith(b"{\\rtf"):
        raise ParseError(f"{name} is not an RTF file (it does not start with {{\\rtf). Check the file type.")
    return [Document(text=rtf_to_text(data.decode("latin-1"), errors="ignore"))]
