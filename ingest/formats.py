"""Which file types bitrag reads, by extension, and how each is chunked."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Kind = Literal["markdown", "text", "code", "pdf", "docx", "pptx", "html"]

EXTENSIONS: dict[str, Kind] = {
    **dict.fromkeys([".md", ".markdown", ".mdx"], "markdown"),
    **dict.fromkeys([".txt", ".text", ".log", ".rst", ".csv", ".tsv"], "text"),
    **dict.fromkeys([".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt", ".c", ".h", ".cc",
                     ".cpp", ".hpp", ".cs", ".rb", ".php", ".sh", ".bash", ".sql", ".yaml", ".yml", ".toml", ".json",
                     ".ini", ".cfg", ".swift", ".scala", ".r", ".lua", ".tf", ".proto"], "code"),
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    **dict.fromkeys([".html", ".htm", ".xhtml"], "html"),
}
SPECIAL_NAMES: dict[str, Kind] = {"Dockerfile": "code", "Makefile": "code", "README": "text", "LICENSE": "text"}


def kind_of(path: Path) -> Kind | None:
    return EXTENSIONS.get(path.suffix.lower()) or SPECIAL_NAMES.get(path.name)


def supported_list() -> str:
    return "Markdown, text, PDF, DOCX, PPTX, HTML and source code (" + ", ".join(sorted(EXTENSIONS)) + ")"
