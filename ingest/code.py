"""Source code split along its syntax, cited by line numbers.

llama-index's `CodeSplitter` cuts at syntax-tree boundaries (functions, classes) with tree-sitter grammars from
`tree-sitter-language-pack`; a language without a grammar, or a file the grammar cannot parse, is split by lines
instead. Either way no chunk exceeds the model's token budget, and each knows the lines it came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class CodeChunker:
    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int) -> None:
        self._count_tokens = count_tokens
        self._chunk_tokens = chunk_tokens
        self._splitters: dict[str, Any] = {}

    def split(self, text: str, language: str) -> list[tuple[str, str]]:
        """(piece, "first–last" line numbers) for every non-blank piece of `text`."""
        pieces = self._by_syntax(text, language) if language else None
        fitted = [small for piece in (pieces or [text]) for small in self._by_lines(piece)]
        return _with_lines(text, fitted)

    def _by_syntax(self, text: str, language: str) -> list[str] | None:
        splitter = self._splitter(language)
        if splitter is None:
            return None
        try:
            return splitter.split_text(text)
        except ValueError:  # the grammar could not parse this file
            return None

    def _splitter(self, language: str) -> Any:
        """`CodeSplitter` counting the embedding model's own tokens; None without a grammar for `language`."""
        if language not in self._splitters:
            try:
                from llama_index.core.node_parser import CodeSplitter

                by_lines = self._by_lines

                class Splitter(CodeSplitter):
                    def _split_oversized_leaf(self, text: str, max_size: int) -> list[str]:
                        """A string or comment over the budget: CodeSplitter's own token mode re-tokenizes it once
                        per character (minutes for a long docstring); whole lines do the same job."""
                        return by_lines(text)

                self._splitters[language] = Splitter(
                    language=language, count_mode="token", max_tokens=self._chunk_tokens,
                    tokenizer=lambda piece: range(self._count_tokens(piece)))
            except Exception as exc:  # no tree-sitter, or no grammar for this language
                log.info("No syntax-aware splitting for %s (%s); splitting by lines", language, exc)
                self._splitters[language] = None
        return self._splitters[language]

    def _by_lines(self, text: str) -> list[str]:
        """`text` if it fits the token budget, else runs of whole lines that do (a huge line is cut hard)."""
        if self._count_tokens(text) <= self._chunk_tokens:
            return [text] if text.strip() else []
        pieces, current, tokens = [], [], 0
        for line in text.splitlines(keepends=True):
            size = self._count_tokens(line)
            if size > self._chunk_tokens:  # minified code: one line over budget
                pieces += ["".join(current)] if current else []
                step = max(1, len(line) * self._chunk_tokens // size)
                pieces += [line[i:i + step] for i in range(0, len(line), step)]
                current, tokens = [], 0
                continue
            if current and tokens + size > self._chunk_tokens:
                pieces.append("".join(current))
                current, tokens = [], 0
            current.append(line)
            tokens += size
        if current:
            pieces.append("".join(current))
        return [p for p in pieces if p.strip()]


def _with_lines(text: str, pieces: list[str]) -> list[tuple[str, str]]:
    """Each piece with the line range it occupies in `text`, found in order."""
    located, cursor = [], 0
    for piece in pieces:
        stripped = piece.strip()
        start = text.find(stripped, cursor)
        if start < 0:
            start = max(0, text.find(stripped))
        first = text.count("\n", 0, start) + 1
        last = first + stripped.count("\n")
        located.append((stripped, f"{first}–{last}" if last != first else str(first)))
        cursor = start + len(stripped)
    return located
