"""Ingestion throughput: end-to-end chunks/s vs the raw encoder's chunks/s on the same texts, in one run.

    python -m benchmarks.ingest [--docs-per-format 20] [--abstracts-per-doc 8] [--scifact DIR]
    python -m benchmarks.ingest --layout files [--files 600]   # one abstract per .txt file → ingest-files.json

The document set is real text: SciFact abstracts (title + text) written as Markdown, plain text, HTML, PDF
(reportlab), DOCX (python-docx) and PPTX (python-pptx, one abstract per slide) files, `--abstracts-per-doc`
abstracts each. `bitrag ingest`'s own code path (`RagService.ingest` into a fresh Milvus Lite database) ingests
them; the encoder alone embeds exactly the same chunk texts with the same batch size, once before and once after
the ingest (the mean is the reference, so drift of the machine's speed cancels out). The
ratio of the two is the target (≥ 0.90). `--layout files` writes one SciFact abstract per plain-text file instead
(1–3 chunks each, like a folder of notes): the case where embedding the chunks of several files in one forward pass
matters (`RagService.ingest`'s pipeline). Where the time went comes from the stage timings every ingested file
reports (read, split, embed, quantize, store), per format, with pages/s for the paged formats.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import SCIFACT, save
from bot.settings import get_settings
from bot.wiring import open_service
from rag.models import SourceFile
from rag.service import RagService

FORMATS = ("md", "txt", "html", "pdf", "docx", "pptx")


def abstracts(folder: Path, count: int) -> list[tuple[str, str]]:
    rows = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("title") and record.get("text"):
                rows.append((record["title"], record["text"]))
            if len(rows) == count:
                break
    return rows


def write_document(path: Path, title: str, sections: list[tuple[str, str]]) -> int:
    """Write one document; returns its page count (PDF pages, PPTX slides; 0 where pages are not defined)."""
    fmt = path.suffix[1:]
    if fmt == "md":
        path.write_text(f"# {title}\n\n" + "".join(f"## {h}\n\n{t}\n\n" for h, t in sections), encoding="utf-8")
    elif fmt == "txt":
        path.write_text(f"{title}\n\n" + "".join(f"{h}\n\n{t}\n\n" for h, t in sections), encoding="utf-8")
    elif fmt == "html":
        body = "".join(f"<h2>{html.escape(h)}</h2><p>{html.escape(t)}</p>" for h, t in sections)
        path.write_text(f"<html><head><title>{html.escape(title)}</title></head><body><nav><a href='/'>Home</a>"
                        f"</nav><main><h1>{html.escape(title)}</h1>{body}</main></body></html>", encoding="utf-8")
    elif fmt == "pdf":
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.platypus import Paragraph, SimpleDocTemplate

        styles = getSampleStyleSheet()
        story = [Paragraph(html.escape(title), styles["Title"])]
        for heading, text in sections:
            story += [Paragraph(html.escape(heading), styles["Heading2"]), Paragraph(html.escape(text),
                                                                                     styles["BodyText"])]
        pdf = SimpleDocTemplate(str(path))
        pdf.build(story)
        return pdf.page
    elif fmt == "docx":
        import docx

        document = docx.Document()
        document.add_heading(title, level=0)
        for heading, text in sections:
            document.add_heading(heading, level=1)
            document.add_paragraph(text)
        document.save(str(path))
    elif fmt == "pptx":
        from pptx import Presentation
        from pptx.util import Pt

        deck = Presentation()
        for heading, text in sections:
            slide = deck.slides.add_slide(deck.slide_layouts[1])
            slide.shapes.title.text = heading
            body = slide.placeholders[1].text_frame
            body.text = text
            for paragraph in body.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(10)
        deck.save(str(path))
        return len(sections)
    return 0


def build_corpus(folder: Path, scifact: Path, per_format: int, per_doc: int) -> tuple[list[Path], dict[str, int]]:
    texts = abstracts(scifact, len(FORMATS) * per_format * per_doc)
    paths, pages = [], {}
    for f, fmt in enumerate(FORMATS):
        for d in range(per_format):
            start = (f * per_format + d) * per_doc
            path = folder / f"{fmt}-{d:03d}.{fmt}"
            pages[path.name] = write_document(path, f"Collected abstracts {fmt} {d}", texts[start:start + per_doc])
            paths.append(path)
    return paths, pages


def one_file_each(folder: Path, scifact: Path, count: int) -> tuple[list[Path], dict[str, int]]:
    paths = []
    for i, (title, text) in enumerate(abstracts(scifact, count)):
        path = folder / f"abstract-{i:04d}.txt"
        path.write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        paths.append(path)
    return paths, {p.name: 0 for p in paths}


async def encode_all(service: RagService, texts: list[str]) -> float:
    """Seconds the encoder alone takes for `texts`, sent in the batches ingestion sends."""
    step = service.settings.embed_batch_size
    started = time.perf_counter()
    for start in range(0, len(texts), step):
        await service.embedder.embed(texts[start:start + step])
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bitrag-ingest-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        paths, pages = (build_corpus(folder, args.scifact, args.docs_per_format, args.abstracts_per_doc)
                        if args.layout == "mixed" else one_file_each(folder, args.scifact, args.files))
        settings = get_settings(milvus_uri=f"{tmp}/bench.db", registry_url=f"sqlite:///{tmp}/registry.sqlite3",
                                llm="extractive", **({"embed_runtime": args.runtime} if args.runtime else {}))
        service = await open_service(settings)
        try:
            await service.embedder.embed(["warm-up"] * settings.embed_batch_size)
            files = [SourceFile.local(p) for p in paths]
            texts = [c.embed_text for f in files for c in service.parser.parse(f).chunks]
            encoder_s = await encode_all(service, texts)
            started = time.perf_counter()
            report = await service.ingest(files, "bench")
            ingest_s = time.perf_counter() - started
            assert not report.failed, report.failed
            encoder_s = (encoder_s + await encode_all(service, texts)) / 2  # before and after: drift cancels
        finally:
            await service.close()
    by_format: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    totals: dict[str, float] = defaultdict(float)
    for result in report.results:
        fmt = Path(result.name).suffix[1:]
        row = by_format[fmt]
        row["files"] += 1
        row["chunks"] += result.chunks
        row["pages"] += pages[result.name]
        for stage, ms in result.timings_ms.items():
            row[f"{stage}_ms"] += ms
            totals[stage] += ms
    formats = {}
    for fmt, row in by_format.items():
        parse_s = (row["read_ms"] + row["split_ms"]) / 1000
        formats[fmt] = {"files": int(row["files"]), "chunks": int(row["chunks"]),
                        **{k: round(v, 1) for k, v in row.items() if k.endswith("_ms")},
                        "parse_chunks_per_s": round(row["chunks"] / parse_s, 1)}
        if row["pages"]:
            formats[fmt].update(pages=int(row["pages"]), parse_pages_per_s=round(row["pages"] / parse_s, 1))
    chunks = report.chunks
    accounted = sum(totals.values())
    return {"layout": args.layout, "documents": len(paths), "chunks": chunks, "model": service.embedder.encoder_id,
            "ingest_s": round(ingest_s, 2), "ingest_chunks_per_s": round(chunks / ingest_s, 1),
            "encoder_s": round(encoder_s, 2), "encoder_chunks_per_s": round(len(texts) / encoder_s, 1),
            "ratio_ingest_over_encoder": round((chunks / ingest_s) / (len(texts) / encoder_s), 3),
            "stage_share": {k: round(v / accounted, 3) for k, v in totals.items()},
            "stage_ms": {k: round(v, 1) for k, v in totals.items()}, "formats": formats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs-per-format", type=int, default=10)
    parser.add_argument("--abstracts-per-doc", type=int, default=8)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--layout", choices=["mixed", "files"], default="mixed")
    parser.add_argument("--files", type=int, default=600, help="abstracts (= files) with --layout files")
    parser.add_argument("--runtime", help="EMBED_RUNTIME for this run (default: the configured one)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    print(f"written to {save('ingest' if args.layout == 'mixed' else 'ingest-files', result)}")


if __name__ == "__main__":
    main()
