"""Bad files get a clear reason and never stop the rest of a batch; nothing of them is stored."""

from __future__ import annotations

import shutil
from pathlib import Path

from rag.models import SourceFile
from rag.service import RagService
from tests.conftest import SAMPLE_DOCS


def write(path: Path, data: bytes) -> SourceFile:
    path.write_bytes(data)
    return SourceFile.local(path)


async def test_bad_files_in_a_batch_are_reported_and_the_rest_ingested(service: RagService, tmp_path: Path) -> None:
    good_pdf = SAMPLE_DOCS / "security-policy.pdf"
    truncated = good_pdf.read_bytes()[: len(good_pdf.read_bytes()) // 3]
    files = [
        SourceFile.local(SAMPLE_DOCS / "expense-policy.md"),
        write(tmp_path / "corrupt.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 20),
        write(tmp_path / "truncated.pdf", truncated),
        write(tmp_path / "archive.xyz", b"whatever"),
        write(tmp_path / "empty.md", b""),
        write(tmp_path / "binary.txt", b"\x7fELF\x00\x00\x00\x01" * 100),
        write(tmp_path / "latin1.txt", "Caf\xe9 cr\xe8me".encode("latin-1")),
        write(tmp_path / "broken.docx", b"PK\x03\x04 not really a zip"),
        SourceFile.local(SAMPLE_DOCS / "roadmap-q3-2026.pptx"),
    ]
    report = await service.ingest(files, "acme")
    by_name = {r.name: r for r in report.results}
    assert by_name["expense-policy.md"].status == "added"
    assert by_name["roadmap-q3-2026.pptx"].status == "added"
    expectations = {
        "corrupt.pdf": "not a readable PDF", "truncated.pdf": "not a readable PDF",
        "archive.xyz": "not supported", "empty.md": "empty", "binary.txt": "binary",
        "latin1.txt": "not UTF-8", "broken.docx": "not a readable DOCX",
    }
    for name, reason in expectations.items():
        assert by_name[name].status == "failed", by_name[name]
        assert reason in (by_name[name].reason or ""), by_name[name]
    assert sorted(d.source for d in await service.sources("acme")) == ["expense-policy.md", "roadmap-q3-2026.pptx"]


async def test_oversized_file_is_refused_before_reading(make_settings, embedder, tmp_path: Path) -> None:
    from bot.wiring import open_service

    service = await open_service(make_settings(max_file_mb=0.001), embedder)
    try:
        big = tmp_path / "big.md"
        big.write_text("# Big\n\n" + "word " * 1000)
        report = await service.ingest([SourceFile.local(big)], "acme")
    finally:
        await service.close()
    assert report.results[0].status == "failed"
    assert "over the 0.001 MB limit (MAX_FILE_MB)" in (report.results[0].reason or "")


async def test_image_only_pdf_explains_ocr(service: RagService, tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "scan.pdf"
    page = canvas.Canvas(str(path))
    page.rect(100, 100, 200, 200, fill=1)
    page.save()
    report = await service.ingest([SourceFile.local(path)], "acme")
    assert report.results[0].status == "failed" and "no text layer" in (report.results[0].reason or "")


async def test_folder_walk_skips_unsupported_and_hidden_files(service: RagService, tmp_path: Path) -> None:
    from ingest.discover import discover

    folder = tmp_path / "kb"
    shutil.copytree(SAMPLE_DOCS, folder)
    (folder / "photo.heic").write_bytes(b"\x00\x01")
    (folder / ".git").mkdir()
    (folder / ".git" / "config.md").write_text("# not a document")
    files, skipped = discover([folder, tmp_path / "missing"])
    assert len(files) == 7
    assert {Path(name).name: reason for name, reason in skipped} == {
        "photo.heic": "unsupported file type", "missing": "no such file or folder"}
