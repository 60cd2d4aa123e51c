"""Discord messages for bot-core views: Markdown as Discord renders it, at most 2,000 characters per message,
code blocks never cut open, links wrapped in <…> so they do not unfurl."""

from __future__ import annotations

import re

from bot.streaming import split_markdown
from bot.views import AnswerView, View, listing

LIMIT = 2000
MARKDOWN = re.compile(r"([\\`*_~|\[\]<>])")  # what formats or links mid-line (labels never start a line)


def plain(text: str) -> str:
    """A label (already inert: no links, no mentions) with Discord's Markdown characters escaped."""
    return MARKDOWN.sub(r"\\\1", text)


def sources_block(view: AnswerView) -> str:
    lines = [f"**{view.sources_title}**"]
    for s in view.sources:
        name = f"[{plain(s.name)}](<{s.link}>)" if s.link else plain(s.name)
        where = f" · {plain(s.location)}" if s.location else ""
        lines.append(f"[{s.n}] {name}{where} · {s.score:.2f}")
    return "\n".join(lines)


def answer_pages(view: AnswerView) -> list[str]:
    """The answer body, then notice, sources and footer, packed into messages of at most 2,000 characters."""
    tail = []
    if view.notice:
        tail.append(f"⚠️ {view.notice}")
    if view.sources:
        tail.append(sources_block(view))
    tail.append(f"-# {view.mode} · {view.timing_line}")
    return split_markdown(view.body + "\n\n" + "\n\n".join(tail), LIMIT)


def streaming_text(partial: str) -> str:
    return (partial[-(LIMIT - 10):] if len(partial) > LIMIT - 10 else partial) + " …"


def view_text(view: View) -> str:
    if isinstance(view, AnswerView):
        return answer_pages(view)[0]
    shown = listing(view)
    title = ("⚠️ " if shown.error else "") + (f"**{shown.title}**" if shown.items else shown.title)
    return split_markdown("\n".join([*([title] if shown.title else []), *map(plain, shown.items)]), LIMIT)[0]
