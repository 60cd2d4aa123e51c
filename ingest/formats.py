"""Which file types bitrag reads, by extension, and how each is chunked."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Kind = Literal["markdown", "text", "code", "pdf", "docx", "pptx", "html", "table", "xlsx", "json", "jsonl", "epub",
               "odt", "rtf", "image", "audio", "zip"]

# Source code by extension → its tree-sitter grammar (language-aware splitting); other code is split by lines.
LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".jsx": "javascript", ".ts": "typescript",
    ".tsx": "tsx", ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".sh": "bash",
    ".bash": "bash", ".swift": "swift", ".scala": "scala", ".lua": "lua", ".sql": "sql",
}
AUDIO = (".mp3", ".wav", ".m4a", ".ogg", ".oga", ".opus", ".webm", ".flac", ".mp4", ".mpeg", ".mpga")
IMAGES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")

EXTENSIONS: dict[str, Kind] = {
    **dict.fromkeys([".md", ".markdown", ".mdx"], "markdown"),
    **dict.fromkeys([".txt", ".text", ".log", ".rst"], "text"),
    **dict.fromkeys([*LANGUAGES, ".yaml", ".yml", ".toml", ".ini", ".cfg", ".r", ".tf", ".proto"], "code"),
    **dict.fromkeys([".csv", ".tsv"], "table"),
    ".xlsx": "xlsx",
    ".json": "json",
    **dict.fromkeys([".jsonl", ".ndjson"], "jsonl"),
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    **dict.fromkeys([".html", ".htm", ".xhtml"], "html"),
    ".epub": "epub",
    ".odt": "odt",
    ".rtf": "rtf",
    **dict.fromkeys(IMAGES, "image"),
    **dict.fromkeys(AUDIO, "audio"),
    ".zip": "zip",
}
SPECIAL_NAMES: dict[str, Kind] = {"Dockerfile": "code", "Makefile": "code", "README": "text", "LICENSE": "text"}
MARKDOWN_LIKE = {"markdown", "docx", "html", "epub", "odt"}


def kind_of(path: Path) -> Kind | None:
    return EXTENSIONS.get(path.suffix.lower()) or SPECIAL_NAMES.get(path.name)


def split_mode(kind: str, name: str) -> str:
    """How the chunker cuts a document of this kind: at Markdown headings, along code structure, or by sentences."""
    if kind in MARKDOWN_LIKE:
        return "markdown"
    if kind == "code":
        return f"code:{LANGUAGES.get(Path(name).suffix.lower(), '')}"
    return "text"


def supported_list() -> str:
    return ("Markdown, text, PDF, DOCX, PPTX, XLSX, CSV/TSV, JSON, HTML, EPUB, ODT, RTF, source code, images (OCR), "
            "audio (transcribed) and ZIP archives of these (" + ", ".join(sorted(EXTENSIONS)) + ")")
