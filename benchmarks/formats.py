"""Reading speed per format (pages/s through the real readers, sandbox and chunker), and pypdf vs PyMuPDF on
generated PDFs: speed and how faithfully each gives back the text that was typeset.

A "page" is a real page for PDF (also scanned), slides for PPTX, frames for images, and 3,000 characters of
extracted text for formats without pages. Embedding is left out (see `benchmarks/ingest.py`: it is ~95 % of
ingestion time at ~25 chunks/s on 2 cores, whatever the format).

    python -m benchmarks.formats [--docs 8] [--per-doc 6]
"""

from __future__ import annotations

import argparse
import difflib
import html
import json
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.common import SCIFACT, save
from benchmarks.ingest import abstracts, write_document
from ingest.parser import FileParser
from ingest.sandbox import ReaderSandbox
from rag.embed import LocalEmbedder
from rag.models import SourceFile

CHARS_PER_PAGE = 3000


def write_extra(path: Path, title: str, sections: list[tuple[str, str]]) -> int:
    """Writers for the formats `benchmarks.ingest` does not make; returns pages where they exist."""
    fmt = path.suffix[1:]
    if fmt == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["study", "finding", "source"])
            writer.writerows([heading, text, title] for heading, text in sections)
    elif fmt == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["study", "finding"])
        for heading, text in sections:
            sheet.append([heading, text])
        book.save(path)
    elif fmt == "json":
        path.write_text(json.dumps({"title": title, "studies": [{"title": h, "abstract": t} for h, t in sections]}))
    elif fmt == "py":
        path.write_text("".join(f'def study_{i}():\n    """{h}\n\n    {t}\n    """\n    return {i}\n\n\n'
                                for i, (h, t) in enumerate(sections)))
    elif fmt == "epub":
        from ebooklib import epub

        book = epub.EpubBook()
        book.set_identifier(title)
        book.set_title(title)
        chapters = []
        for i, (heading, text) in enumerate(sections):
            chapter = epub.EpubHtml(title=heading, file_name=f"c{i}.xhtml")
            chapter.content = f"<html><body><h1>{html.escape(heading)}</h1><p>{html.escape(text)}</p></body></html>"
            book.add_item(chapter)
            chapters.append(chapter)
        book.toc, book.spine = chapters, chapters
        book.add_item(epub.EpubNcx())
        book.add_item(epub.EpubNav())
        epub.write_epub(str(path), book)
    elif fmt == "odt":
        from odf.opendocument import OpenDocumentText
        from odf.text import H, P

        document = OpenDocumentText()
        document.text.addElement(H(outlinelevel=1, text=title))
        for heading, text in sections:
            document.text.addElement(H(outlinelevel=2, text=heading))
            document.text.addElement(P(text=text))
        document.save(str(path))
    elif fmt == "rtf":
        body = "".join(f"{{\\b {h}}}\\par {t}\\par " for h, t in sections)
        path.write_bytes(("{\\rtf1\\ansi " + body + "}").encode("ascii", errors="replace"))
    elif fmt == "png":
        return write_scan(path, sections[0][1])
    elif fmt == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("notes/readme.md", "".join(f"## {h}\n\n{t}\n\n" for h, t in sections))
    return 0


def write_scan(path: Path, text: str) -> int:
    """A page-like image of `text` (what a phone photo of a printout gives OCR, minus the noise)."""
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    lines = textwrap.wrap(text, 70)[:30]
    image = Image.new("RGB", (1700, 120 + 60 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=34)
    for i, line in enumerate(lines):
        draw.text((80, 60 + 60 * i), line, fill="black", font=font)
    image.save(path)
    return 1


def scanned_pdf(path: Path, texts: list[str]) -> int:
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    for i, text in enumerate(texts):
        scan = path.with_name(f"{path.stem}-scan{i}.png")
        write_scan(scan, text)
        pdf.drawImage(ImageReader(str(scan)), 36, 300, width=540, height=400)
        pdf.showPage()
        scan.unlink()
    pdf.save()
    return len(texts)


FORMATS = ("md", "txt", "html", "pdf", "docx", "pptx", "csv", "xlsx", "json", "py", "epub", "odt", "rtf", "zip",
           "png", "scanned.pdf")


def build(folder: Path, docs: int, per_doc: int) -> dict[str, list[tuple[Path, int]]]:
    texts = abstracts(SCIFACT, len(FORMATS) * docs * per_doc)
    corpus: dict[str, list[tuple[Path, int]]] = {}
    for f, fmt in enumerate(FORMATS):
        corpus[fmt] = []
        for d in range(docs):
            sections = texts[(f * docs + d) * per_doc:(f * docs + d + 1) * per_doc]
            path = folder / f"{fmt.replace('.', '-')}-{d}.{fmt.rsplit('.', 1)[-1]}"
            if fmt == "scanned.pdf":
                pages = scanned_pdf(path, [t for _, t in sections[:2]])
            elif fmt in ("md", "txt", "html", "pdf", "docx", "pptx"):
                pages = write_document(path, f"Collected abstracts {d}", sections)
            else:
                pages = write_extra(path, f"Collected abstracts {d}", sections)
            corpus[fmt].append((path, pages))
    return corpus


def read_speed(parser: FileParser, files: list[tuple[Path, int]]) -> dict[str, Any]:
    started = time.perf_counter()
    pages = chunks = chars = 0
    for path, real_pages in files:
        parsed = parser.parse(SourceFile.local(path))
        text = sum(len(c.text) for c in parsed.chunks)
        chars += text
        chunks += len(parsed.chunks)
        pages += real_pages or max(1, round(text / CHARS_PER_PAGE))
    seconds = time.perf_counter() - started
    return {"files": len(files), "pages": pages, "chunks": chunks, "seconds": round(seconds, 3),
            "pages_per_s": round(pages / seconds, 2), "chunks_per_s": round(chunks / seconds, 1),
            "page_unit": "page" if files[0][1] else f"{CHARS_PER_PAGE} chars"}


def words(text: str) -> list[str]:
    return [w.strip(".,;:()[]\"'").lower() for w in text.split() if w.strip(".,;:()[]\"'")]


def pdf_libraries(folder: Path, docs: int) -> dict[str, Any]:
    """pypdf (bitrag's reader) vs PyMuPDF on the generated PDFs: seconds per page and word-level similarity of the
    extracted text with the typeset text (difflib ratio over word sequences)."""
    texts = abstracts(SCIFACT, docs * 6)
    cases = []
    for d in range(docs):
        sections = texts[d * 6:(d + 1) * 6]
        path = folder / f"fidelity-{d}.pdf"
        pages = write_document(path, f"Collected abstracts {d}", sections)
        truth = words(f"Collected abstracts {d} " + " ".join(f"{h} {t}" for h, t in sections))
        cases.append((path, pages, truth))
    results: dict[str, Any] = {}
    for name, extract in (("pypdf", _pypdf_text), ("pymupdf", _pymupdf_text)):
        try:
            started = time.perf_counter()
            extracted = [extract(path) for path, _, _ in cases]
            seconds = time.perf_counter() - started
        except ImportError:
            results[name] = {"error": "not installed (pip install pymupdf; AGPL-licensed)"}
            continue
        ratios = [difflib.SequenceMatcher(None, truth, words(text), autojunk=False).ratio()
                  for (_, _, truth), text in zip(cases, extracted, strict=True)]
        pages = sum(p for _, p, _ in cases)
        results[name] = {"pages": pages, "ms_per_page": round(seconds / pages * 1000, 2),
                         "word_similarity_mean": round(statistics.mean(ratios), 4),
                         "word_similarity_min": round(min(ratios), 4)}
    return results


def _pypdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def _pymupdf_text(path: Path) -> str:
    import pymupdf

    with pymupdf.open(path) as document:
        return "\n".join(page.get_text() for page in document)


def main() -> None:
    parser_ = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser_.add_argument("--docs", type=int, default=8)
    parser_.add_argument("--per-doc", type=int, default=6)
    args = parser_.parse_args()
    embedder = LocalEmbedder()
    sandbox = ReaderSandbox(memory_mb=2048, timeout_s=600)
    parser = FileParser(embedder.count_tokens, 200, 30, 50, sandbox)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = build(Path(tmp), args.docs, args.per_doc)
            parser.parse(SourceFile.local(corpus["md"][0][0]))  # start the reader process before timing
            speeds = {fmt: read_speed(parser, files) for fmt, files in corpus.items()}
            libraries = pdf_libraries(Path(tmp), args.docs)
    finally:
        sandbox.close()
    for fmt, speed in speeds.items():
        print(f"{fmt:12} {speed['pages_per_s']:8.2f} pages/s  ({speed['pages']} {speed['page_unit']} pages, "
              f"{speed['chunks']} chunks, {speed['seconds']:.2f} s)")
    print(json.dumps(libraries, indent=2))
    path = save("formats", {"docs_per_format": args.docs, "sections_per_doc": args.per_doc, "formats": speeds,
                            "pdf_libraries": libraries})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
