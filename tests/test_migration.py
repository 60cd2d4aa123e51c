"""Upgrading: a Milvus collection and a registry written by the version before documents had owners and audiences
open in place. The registry file is put into that version's exact schema (no origin columns, no audit table), so
the migration runs on what an upgrading workspace has on disk."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from bot.access import Conversation, Kind
from bot.core import BotCore
from bot.feedback import FeedbackStore
from bot.views import AnswerView, DocumentsView, ForgottenView, MessageView, origin_line
from bot.wiring import open_service
from tests.test_pipeline import ingest_samples

PREVIOUS_DOCUMENTS = """CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    link TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'deleting')),
    chunks INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (tenant, doc_id)
)"""
PREVIOUS_ANSWERS = """CREATE TABLE answers (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, tenant TEXT NOT NULL, channel TEXT, "user" TEXT,
    question TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL, mode TEXT NOT NULL,
    created_at REAL NOT NULL
)"""


def downgrade_registry(path: Path) -> None:
    """Rewrite the registry as the previous version wrote it: same rows, its schema."""
    db = sqlite3.connect(path)
    db.executescript(f"""
        PRAGMA foreign_keys = OFF;
        PRAGMA legacy_alter_table = ON;
        ALTER TABLE documents RENAME TO documents_new;
        {PREVIOUS_DOCUMENTS};
        INSERT INTO documents SELECT id, tenant, doc_id, source, source_key, link, state, chunks, created_at
            FROM documents_new;
        DROP TABLE documents_new;
        CREATE INDEX IF NOT EXISTS documents_by_key ON documents (tenant, source_key);
        DROP TABLE audit;
    """)
    db.commit()
    db.close()


async def test_a_registry_and_collection_of_the_previous_version_open_in_place(make_settings, embedder, tmp_path,
                                                                             caplog) -> None:
    settings = make_settings()
    service = await open_service(settings, embedder)
    await ingest_samples(service, "T1")  # what the previous version ingested: the workspace tenant, no origin
    await service.close()
    registry = Path(settings.registry_url.removeprefix("sqlite:///"))
    downgrade_registry(registry)
    feedback_path = tmp_path / "feedback.sqlite3"
    old = sqlite3.connect(feedback_path)
    old.execute(PREVIOUS_ANSWERS)
    old.execute("INSERT INTO answers VALUES ('a1', 'slack', 'T1', 'C1', 'U1', 'q', 'a', '[]', 'extractive', 1.0)")
    old.commit()
    old.close()

    with caplog.at_level(logging.WARNING):
        service = await open_service(settings, embedder)
    try:
        columns = {row[1] for row in sqlite3.connect(registry).execute("PRAGMA table_info(documents)")}
        assert {"owner", "origin_platform", "origin_conversation", "origin_kind"} <= columns
        warnings = [r.getMessage() for r in caplog.records if "origin unknown" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].startswith("7 document(s) were added before")

        core = BotCore(service)
        member = Conversation("T1", user="U2", platform="slack", kind=Kind.PUBLIC, space="T1")
        listed = await core.sources(member)
        assert isinstance(listed, DocumentsView) and len(listed.documents) == 7
        assert all(d.origin is None and d.audience == "T1" for d in listed.documents)
        assert all("origin unknown" in origin_line(d) for d in listed.documents)
        # Still readable workspace-wide, as before the upgrade.
        answer = await core.ask(member, "How many days of paid vacation do employees get?")
        assert isinstance(answer, AnswerView) and "28 days" in answer.body
        # Nobody owns them: only an admin may forget one.
        refused = await core.forget(member, "security-policy.pdf")
        assert isinstance(refused, MessageView) and "Only an admin" in refused.text
        admin = Conversation("T1", user="U9", platform="slack", kind=Kind.PUBLIC, admin=True, space="T1")
        assert isinstance(await core.forget(admin, "security-policy.pdf"), ForgottenView)
        assert [(e.action, e.actor) for e in await service.audit("T1")] == [("forget", "U9")]

        feedback = FeedbackStore(f"sqlite:///{feedback_path}")
        assert feedback.answer("a1")["scope"] == ["T1"]  # an old answer read its tenant
        assert feedback.answer(await feedback.record(answer, member))["scope"] == ["T1"]
        feedback.close()
    finally:
        await service.close()
    # Opening again changes nothing and warns about what is still unreviewed.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        service = await open_service(settings, embedder)
    await service.close()
    assert any(r.getMessage().startswith("6 document(s) were added before") for r in caplog.records)
