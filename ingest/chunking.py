"""Splitting documents into chunks the embedding model can read whole.

Sizes are counted in the embedding model's own tokens (all-MiniLM-L6-v2 reads 256 word pieces; the default
200-token chunks leave room for the heading context prepended for embedding). Markdown is first cut at headings
by llama-index's `MarkdownNodeParser`, so a chunk never spans two sections and its heading path becomes the
citation location; every section or page is then split by `SentenceSplitter`. Source code is split along its syntax
(`ingest.code`) and cited by line numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter

from ingest.code import CodeChunker
from rag.analyze import import_nltk
from rag.models import Chunk

HEADING_LINE = re.compile(r"^#{1,6}\s+(.*)$")
# `SentenceSplitter` tokenizes its whole input before splitting: one 50 MB line took 4 minutes and 6.8 GB. Text is
# therefore cut into blocks of at most this many characters (at paragraph breaks, else at whitespace) first.
BLOCK_CHARS = 16_000


class Chunker:
    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, overlap: int) -> None:
        self._splitter = SentenceSplitter(chunk_size=chunk_tokens, chunk_overlap=min(overlap, chunk_tokens // 2),
                                          tokenizer=lambda text: range(count_tokens(text)))
        self._markdown = MarkdownNodeParser()
        self._code = CodeChunker(count_tokens, chunk_tokens)

    def split(self, documents: list[Document], title: str) -> list[Chunk]:
        import_nltk()  # the splitter's tokenizer imports nltk: never at the same time as another thread
        """Each document says how it is split in its `split` metadata (`ingest.formats.split_mode`)."""
        chunks: list[Chunk] = []
        for document in documents:
            mode = str(document.metadata.get("split", "text"))
            meta = {k: v for k, v in document.metadata.items() if k != "split"}
            if mode.startswith("code:"):
                for piece, lines in self._code.split(document.text, mode.removeprefix("code:")):
                    chunks.append(self._chunk(piece, title, "", dict(meta, lines=lines)))
                continue
            for text, heading, section_meta in self._sections(document.text, meta, mode == "markdown"):
                for piece in (p for block in blocks(text) for p in self._splitter.split_text(block)):
                    if piece.strip():
                        chunks.append(self._chunk(piece, title, heading, section_meta))
        return chunks

    @staticmethod
    def _chunk(piece: str, title: str, heading: str, meta: dict) -> Chunk:
        context = " › ".join(part for part in (title, meta.get("member"), heading) if part)
        return Chunk(text=piece.strip(), embed_text=f"{context}\n{piece.strip()}", location=_location(heading, meta),
                     meta=dict(meta, **({"heading": heading} if heading else {})))

    def _sections(self, text: str, meta: dict, markdown: bool) -> list[tuple[str, str, dict]]:
        document = Document(text=text, metadata=meta)
        if not markdown:
            return [(document.text, str(meta.get("title") or ""), meta)]
        sections = []
        for node in self._markdown.get_nodes_from_documents([document]):
            parents = [p for p in node.metadata.get("header_path", "/").split("/") if p]
            first_line, _, body = node.text.partition("\n")
            own = HEADING_LINE.match(first_line)
            heading = " › ".join([*parents, own.group(1).strip()] if own else parents)
            sections.append((body if own else node.text, heading, meta))
        return sections


def blocks(text: str, limit: int = BLOCK_CHARS) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at the last paragraph break, else whitespace, else hard."""
    pieces, start = [], 0
    while len(text) - start > limit:
        end = start + limit
        cut = text.rfind("\n\n", start, end)
        if cut < start + limit // 2:
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
        if cut < start + limit // 2:
            cut = end
        pieces.append(text[start:cut])
        start = cut
    return [*pieces, text[start:]]


def _location(heading: str, meta: dict) -> str | None:
    """The place a citation points at: "p. 3", "slide 2 (Roadmap)", "Sheet1, rows 2–9", "00:01:05–00:01:40",
    "lines 10–42", a heading path or chapter; inside a ZIP, prefixed with the member's path."""
    ocr = " (OCR)" if meta.get("ocr") else ""
    if "page" in meta:
        place: str | None = f"p. {meta['page']}{ocr}"
    elif "slide" in meta:
        title = meta.get("title")
        place = f"slide {meta['slide']}" + (f" ({title})" if title else "")
    elif "rows" in meta:
        place = (f"{meta['sheet']}, " if meta.get("sheet") else "") + f"rows {meta['rows']}"
    elif "time" in meta:
        place = str(meta["time"])
    elif "lines" in meta:
        place = f"lines {meta['lines']}"
    elif "key" in meta:
        place = str(meta["key"])
    else:
        place = heading or meta.get("chapter") or (ocr.strip(" ()") or None)
    return " › ".join(str(part) for part in (meta.get("member"), place) if part) or None
