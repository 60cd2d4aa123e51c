"""Rendering views in a terminal with rich (the CLI and the REPL adapter)."""

from __future__ import annotations

import datetime as dt

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from bot.views import (
    AnswerView,
    AuditView,
    DocumentsView,
    ForgottenView,
    IngestView,
    InsightsView,
    MessageView,
    SharedView,
    StatsView,
    View,
    origin_line,
)

STATUS_STYLE = {"added": "green", "replaced": "green", "unchanged": "dim", "skipped": "yellow", "failed": "red"}


def sources_table(view: AnswerView) -> Table:
    table = Table(title=view.sources_title, title_justify="left", box=None,
                  show_header=False, pad_edge=False)
    for line in view.sources:
        table.add_row(f"[{line.n}]", line.name, line.location or "", f"{line.score:.2f}")
    return table


def render(view: View) -> RenderableType:
    if isinstance(view, AnswerView):
        parts: list[RenderableType] = [Markdown(view.body)]
        if view.notice:
            parts.append(Text(view.notice, style="yellow"))
        if view.sources:
            parts += [Text(""), sources_table(view)]
        parts.append(Text(f"{view.mode} · {view.timing_line}", style="dim"))
        return Group(*parts)
    if isinstance(view, MessageView):
        return Text(view.text, style="red" if view.level == "error" else "")
    if isinstance(view, IngestView):
        table = Table(box=None, show_header=False, pad_edge=False)
        for r in view.report.results:
            table.add_row(Text(r.status, style=STATUS_STYLE[r.status]), r.name, r.detail)
        for name, reason in view.skipped:
            table.add_row(Text("skipped", style="yellow"), name, reason)
        return Group(table, Text(view.summary, style="bold"))
    if isinstance(view, DocumentsView):
        if not view.documents:
            return Text("No documents yet: add some with `bitrag ingest PATH`.")
        table = Table("document", "id", "chunks", "added", "audience", "origin", box=None, pad_edge=False)
        for d in view.documents:
            added = dt.datetime.fromtimestamp(d.created_at).strftime("%Y-%m-%d %H:%M")
            table.add_row(d.source, d.doc_id[:12], str(d.chunks), added, d.audience, origin_line(d))
        return table
    if isinstance(view, ForgottenView | SharedView):
        return Text(view.text)
    if isinstance(view, InsightsView):
        parts = []
        for title, lines in view.sections():
            parts += [Text(title, style="bold"), *(Text(f"  {line}") for line in lines)]
        return Group(*parts)
    if isinstance(view, AuditView):
        return Text("\n".join(view.lines()))
    if isinstance(view, StatsView):
        table = Table(box=None, show_header=False, pad_edge=False)
        for label, value in view.lines:
            table.add_row(Text(label, style="dim"), value)
        return table
    raise TypeError(f"no renderer for {type(view).__name__}")


def print_view(console: Console, view: View) -> None:
    console.print(render(view))
