"""Every format with a real file made by the test: the text that comes out and where its citations point."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.wiring import open_service
from ingest.audio import GroqTranscriber
from ingest.parser import FileParser
from ingest.sandbox import ReaderSandbox, shared_sandbox
from rag.embed import LocalEncoder
from rag.errors import ParseError
from rag.models import ParsedDocument, SourceFile
from tests.fakes.llm import FakeLLM
from tests.system import require


@pytest.fixture
def parser(embedder: LocalEncoder) -> FileParser:
    return FileParser(embedder.count_tokens, chunk_tokens=200, chunk_overlap=30, max_file_mb=20,
                      sandbox=shared_sandbox(memory_mb=2048, timeout_s=120))


def parse(parser: FileParser, path: Path) -> ParsedDocument:
    return parser.parse(SourceFile.local(path))


def where(parsed: ParsedDocument, needle: str) -> str | None:
    """The citation location of the chunk holding `needle`."""
    return next(c.location for c in parsed.chunks if needle in c.text)


def text_image(lines: list[str], size: tuple[int, int] = (1400, 400)) -> object:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * 70), line, fill="black", font=font)
    return image


# --- tables and structured text ----------------------------------------------------------------------------------

def test_csv_and_tsv_rows_keep_their_header(parser: FileParser, tmp_path: Path) -> None:
    rows = ["office,city,door code,wifi"] + [f"HQ-{i},City {i},{4700 + i},NET-{i}" for i in range(60)]
    (tmp_path / "offices.csv").write_text("\n".join(rows))
    parsed = parse(parser, tmp_path / "offices.csv")
    assert "office: HQ-42 · city: City 42 · door code: 4742 · wifi: NET-42" in "\n".join(c.text for c in parsed.chunks)
    location = where(parsed, "HQ-42 ")
    first, last = (int(n) for n in location.removeprefix("rows ").split("–"))
    assert first <= 44 <= last  # HQ-42 is on line 44 (line 1 is the header)

    (tmp_path / "people.tsv").write_text("name\trole\nAda\tOn-call lead\nLin\tRelease manager\n")
    parsed = parse(parser, tmp_path / "people.tsv")
    assert parsed.chunks[0].text == "name: Ada · role: On-call lead\nname: Lin · role: Release manager"
    assert parsed.chunks[0].location == "rows 2–3"


def test_xlsx_sheets_rows_and_header(parser: FileParser, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    budget = book.active
    budget.title = "Budget 2026"
    budget.append(["Team", "Quarter", "Amount (EUR)"])
    for quarter in range(1, 5):
        budget.append(["Platform", f"Q{quarter}", 120_000 + quarter * 1_000])
    budget.append(["Total", None, "=SUM(C2:C5)"])
    vendors = book.create_sheet("Vendors")
    vendors.append([None])
    vendors.append(["Vendor", "Contract ends"])
    vendors.append(["Acme Hosting", "2027-01-31"])
    book.save(tmp_path / "finance.xlsx")

    parsed = parse(parser, tmp_path / "finance.xlsx")
    text = "\n".join(c.text for c in parsed.chunks)
    assert "Team: Platform · Quarter: Q3 · Amount (EUR): 123000" in text
    assert where(parsed, "Q3") == "Budget 2026, rows 2–6"
    assert where(parsed, "Acme Hosting") == "Vendors, rows 3"
    assert "Vendor: Acme Hosting · Contract ends: 2027-01-31" in text


def test_json_and_jsonl_keep_key_paths(parser: FileParser, tmp_path: Path) -> None:
    config = {"service": "kestrel-api", "regions": [{"name": "eu-west-1", "replicas": 3}],
              "alerts": {"pager": {"escalate_after_minutes": 15}}}
    (tmp_path / "deploy.json").write_text(json.dumps(config))
    parsed = parse(parser, tmp_path / "deploy.json")
    assert where(parsed, "alerts.pager.escalate_after_minutes: 15") == "alerts"
    assert where(parsed, "regions[0].name: eu-west-1") == "regions"

    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps({"event": f"deploy {i}", "by": "ci"})
                                                     for i in range(3)))
    parsed = parse(parser, tmp_path / "events.jsonl")
    assert parsed.chunks[0].text.splitlines()[1] == "event: deploy 1 · by: ci"
    assert parsed.chunks[0].location == "lines 1–3"

    (tmp_path / "broken.json").write_text('{"a": 1,\n "b": }')
    with pytest.raises(ParseError, match=r"not valid JSON .* line 2"):
        parse(parser, tmp_path / "broken.json")


def test_code_is_split_along_functions_and_cited_by_lines(parser: FileParser, tmp_path: Path) -> None:
    functions = [f'''def handler_{i}(event):
    """Handle event type {i}: validate, enrich and forward it to queue-{i}."""
    payload = validate(event, schema="schema-{i}")
    payload["enriched_by"] = "worker-{i}"
    return forward(payload, queue="queue-{i}")
''' for i in range(30)]
    source = "import json\n\n\n" + "\n\n".join(functions)
    (tmp_path / "handlers.py").write_text(source)
    parsed = parse(parser, tmp_path / "handlers.py")
    assert len(parsed.chunks) > 1
    for chunk in parsed.chunks:  # no function is cut in two
        assert chunk.text.count("def handler_") == chunk.text.count("return forward(")
    location = where(parsed, "def handler_17(")
    first, last = (int(n) for n in location.removeprefix("lines ").split("–"))
    line = source.splitlines().index("def handler_17(event):") + 1
    assert first <= line <= last and source.splitlines()[first - 1].strip()

    (tmp_path / "values.yaml").write_text("".join(f"key{i}: value {i}\n" for i in range(400)))
    parsed = parse(parser, tmp_path / "values.yaml")  # no grammar used: split by lines
    assert parsed.chunks[0].location.startswith("lines 1–") and where(parsed, "key399:").endswith("–400")


# --- documents -----------------------------------------------------------------------------------------------------

def test_epub_chapters(parser: FileParser, tmp_path: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("handbook-1")
    book.set_title("Field handbook")
    chapters = []
    for number, (title, body) in enumerate([("Getting started", "Badge pickup is at the east entrance."),
                                            ("Safety", "Hard hats are required beyond the yellow line.")], 1):
        chapter = epub.EpubHtml(title=title, file_name=f"ch{number}.xhtml")
        chapter.content = f"<html><body><h1>{title}</h1><p>{body}</p></body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.spine = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(tmp_path / "handbook.epub"), book)
    parsed = parse(parser, tmp_path / "handbook.epub")
    assert where(parsed, "Hard hats are required") == "Safety"
    assert where(parsed, "Badge pickup") == "Getting started"


def test_odt_headings_and_rtf_text(parser: FileParser, tmp_path: Path) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Travel policy"))
    document.text.addElement(H(outlinelevel=2, text="Trains"))
    document.text.addElement(P(text="Book second class for trips under four hours."))
    document.save(str(tmp_path / "travel.odt"))
    parsed = parse(parser, tmp_path / "travel.odt")
    assert where(parsed, "second class") == "Travel policy › Trains"

    (tmp_path / "memo.rtf").write_bytes(rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard "
                                        rb"The caf\'e9 closes at {\b 3 pm} on Fridays.\par}")
    parsed = parse(parser, tmp_path / "memo.rtf")
    assert "The café closes at 3 pm on Fridays." in parsed.chunks[0].text
    (tmp_path / "fake.rtf").write_text("just text")
    with pytest.raises(ParseError, match="not an RTF file"):
        parse(parser, tmp_path / "fake.rtf")


# --- OCR -----------------------------------------------------------------------------------------------------------

def tesseract() -> None:
    require(shutil.which("tesseract"), "tesseract-ocr")


def test_image_by_ocr(parser: FileParser, tmp_path: Path) -> None:
    tesseract()
    text_image(["The loading dock opens at 6 am.", "Deliveries need a badge."]).save(tmp_path / "sign.png")
    parsed = parse(parser, tmp_path / "sign.png")
    assert "loading dock opens at 6 am" in parsed.chunks[0].text.lower()
    assert parsed.chunks[0].location == "OCR"


def test_scanned_pdf_pages_by_ocr_beside_text_pages(parser: FileParser, tmp_path: Path) -> None:
    tesseract()
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    scan = io.BytesIO()
    text_image(["Scanned memo: the archive room", "moves to floor 3 in May."]).save(scan, format="PNG")
    pdf = canvas.Canvas(str(tmp_path / "memos.pdf"))
    pdf.drawString(72, 720, "Typed memo: the canteen serves lunch from noon.")
    pdf.showPage()
    pdf.drawImage(ImageReader(io.BytesIO(scan.getvalue())), 36, 400, width=540, height=154)
    pdf.showPage()
    pdf.save()
    parsed = parse(parser, tmp_path / "memos.pdf")
    assert where(parsed, "canteen") == "p. 1"
    assert next(c.location for c in parsed.chunks if "archive room" in c.text.lower()) == "p. 2 (OCR)"


def test_without_tesseract_the_message_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            embedder: LocalEncoder) -> None:
    text_image(["Hello"]).save(tmp_path / "note.png")
    monkeypatch.setenv("PATH", str(tmp_path))  # the reader process starts without tesseract on its PATH
    sandbox = ReaderSandbox(memory_mb=2048, timeout_s=60)
    try:
        parser = FileParser(embedder.count_tokens, 200, 30, 20, sandbox)
        with pytest.raises(ParseError, match="apt-get install tesseract-ocr"):
            parse(parser, tmp_path / "note.png")
    finally:
        sandbox.close()


# --- archives ------------------------------------------------------------------------------------------------------

def test_zip_members_are_read_and_cited_by_their_path(parser: FileParser, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "onboarding.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("docs/setup.md", "# Setup\n\n## Laptop\n\nRequest a laptop through the IT portal.\n")
        archive.writestr("data/contacts.csv", "team,contact\nIT,it-help@example.com\n")
        archive.writestr("../../escape.txt", "Path traversal names are read, never written where they point.")
        archive.writestr("__MACOSX/._setup.md", "resource fork")
        archive.writestr("tool.exe", b"MZ")
    parsed = parse(parser, tmp_path / "onboarding.zip")
    assert where(parsed, "IT portal") == "docs/setup.md › Setup › Laptop"
    assert where(parsed, "it-help@example.com") == "data/contacts.csv › rows 2"
    assert where(parsed, "never written") == "../../escape.txt"
    assert not (tmp_path.parent / "escape.txt").exists()
    assert all("resource fork" not in c.text for c in parsed.chunks)


# --- audio ---------------------------------------------------------------------------------------------------------

def speech(path: Path, words: str) -> Path:
    require(shutil.which("espeak-ng"), "espeak-ng")
    subprocess.run(["espeak-ng", "-w", str(path), words], check=True, capture_output=True)
    return path


async def test_audio_is_transcribed_with_timestamps_through_the_groq_sdk(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, fake_llm: FakeLLM, tmp_path: Path) -> None:
    clip = speech(tmp_path / "standup.wav", "The quarterly review moves to Thursday at ten.")
    fake_llm.transcript = lambda audio, name: [
        {"start": 0.0, "end": 1.6, "text": " The quarterly review moves"},
        {"start": 1.6, "end": 3.1, "text": " to Thursday at ten."}]
    settings = make_settings(groq_api_key=fake_llm.api_key, groq_base_url=fake_llm.url, llm="extractive")
    service = await open_service(settings, embedder)
    try:
        report = await service.ingest([SourceFile.local(clip)], "acme")
        assert report.documents == 1, report.results
        answer = await service.ask("When is the quarterly review?", "acme")
        assert answer.sources[0].source == "standup.wav"
        assert answer.sources[0].location == "00:00:00–00:00:03"
        assert "quarterly review moves to Thursday at ten" in answer.sources[0].text
    finally:
        await service.close()
    sent = fake_llm.transcriptions[0]
    assert sent == {"model": "whisper-large-v3-turbo", "response_format": "verbose_json",
                    "granularities": ["segment"], "filename": "standup.wav", "bytes": clip.stat().st_size}


async def test_long_audio_is_cut_under_the_upload_limit_and_timestamps_shifted(fake_llm: FakeLLM,
                                                                               tmp_path: Path) -> None:
    import asyncio
    import wave

    sentence = "Item {} on the agenda is the budget for the new depot and the charging plan. "
    clip = speech(tmp_path / "meeting.wav", " ".join(sentence.format(i) for i in range(20)))
    with wave.open(str(clip)) as audio:
        duration = audio.getnframes() / audio.getframerate()
    limit_mb = clip.stat().st_size / 4 / 2**20  # forces 5 parts
    transcribe = GroqTranscriber(fake_llm.api_key, fake_llm.url, "whisper-large-v3-turbo", limit_mb, 30, 0)
    documents = await asyncio.to_thread(transcribe, clip, "meeting.wav")
    assert len(fake_llm.transcriptions) == 5
    assert all(t["bytes"] <= limit_mb * 2**20 for t in fake_llm.transcriptions)
    text = " ".join(d.text for d in documents)
    assert [f"Upload {n}." in text for n in range(1, 6)] == [True] * 5
    assert duration > 60 and len(documents) >= 2  # about a minute per citation
    assert documents[0].metadata["time"].startswith("00:00:00–")
    assert documents[-1].metadata["time"].endswith(f"{int(duration) // 60:02d}:{int(duration) % 60:02d}")


def test_audio_without_a_groq_key_says_so(parser: FileParser, tmp_path: Path) -> None:
    (tmp_path / "voice.ogg").write_bytes(b"OggS" + b"\0" * 100)
    with pytest.raises(ParseError, match="Set GROQ_API_KEY"):
        parse(parser, tmp_path / "voice.ogg")
