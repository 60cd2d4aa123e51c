"""The web UI through Streamlit's own `AppTest` (ask, upload, forget, knowledge bases) over a real bot core, and once
in a real headless Chromium against `bitrag web` in its own process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bot.adapters.web.runtime import WebRuntime, install_runtime
from bot.adapters.web.serve import APP
from bot.core import Conversation
from bot.settings import Settings
from ingest.sandbox import ReaderSandbox
from rag.embed import LocalEncoder
from tests.browser import BITRAG, WebBrowser
from tests.conftest import SAMPLE_DOCS
from tests.fakes import on_own_loop
from tests.fakes.llm import FakeLLM
from tests.system import free_port

REPLY = "Passwords must be at least 14 characters long [1]."


@pytest.fixture
def fake_groq() -> Iterator[FakeLLM]:
    """A fake Groq on a loop of its own thread: AppTest blocks the test's thread, and `bitrag web` runs in another
    process."""
    with on_own_loop(FakeLLM(reply=REPLY, token_delay=0.02)) as llm:
        yield llm


@pytest.fixture
def runtime(make_settings: Callable[..., Settings], embedder: LocalEncoder,
            fake_groq: FakeLLM) -> Iterator[WebRuntime]:
    """A web runtime on the sample documents (tenant `local`), answering through the groq SDK and a fake Groq."""
    web = WebRuntime(make_settings(llm="groq", groq_api_key=fake_groq.api_key, groq_base_url=fake_groq.url), embedder)
    assert not web.call(web.core.ingest_paths(Conversation("local"), [SAMPLE_DOCS])).report.failed
    install_runtime(web)
    try:
        yield web
    finally:
        install_runtime(None)
        web.close()


def app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=120).run()


def sidebar_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.sidebar.markdown)


def test_ask_shows_a_cited_answer_with_sources_and_timings(runtime: WebRuntime) -> None:
    at = app()
    assert "**Chunks in the index**  \n27" in sidebar_text(at)
    assert "Milvus Lite" in sidebar_text(at) and "as float32" in sidebar_text(at)

    at.chat_input[0].set_value("How long must passwords be?").run()
    assert not at.exception and not at.error
    assistant = at.chat_message[1]
    assert assistant.markdown[0].value == REPLY
    assert assistant.expander[0].label.startswith("[1] security\\-policy\\.pdf · p\\. 1 · similarity 0.")
    assert "14 characters" in assistant.expander[0].text[0].value  # the chunk text, expandable
    assert assistant.caption[0].value.startswith("groq · embed ") and "generate" in assistant.caption[0].value

    # A follow-up keeps the conversation and sends it as history.
    at.chat_input[0].set_value("And how often must they change?").run()
    assert len(at.chat_message) == 4 and not at.error

    # Both answers are stored, as chat answers are: the admin's Insights page counts them.
    at.sidebar.radio[0].set_value("Insights").run()
    assert any("(2 answers reviewed)" in h.value for h in at.subheader), [h.value for h in at.subheader]
    at.sidebar.radio[0].set_value("Ask").run()
    assert len(at.chat_message) == 4  # the conversation is still there after visiting another page


def test_an_answer_that_obeys_a_hostile_document_shows_nothing_live(runtime: WebRuntime, fake_groq: FakeLLM) -> None:
    from tests.test_output_safety import ATTACK, live

    fake_groq.reply = ATTACK.format(link="https://wiki.example/not-a-source")
    at = app()
    at.chat_input[0].set_value("How long must passwords be?").run()
    assert not at.exception
    shown = [m.value for m in at.chat_message[1].markdown]
    assert any("Reset your SSO" in text for text in shown)  # the control: the answer was shown
    for text in shown:
        assert live(text + " ") == [], text
        assert "](https://wiki.example" not in text  # not a retrieved source: not a link either


def test_upload_ingests_into_the_chosen_knowledge_base(runtime: WebRuntime) -> None:
    at = app()
    at.sidebar.text_input[0].set_value("team-b").run()
    at.sidebar.radio[0].set_value("Documents").run()
    assert at.info[0].value.startswith("No documents yet")

    at.file_uploader[0].set_value([
        ("parking.md", b"# Parking\n\nThe garage door code is 4711. Visitors park on level -2.", "text/markdown"),
        ("setup.exe", b"MZ\x90\x00binary", "application/octet-stream"),
    ]).run()
    at.button[0].click().run()
    assert not at.exception
    assert any("parking\\.md** — added: 1 chunks" in m.value for m in at.markdown)
    assert "setup\\.exe** — failed" in at.error[0].value and ".exe" in at.error[0].value
    assert at.success[0].value.startswith("1 document(s) added or updated (1 chunks)")
    assert not at.file_uploader[0].value  # the uploader is emptied once its files are ingested
    assert [m.value for m in at.markdown if m.value == "**parking\\.md**"]  # listed
    assert "**Documents**  \n1 \\(1 chunks\\)" in sidebar_text(at)

    at.sidebar.radio[0].set_value("Ask").run()
    at.chat_input[0].set_value("What is the garage door code?").run()
    assert at.chat_message[1].expander[0].label.startswith("[1] parking\\.md")
    # The default knowledge base does not see team-b's document, and team-b does not see the samples.
    assert not any("security" in e.label for e in at.chat_message[1].expander)
    local = runtime.call(runtime.core.sources(Conversation("local"))).documents
    assert len(local) == 7 and all(d.source != "parking.md" for d in local)  # every source, not the first
    local_answer = runtime.call(runtime.core.ask(Conversation("local"), "What is the garage door code?"))
    assert local_answer.sources and all(s.name != "parking.md" for s in local_answer.sources)


def test_forget_removes_a_document_from_the_list_and_the_answers(runtime: WebRuntime) -> None:
    at = app()
    at.sidebar.radio[0].set_value("Documents").run()
    documents = runtime.call(runtime.core.sources(Conversation("local"))).documents
    target = next(d for d in documents if d.source == "security-policy.pdf")
    at.button(key=f"forget-{target.doc_id}").click().run()
    assert not at.exception
    assert at.info[0].value == "Forgot security-policy.pdf (3 chunks)."
    assert "**security\\-policy\\.pdf**" not in [m.value for m in at.markdown]
    assert len([b for b in at.button if b.key.startswith("forget-")]) == 6
    assert "**Documents**  \n6" in sidebar_text(at)

    at.sidebar.radio[0].set_value("Ask").run()
    at.chat_input[0].set_value("How long must passwords be?").run()
    assert all("security" not in e.label for e in at.chat_message[1].expander)


def test_a_reader_process_started_after_the_page_ran_still_reads(runtime: WebRuntime, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit leaves the page script installed as `__main__`; a reader process spawned afterwards (the first
    upload of `bitrag run`, or a restart after a stuck file) re-imports it and must come up, not run the page and
    open the Milvus Lite file the bot already holds (as it would: the child inherits the bot's environment)."""
    monkeypatch.setenv("MILVUS_URI", runtime.settings.milvus_uri)
    monkeypatch.setenv("REGISTRY_URL", runtime.settings.registry_url)
    app()
    sandbox = ReaderSandbox(memory_mb=2048, timeout_s=60)
    try:
        (tmp_path / "note.md").write_text("# Note\n\nThe reader came up.\n")
        assert "The reader came up." in sandbox.read("markdown", tmp_path / "note.md", "note.md")[0].text
    finally:
        sandbox.close()


def test_bad_knowledge_base_name_is_explained(runtime: WebRuntime) -> None:
    at = app()
    at.sidebar.text_input[0].set_value("bad name!").run()
    at.chat_input[0].set_value("anything?").run()
    assert "bad name!" in at.error[0].value and not at.exception


# --- a real browser -----------------------------------------------------------------------------------------------

@pytest.fixture
def chromium(tmp_path: Path, fake_groq: FakeLLM) -> Iterator[WebBrowser]:
    """A headless Chromium on `bitrag web` (its own process, the sample documents ingested), the page loaded."""
    port = free_port()
    browser = WebBrowser(tmp_path, port, {"LLM": "groq", "GROQ_API_KEY": fake_groq.api_key,
                                          "GROQ_BASE_URL": fake_groq.url}, [*BITRAG, "ingest", str(SAMPLE_DOCS)])
    try:
        banner = browser.server.stdout.readline()  # type: ignore[union-attr]
        assert f"open http://127.0.0.1:{port}" in banner, banner
        browser.open()
        yield browser
    finally:
        browser.close()


def test_chromium_asks_and_sees_a_cited_answer(chromium: WebBrowser) -> None:
    chromium.submit("How long must passwords be?")
    text = chromium.wait_for_text("similarity")
    assert REPLY in text
    assert "[1] security-policy.pdf · p. 1 · similarity 0." in text
    assert "Chunks in the index" in text and "27" in text


def test_switching_pages_while_an_answer_is_written_loses_neither(chromium: WebBrowser, fake_groq: FakeLLM) -> None:
    """The reader leaves for Documents while the model is still writing, comes back before it is done, and then
    sees the answer arrive: the question was kept and the answer filled in on the core's loop."""
    from selenium.webdriver.common.by import By

    fake_groq.gate = threading.Event()  # the model holds its answer until the page has been switched twice
    try:
        question = "What is the minimum length of a password?"
        chromium.submit(question)
        chromium.wait_until(lambda: fake_groq.in_flight == 1)  # the model has been asked: the answer is being written
        chromium.go_to("Documents")
        chromium.wait_until(lambda: chromium.driver.find_elements(By.CSS_SELECTOR, "[data-testid='stFileUploader']")
                            and "security-policy.pdf" in chromium.text())
        assert fake_groq.in_flight == 1  # still being written while the reader is elsewhere
        chromium.go_to("Ask")
        chromium.wait_for_text("Still working on this answer")
        assert question in chromium.text() and REPLY not in chromium.text()
        fake_groq.gate.set()
        text = chromium.wait_for_text("similarity")
        assert question in text and REPLY in text and "Still working" not in text
        assert "[1] security-policy.pdf · p. 1 · similarity 0." in text
    finally:
        fake_groq.gate.set()


def test_an_admin_closes_a_knowledge_gap_from_the_insights_page(runtime: WebRuntime) -> None:
    at = app()
    question = "What is the dress code for the summer party?"
    at.chat_input[0].set_value(question).run()
    assert "I don't know" in at.chat_message[1].markdown[0].value  # a gap: the documents do not answer it
    at.sidebar.radio[0].set_value("Insights").run()
    assert any(question in t.value for t in at.text), [t.value for t in at.text]
    at.text_area[0].input("Smart casual; the party is on the roof terrace, so bring a jacket.")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any("added" in s.value for s in [*at.success, *at.markdown]), [m.value for m in at.markdown]
    at.sidebar.radio[0].set_value("Ask").run()
    at.chat_input[0].set_value(question).run()
    answer = at.chat_message[-1]
    assert any(e.label.startswith("[1] answer\\-") for e in answer.expander), [e.label for e in answer.expander]
