"""HTML → Markdown-ish text with headings, for web pages, HTML files and EPUB chapters."""

from __future__ import annotations

import re


def html_to_markdown(html: str) -> str:
    """The page's main content as Markdown-ish text: navigation, scripts and footers are dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "noscript", "form", "svg"]):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines = []
    for element in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "th", "blockquote"]):
        if element.find_parent(["p", "li", "pre", "td", "th", "blockquote"]) is not None:
            continue  # its text is part of an enclosing block already
        text = re.sub(r"\s+([.,;:!?)])", r"\1", element.get_text(" ", strip=True))  # "<b>x</b>." → "x."
        if not text:
            continue
        if element.name[0] == "h":
            lines.append(f"{'#' * int(element.name[1])} {text}")
        elif element.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(text)
        lines.append("")
    return "\n".join(lines)
