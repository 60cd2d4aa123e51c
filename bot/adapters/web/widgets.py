"""Streamlit rendering of the bot core's views: answers with numbered citations, ingest reports, messages."""

from __future__ import annotations

import re

import streamlit as st

from bot.views import AnswerView, IngestView, MessageView, StatsView, View

STATUS_ICON = {"added": "✅", "replaced": "🔄", "unchanged": "⏸️", "skipped": "⚠️", "failed": "❌"}


def plain(text: str) -> str:
    """Text shown inside Markdown (file names, locations) without being read as Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", text)


def show_answer(view: AnswerView) -> None:
    st.markdown(view.body)
    if view.notice:
        st.warning(view.notice)
    if view.sources:
        st.markdown(f"**{view.sources_title}**")
    for line in view.sources:
        where = f" · {plain(line.location)}" if line.location else ""
        with st.expander(f"[{line.n}] {plain(line.name)}{where} · similarity {line.score:.2f}"):
            if line.link:
                st.markdown(f"[Open the original]({line.link})")
            st.text(line.excerpt)
    st.caption(f"{view.mode} · {view.timing_line}")


def show_ingest(view: IngestView) -> None:
    for result in view.report.results:
        line = f"{STATUS_ICON[result.status]} **{plain(result.name)}** — {result.status}: {result.detail}"
        (st.error if result.status == "failed" else st.markdown)(line)
    (st.success if view.report.documents else st.info)(view.summary)


def show_stats(view: StatsView) -> None:
    for label, value in view.lines:
        st.markdown(f"**{label}**  \n{plain(value)}")


def show(view: View) -> None:
    """Any view; errors in red with the text the core wrote for the user."""
    if isinstance(view, AnswerView):
        show_answer(view)
    elif isinstance(view, IngestView):
        show_ingest(view)
    elif isinstance(view, StatsView):
        show_stats(view)
    elif isinstance(view, MessageView):
        (st.error if view.level == "error" else st.info)(view.text)
    else:
        raise TypeError(f"no web renderer for {type(view).__name__}")
