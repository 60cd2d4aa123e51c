"""Readers and chunking on real files: text kept, boilerplate dropped, citation locations right."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.parser import FileParser
from ingest.sandbox import shared_sandbox
from rag.errors import ParseError
from rag.models import SourceFile
from tests.conftest import SAMPLE_DOCS


@pytest.fixture
def parser(embedder) -> FileParser:
    return FileParser(embedder.count_tokens, chunk_tokens=200, chunk_overlap=30, max_file_mb=5,
                      sandbox=shared_sandbox(memory_mb=2048, timeout_s=60))


def test_html_keeps_main_content_and_headings_and_drops_navigation(parser: FileParser, tmp_path: Path) -> None:
    page = tmp_path / "kestrel-faq.html"
    page.write_text("""<html><head><title>FAQ</title><style>body{color:red}</style></head><body>
        <nav><a href="/">Home</a> <a href="/pricing">Pricing menu link</a></nav>
        <header>Site header banner</header>
        <main><h1>Kestrel FAQ</h1><h2>Charging</h2><p>Vans charge to 80% in <b>35 minutes</b>.</p>
        <ul><li>Depot chargers: 150 kW</li></ul><script>trackVisitor()</script></main>
        <footer>Copyright footer</footer></body></html>""")
    parsed = parser.parse(SourceFile.local(page))
    text = "\n".join(c.text for c in parsed.chunks)
    assert "Vans charge to 80% in 35 minutes." in text and "Depot chargers: 150 kW" in text
    for noise in ("Pricing menu link", "Site header banner", "Copyright footer", "trackVisitor", "color:red"):
        assert noise not in text
    assert parsed.chunks[0].location == "Kestrel FAQ › Charging"
    assert parsed.chunks[0].embed_text.startswith("kestrel faq › Kestrel FAQ › Charging\n")


def test_long_markdown_sections_are_split_within_the_models_window(parser: FileParser, embedder,
                                                                   tmp_path: Path) -> None:
    doc = tmp_path / "long.md"
    doc.write_text("# Guide\n\n## Install\n\n" + " ".join(f"Step {i} installs part {i}." for i in range(300)))
    chunks = parser.parse(SourceFile.local(doc)).chunks
    assert len(chunks) > 3 and all(c.location == "Guide › Install" for c in chunks)
    assert all(embedder.count_tokens(c.embed_text) <= embedder.max_tokens for c in chunks)


def test_docx_headings_and_pptx_slides_become_locations(parser: FileParser) -> None:
    docx = parser.parse(SourceFile.local(SAMPLE_DOCS / "postmortem-telemetry-outage.docx")).chunks
    assert {c.location for c in docx} >= {"Postmortem: Kestrel telemetry outage, 12 March 2026 › Root cause"}
    pptx = parser.parse(SourceFile.local(SAMPLE_DOCS / "roadmap-q3-2026.pptx")).chunks
    assert [c.location for c in pptx][:2] == ["slide 1 (Kestrel roadmap — Q3 2026)", "slide 2 (Kestrel v2 launch)"]


def test_check_refuses_by_name_and_size_alone(parser: FileParser) -> None:
    assert parser.check("report.PDF", 10) == "pdf"
    with pytest.raises(ParseError, match="not supported"):
        parser.check("design.sketch", 10)
    with pytest.raises(ParseError, match="MAX_FILE_MB"):
        parser.check("big.md", 6 * 1024 * 1024)
