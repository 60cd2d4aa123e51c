"""Text from images by OCR (Tesseract through pytesseract): PNG/JPG/TIFF… uploads and PDF pages without a text
layer (scans). Optional: without the `tesseract` program, a clear message says what to install."""

from __future__ import annotations

import shutil
from pathlib import Path

from llama_index.core import Document

from rag.errors import ParseError

MAX_PIXELS = 80_000_000  # a larger image is refused before it is decoded (decompression bombs)
PDF_DPI = 300  # Tesseract reads best at about 300 dpi
MAX_PDF_PAGES = 300  # scanned pages per file (~2 s each on one core)
LANGUAGES = "eng"  # Tesseract language packs, e.g. "eng+deu"; set from OCR_LANGUAGES in the reader process


def available() -> bool:
    return shutil.which("tesseract") is not None


def missing_message(name: str, what: str = "image") -> str:
    return (f"{name} is an {what} without a text layer: reading it needs OCR, and the Tesseract program is not "
            "installed here. Install it (Debian/Ubuntu: apt-get install tesseract-ocr; macOS: brew install "
            "tesseract; bitrag's Docker image has it), or upload a text version.")


def image_text(image: object) -> str:
    import pytesseract

    return pytesseract.image_to_string(image, lang=LANGUAGES).strip()


def read_image(path: Path, name: str) -> list[Document]:
    """One document per frame (a multi-page TIFF gives pages); cited as "OCR" or "p. N (OCR)"."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    if not available():
        raise ParseError(missing_message(name))
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as image:
            frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
    except Image.DecompressionBombError:
        raise ParseError(f"{name} is too large an image to read (over {MAX_PIXELS:,} pixels): scale it down.") \
            from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ParseError(f"{name} is not a readable image ({exc}). Save it again as PNG or JPG.") from None
    documents = []
    for number, frame in enumerate(frames, start=1):
        text = image_text(frame)
        if text:
            meta: dict[str, object] = {"ocr": True}
            if len(frames) > 1:
                meta["page"] = str(number)
            documents.append(Document(text=text, metadata=meta))
    if not documents:
        raise ParseError(f"{name}: OCR found no readable text in the image.")
    return documents


def pdf_pages_with_images(path: Path, pages: list[int]) -> list[int]:
    """Those of the given (0-based) pages that hold an image: the only ones OCR can find text on (a blank page or
    vector art costs nothing)."""
    if not pages:  # every page has text: the common case opens nothing more
        return []
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        return [i for i in pages if any(True for _ in pdf[i].get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)))]
    finally:
        pdf.close()


def pdf_pages_text(path: Path, pages: list[int]) -> dict[int, str]:
    """OCR of the given (0-based) pages of a PDF, rendered with pdfium."""
    import pypdfium2

    texts = {}
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for index in pages:
            bitmap = pdf[index].render(scale=PDF_DPI / 72)
            texts[index] = image_text(bitmap.to_pil())
    finally:
        pdf.close()
    return texts
