"""Answers and the 👍/👎 votes on them, kept for evaluation (SQLite, like the document registry).

Every answer posted to a chat platform is recorded with its question and sources under a short id that the vote
buttons carry, so a vote can always be joined with what was voted on.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Literal

from bot.core import Conversation
from bot.views import AnswerView
from rag.registry import sqlite_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, tenant TEXT NOT NULL, channel TEXT, user TEXT,
    question TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL, mode TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id TEXT NOT NULL REFERENCES answers (id), user TEXT NOT NULL, vote INTEGER NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (answer_id, user)
);
"""


class FeedbackStore:
    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    async def record(self, view: AnswerView, conversation: Conversation) -> str:
        """Store an answer posted in `conversation` (off the event loop); returns the id its vote buttons carry."""
        return await asyncio.to_thread(self.record_answer, view, conversation)

    def record_answer(self, view: AnswerView, conversation: Conversation) -> str:
        answer_id = uuid.uuid4().hex[:16]
        sources = [{"n": s.n, "source": s.name, "doc_id": s.doc_id, "location": s.location, "score": s.score}
                   for s in view.sources]
        with self._lock:
            self._db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (answer_id, conversation.platform, conversation.tenant, conversation.channel,
                              conversation.user, view.question, view.body,
                              json.dumps(sources), view.mode, time.time()))
        return answer_id

    def vote(self, answer_id: str, user: str, vote: Literal[1, -1]) -> bool:
        """Record (or change) a user's vote; False when the answer is unknown."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            self._db.execute("INSERT INTO votes VALUES (?, ?, ?, ?) ON CONFLICT (answer_id, user) DO UPDATE "
                             "SET vote = excluded.vote, created_at = excluded.created_at",
                             (answer_id, user, vote, time.time()))
        return True

    def votes(self, answer_id: str) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._db.execute("SELECT user, vote FROM votes WHERE answer_id = ?", (answer_id,)))

    def answer(self, answer_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT question, answer, sources, tenant FROM answers WHERE id = ?",
                                   (answer_id,)).fetchone()
        if row is None:
            return None
        return {"question": row[0], "answer": row[1], "sources": json.loads(row[2]), "tenant": row[3]}

    def close(self) -> None:
        with self._lock:
            self._db.close()
