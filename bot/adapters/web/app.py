"""bitrag's web UI, for people who are not in Slack or Discord: ask with streamed, cited answers; add and forget
documents; see what the 1-bit index holds. A Streamlit script over the same bot core as the chat adapters.

Started by `bitrag run` / `bitrag web` (or `streamlit run bot/adapters/web/app.py`). The page script runs again on
every interaction; what must survive lives in `st.session_state` (the conversation) or in the process-wide
`WebRuntime` (the bot core).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from bot.adapters.web.runtime import WebRuntime, get_runtime
from bot.adapters.web.signin import signed_in_conversation
from bot.adapters.web.widgets import plain, show
from bot.core import Conversation
from bot.jobs import ingest_upload
from bot.safety import inert
from bot.terms import FileResult, NotAllowedError, Progress, SourceFile, Turn, last_turns, safe_name
from bot.views import AnswerView, DocumentsView, ForgottenView, InsightsView, MessageView, View

PAGES = ("Ask", "Documents", "Insights")


def session_user() -> str:
    """Who asks without sign-in, for rate limits: the browser session."""
    ctx = get_script_run_ctx()
    return f"web:{ctx.session_id}" if ctx else "web"


class Exchange:
    """A question and, once the core has worked it out, its answer. Filled on the core's loop, so an answer being
    written survives the page switching away (Streamlit stops the page script; the loop's task goes on)."""

    def __init__(self, question: str) -> None:
        self.question = question
        self.view: View | None = None


def ask_page(runtime: WebRuntime, conversation: Conversation) -> None:
    chats: dict[str, list[Exchange]] = st.session_state.setdefault("chats", {})
    chat = chats.setdefault(conversation.tenant, [])
    st.header("Ask")
    if not chat:
        st.caption(f"Questions are answered from the documents of the knowledge base “{conversation.tenant}”, "
                   "with numbered citations.")
    for exchange in chat:
        with st.chat_message("user"):
            st.markdown(exchange.question)
        with st.chat_message("assistant"):
            if exchange.view is None:
                waiting_for(exchange)
            else:
                show(exchange.view)
    if chat and st.button("New conversation"):
        chat.clear()
        st.rerun()

    question = st.chat_input("Ask a question about your documents")
    if not question or not question.strip():
        return
    history = last_turns([turn for e in chat if isinstance(e.view, AnswerView)
                          for turn in (Turn("user", e.question), Turn("assistant", e.view.body))],
                         runtime.settings.history_turns)
    exchange = Exchange(question)
    chat.append(exchange)  # kept at once: switching pages while it is answered loses neither question nor answer

    async def answering() -> AsyncIterator[str | View]:
        async for item in runtime.core.ask_stream(conversation, question, history):
            if not isinstance(item, str):
                exchange.view = item
                if isinstance(item, AnswerView) and runtime.core.feedback is not None:
                    await runtime.core.feedback.record(item, conversation)  # counted by Insights
            yield item

    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        writing = st.empty()
        writing.markdown("_Searching the documents…_")
        for item in runtime.iterate(answering()):
            if isinstance(item, str):
                writing.markdown(item + " ▌")
        writing.empty()
        if exchange.view is None:
            exchange.view = MessageView("No answer was produced; please try again.", "error")
        show(exchange.view)


@st.fragment(run_every=1)
def waiting_for(exchange: Exchange) -> None:
    """An answer still being worked out (the page was left meanwhile): checked every second, shown when ready."""
    if exchange.view is not None:
        st.rerun()
    st.markdown("_Still working on this answer…_")


def with_progress_bar(runtime: WebRuntime, count: int, work: Callable[[Progress], Awaitable[View]]) -> View:
    """Run an ingestion on the core's loop while a progress bar follows its chunks, file by file."""
    bar = st.progress(0.0, text=f"Reading {count} file(s)…")
    order: dict[str, int] = {}

    def progress(name: str, done: int, total: int) -> None:
        index = order.setdefault(name, len(order))
        share = (index + (done / total if total else 1)) / max(count, 1)
        bar.progress(min(share, 1.0), text=f"{name}: {done}/{total} chunks embedded")

    view = runtime.call_with_progress(work, progress)
    bar.progress(1.0, text="Done")
    return view


def ingest_uploads(runtime: WebRuntime, conversation: Conversation, uploads: list) -> View:
    """The browser's files as one durable upload job (like a chat upload): recorded, written into the job's folder,
    ingested for the signed-in person with the same replace rule as chat, then dropped."""
    contents = [(safe_name(upload.name), bytes(upload.getbuffer())) for upload in uploads]

    async def fetch(folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
        files = []
        for name, data in contents:
            (folder / name).write_bytes(data)
            files.append(SourceFile(path=folder / name, name=name, key=f"web:{name}"))
        return files, []

    return with_progress_bar(runtime, len(contents), lambda report: ingest_upload(
        runtime.core, runtime.jobs, conversation, [name for name, _ in contents], {"surface": "web"}, fetch, report))


def forget(runtime: WebRuntime, conversation: Conversation, doc_id: str) -> None:
    """Button callback: runs before the page is drawn again, so the list no longer shows the document."""
    view = runtime.call(runtime.core.forget(conversation, doc_id))
    if isinstance(view, ForgottenView):
        view = MessageView(view.text)
    st.session_state["documents_notice"] = view


def documents_page(runtime: WebRuntime, conversation: Conversation) -> None:
    st.header("Documents")
    round_key = st.session_state.setdefault("upload_round", 0)
    uploads = st.file_uploader(f"Add files to “{conversation.tenant}”", accept_multiple_files=True,
                               key=f"uploads-{round_key}",
                               help="Markdown, text, PDF, DOCX, PPTX, HTML, code… A file uploaded again under the "
                                    "same name replaces its earlier version.")
    if uploads and st.button(f"Ingest {len(uploads)} file(s)", type="primary"):
        st.session_state["documents_notice"] = ingest_uploads(runtime, conversation, uploads)
        st.session_state["upload_round"] = round_key + 1  # a new, empty uploader…
        st.rerun()  # …drawn now, with the result, instead of the files just ingested
    url = st.text_input("…or a web page or document by its URL", key=f"url-{round_key}",
                        placeholder="https://example.com/handbook")
    if url.strip() and st.button("Fetch and ingest"):
        st.session_state["documents_notice"] = with_progress_bar(
            runtime, 1, lambda report: runtime.core.ingest_paths(conversation, [url.strip()], report))
        st.session_state["upload_round"] = round_key + 1
        st.rerun()
    if notice := st.session_state.pop("documents_notice", None):
        show(notice)

    view = runtime.call(runtime.core.sources(conversation))
    if not isinstance(view, DocumentsView):
        show(view)
        return
    if not view.documents:
        st.info("No documents yet: add some above.")
        return
    for document in view.documents:
        name, chunks, added, button = st.columns([5, 1, 2, 1], vertical_alignment="center")
        label = plain(document.source)
        name.markdown(f"[{label}]({document.link})" if document.link else f"**{label}**",
                      help=f"id {document.doc_id}")
        chunks.markdown(f"{document.chunks} chunks")
        added.markdown(dt.datetime.fromtimestamp(document.created_at).strftime("%Y-%m-%d %H:%M"))
        button.button("Forget", key=f"forget-{document.doc_id}", on_click=forget,
                      args=(runtime, conversation, document.doc_id))


def insights_page(runtime: WebRuntime, conversation: Conversation) -> None:
    """Admins only: what to document next, from the answers this knowledge base gave."""
    st.header("Insights")
    view = runtime.call(runtime.core.insights(conversation, conversation.space or conversation.tenant))
    if not isinstance(view, InsightsView):
        show(view)
        return
    for title, lines in view.sections():
        st.subheader(title)
        st.text("\n".join(f"• {line}" for line in lines))  # plain text: nothing in a question or answer renders
    gaps = view.insights.gaps
    if gaps:
        st.subheader("Answer them")
        st.caption("Your answer is saved as a document where the question was asked, so the next asker there gets "
                   "it.")
    for gap in gaps:
        with st.form(f"gap-{gap.answer_id}"):
            st.text(f"{inert(gap.question)} ×{gap.count} ({gap.why})")
            text = st.text_area("Answer", key=f"gap-text-{gap.answer_id}")
            if st.form_submit_button("Save as knowledge"):
                show(runtime.call(runtime.core.close_gap(conversation, gap.answer_id, text)))


def signed_in(runtime: WebRuntime) -> Conversation | None:
    """The signed-in person's conversation; None without sign-in (WEB_AUTH=none: the operator's console, which
    only listens on loopback). Signed out, the page shows the sign-in button and nothing else."""
    settings = runtime.settings
    if settings.web_auth == "none":
        return None
    if not st.user.is_logged_in:
        st.title("bitrag")
        st.write("Sign in to ask questions about your team's documents.")
        st.button("Sign in with Slack" if settings.web_auth == "slack" else "Sign in", type="primary",
                  on_click=st.login)
        st.stop()
    try:
        return signed_in_conversation(settings, st.user.to_dict(), runtime.slack_person)
    except NotAllowedError as exc:
        st.error(str(exc))
        st.button("Sign out", on_click=st.logout)
        st.stop()
    raise AssertionError("unreachable")


def sidebar(runtime: WebRuntime, person: Conversation | None) -> tuple[str, Conversation, Callable[[], None]]:
    settings = runtime.settings
    with st.sidebar:
        st.title("bitrag")
        st.caption("Answers from your team's documents, with citations, on a 1-bit vector index.")
        page = st.radio("Page", PAGES if person is None or person.admin else PAGES[:2], key="page")
        if person is None or person.admin:  # the operator, or an admin: may choose the knowledge base
            tenant = st.text_input("Knowledge base", value=person.tenant if person else settings.default_tenant,
                                   key="tenant", help="Each knowledge base (tenant) has its own documents; "
                                                      "questions only see theirs.")
        if person is not None:
            st.caption(f"Signed in as {person.user}")
            st.button("Sign out", on_click=st.logout)
        st.divider()
        stats_box = st.container()
    if person is None:
        # Without sign-in the page is the operator's console (loopback only) and may change any document of the
        # knowledge base it names, as the CLI may.
        conversation = Conversation((tenant or "").strip() or settings.default_tenant, user=session_user(),
                                    platform="web", admin=True)
    elif person.admin and (tenant or "").strip() and tenant.strip() != person.tenant:
        conversation = Conversation(tenant.strip(), user=person.user, platform=person.platform, admin=True,
                                    space=tenant.strip())
    else:
        conversation = person  # the knowledge base is never a free text field for a signed-in member

    def draw_stats() -> None:  # last, so that it counts what this run ingested or forgot
        with stats_box:
            st.subheader("Index")
            show(runtime.call(runtime.core.stats(conversation)))

    return page, conversation, draw_stats


def main() -> None:
    st.set_page_config(page_title="bitrag", page_icon="🔎", layout="wide")
    runtime = get_runtime()
    page, conversation, draw_stats = sidebar(runtime, signed_in(runtime))
    if page == "Documents":
        documents_page(runtime, conversation)
    elif page == "Insights":
        insights_page(runtime, conversation)
    else:
        ask_page(runtime, conversation)
    draw_stats()


# Streamlit runs this script as `__main__` and leaves it installed as sys.modules["__main__"] afterwards, so a reader
# process spawned later (ingest.sandbox) re-imports this file as `__mp_main__`: it must not start the page there.
if __name__ == "__main__":
    main()
