"""Splitting documents into chunks the embedding model can read whole.

Sizes are counted in the embedding model's own tokens (all-MiniLM-L6-v2 reads 256 word pieces; the default
200-token chunks leave room for the heading context prepended for embedding). Markdown is first cut at headings
by llama-index's `MarkdownNodeParser`, so a chunk never spans two sections and its heading path becomes the
citation location; every section or page is then split by `SentenceSplitter`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter

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

    def split(self, documents: list[Document], title: str, markdown: bool) -> list[Chunk]:
        chunks: list[Chunk] = []
        for document in documents:
            for text, heading, meta in self._sections(document, markdown):
                location = _location(heading, meta)
                context = " › ".join(part for part in (title, heading) if part)
                for piece in (p for block in blocks(text) for p in self._splitter.split_text(block)):
                    if piece.strip():
                        chunks.append(Chunk(text=piece.strip(), embed_text=f"{context}\n{piece.strip()}",
                                            location=location, meta=dict(meta, **({"heading": heading} if heading
                                                                                  else {}))))
        return chunks

    def _sections(self, document: Document, markdown: bool) -> list[tuple[str, str, dict]]:
        meta = dict(document.metadata)
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
    if "page" in meta:
        return f"p. {meta['page']}"
    if "slide" in meta:
        title = meta.get("title")
        return f"slide {meta['slide']}" + (f" ({title})" if title else "")
    return heading or None
