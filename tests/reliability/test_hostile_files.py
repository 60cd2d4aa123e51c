"""Hostile files: every one gets a clear, specific reason, nothing of it is stored, the bot keeps serving and its
memory stays bounded (readers run in a capped child process, see `ingest/sandbox.py`)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import psutil

from bot.settings import Settings
from bot.wiring import open_service
from ingest.names import safe_name
from rag.embed import LocalEncoder
from rag.models import SourceFile
from rag.service import RagService
from tests.conftest import SAMPLE_DOCS


def pdf_bytes(pages: int = 1, text: str | None = "Hello", image_only: bool = False) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    for _ in range(pages):
        if image_only:
            page.rect(100, 100, 200, 200, fill=1)
        elif text:
            page.drawString(100, 700, text)
        page.showPage()
    page.save()
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf_bytes(text="Secret quarterly numbers"))).pages:
        writer.add_page(page)
    writer.encrypt(user_password="hunter2", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def zip_bomb(inner: str) -> bytes:
    """A real Office-shaped archive whose main part inflates to 200 MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(inner, "w") as member:
            block = b"\0" * (1 << 20)
            for _ in range(200):
                member.write(block)
    return buffer.getvalue()


def empty_docx() -> bytes:
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    return buffer.getvalue()


def png_bomb() -> bytes:
    """A 400-megapixel PNG that compresses to a few kilobytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def hostile_corpus() -> dict[str, tuple[bytes, str]]:
    """file name → (content, the words its refusal must contain)."""
    good_pdf = (SAMPLE_DOCS / "security-policy.pdf").read_bytes()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    return {
        "empty.md": (b"", "empty (0 bytes)"),
        "whitespace.md": (b" \n\n\t \n" * 100, "no text to index"),
        "binary.txt": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64, "looks like a binary file"),
        "latin1.txt": ("Caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1"), "not UTF-8"),
        "utf16-no-bom.txt": ("hello world".encode("utf-16-le"), "looks like a binary file"),
        "corrupt.pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 40, "not a readable PDF"),
        "truncated.pdf": (good_pdf[: len(good_pdf) // 3], "not a readable PDF"),
        "encrypted.pdf": (encrypted_pdf(), "password-protected"),
        "blank-5000-pages.pdf": (pdf_bytes(pages=5000, text=None), "no text layer"),
        "image-only.pdf": (pdf_bytes(image_only=True), "no text layer"),
        "png-renamed.pdf": (png, "not a readable PDF"),
        "pdf-renamed.docx": (good_pdf, "not a readable DOCX"),
        "not-a-zip.pptx": (b"PK\x03\x04 not really a zip" * 10, "not a readable PPTX"),
        "bomb.docx": (zip_bomb("word/document.xml"), "zip bomb"),
        "bomb.pptx": (zip_bomb("ppt/presentation.xml"), "zip bomb"),
        "empty.docx": (empty_docx(), "no text to index"),
        "scripts-only.html": (b"<html><head><script>alert(1)</script></head><body><nav>Home</nav>"
                              b"<script>var x = 1;</script></body></html>", "no text to index"),
        "one-50mb-line.txt": (b"lorem ipsum " * (50_000_000 // 12), "over the 1,000 limit per file"),
        "oversized.md": (b"# big\n\n" + b"word " * (13 << 20), "over the 60 MB limit"),
        "empty.zip": (b"PK\x05\x06" + b"\0" * 18, "contains no supported file"),
        "bomb.zip": (zip_bomb("notes.txt"), "zip bomb"),
        "bomb.png": (png_bomb(), "too large an image"),
        "random.jpg": (bytes(range(256)) * 20, "not a readable image"),
        "not-a-workbook.xlsx": (b"PK\x03\x04 not really a zip" * 10, "not a readable XLSX"),
        "not-a-book.epub": (b"PK\x03\x04 not really a zip" * 10, "not a readable EPUB"),
        "deep.json": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        "photo.heic": (b"\0\0\0\x18ftypheic", "not supported"),
    }


async def test_hostile_files_are_refused_clearly_and_nothing_leaks(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    service = await open_service(make_settings(max_file_mb=60, max_file_chunks=1000), embedder)
    try:
        corpus = hostile_corpus()
        files = []
        for name, (content, _) in corpus.items():
            (tmp_path / name).write_bytes(content)
            files.append(SourceFile.local(tmp_path / name))
        deep = tmp_path / "deeply-nested.html"
        deep.write_text("<div>" * 100_000 + "<p>Deep fact: the vault code is 4417.</p>" + "</div>" * 100_000)
        files += [SourceFile.local(deep), SourceFile.local(SAMPLE_DOCS / "expense-policy.md")]
        rss_before = psutil.Process().memory_info().rss

        report = await service.ingest(files, "acme")

        by_name = {r.name: r for r in report.results}
        for name, (_, reason) in corpus.items():
            assert by_name[name].status == "failed", by_name[name]
            assert reason in (by_name[name].reason or ""), (name, by_name[name].reason)
        deep_result = by_name["deeply-nested.html"]  # read or refused, but never a crash
        assert deep_result.status == "added" or "nested too deeply" in (deep_result.reason or ""), deep_result
        assert by_name["expense-policy.md"].status == "added"
        # the 50 MB line and the zip bombs were handled in the reader's process, not ours
        assert psutil.Process().memory_info().rss - rss_before < 600 * 2**20

        stored = {d.source for d in await service.sources("acme")}
        assert stored <= {"expense-policy.md", "deeply-nested.html"}
        answer = await service.ask("What is the hotel limit per night in Paris?", "acme")
        assert answer.sources[0].source == "expense-policy.md"
        assert await service.store.count("acme") == sum(r.chunks for r in report.results)
        assert len(corpus) + 1 >= 20
    finally:
        await service.close()


async def test_a_reader_that_runs_too_long_is_stopped_and_the_next_file_still_reads(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    service = await open_service(make_settings(parse_timeout_s=0.5), embedder)
    try:
        slow = tmp_path / "slow.pdf"
        slow.write_bytes(pdf_bytes(pages=3000, text="Page text that takes a while to extract."))
        report = await service.ingest([SourceFile.local(slow), SourceFile.local(SAMPLE_DOCS / "expense-policy.md")],
                                      "acme")
        assert report.results[0].status == "failed"
        assert "took longer than 0.5 s to read (PARSE_TIMEOUT_S)" in (report.results[0].reason or "")
        assert report.results[1].status == "added"
    finally:
        await service.close()


def test_uploaded_names_cannot_leave_the_download_folder(tmp_path: Path) -> None:
    for hostile in ["../../x.md", "..\\..\\windows\\x.md", "/etc/passwd.md", "a/../../b.md", "..", "~/.ssh/id.md",
                    "name\x00.md", "$(rm -rf ~).md", "📄 Résumé 2026 ✅.md"]:
        name = safe_name(hostile)
        target = (tmp_path / name).resolve()
        assert target.parent == tmp_path.resolve(), (hostile, name)
        assert name not in ("", ".", "..")
    assert safe_name("📄 Résumé 2026 ✅.md").endswith("Résumé 2026 _.md")


async def test_unicode_and_emoji_file_names_are_kept_in_citations(service: RagService, tmp_path: Path) -> None:
    path = tmp_path / "📄 Résumé — 2026 ✅.md"
    path.write_text("# Team résumé\n\nThe team mascot is a capybara named Señor Bits.\n", encoding="utf-8")
    report = await service.ingest([SourceFile.local(path)], "acme")
    assert report.results[0].status == "added"
    answer = await service.ask("What is the team mascot called?", "acme")
    assert answer.sources[0].source == "📄 Résumé — 2026 ✅.md"
