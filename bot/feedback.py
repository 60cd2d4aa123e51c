"""Answers and the 👍/👎 votes on them, kept for evaluation (SQLite or PostgreSQL, like the document registry).

Every answer posted to a chat platform is recorded with its question and sources under a short id that the vote
buttons carry, so a vote can always be joined with what was voted on.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Literal

from bot.access import Conversation
from bot.views import AnswerView
from rag.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, tenant TEXT NOT NULL, channel TEXT, "user" TEXT,
    question TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL, mode TEXT NOT NULL,
    created_at {float} NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id TEXT NOT NULL REFERENCES answers (id), "user" TEXT NOT NULL, vote INTEGER NOT NULL,
    created_at {float} NOT NULL, PRIMARY KEY (answer_id, "user")
)
"""


class FeedbackStore:
    def __init__(self, url: str) -> None:
        self._db = Database(url)
        self._db.create(SCHEMA)
        self._db.add_columns("answers", {"scope": "TEXT"})  # stores written before answers recorded their scope

    async def record(self, view: AnswerView, conversation: Conversation) -> str:
        """Store an answer posted in `conversation` (off the event loop); returns the id its vote buttons carry."""
        return await asyncio.to_thread(self.record_answer, view, conversation)

    def record_answer(self, view: AnswerView, conversation: Conversation) -> str:
        answer_id = uuid.uuid4().hex[:16]
        sources = [{"n": s.n, "source": s.name, "doc_id": s.doc_id, "location": s.location, "score": s.score}
                   for s in view.sources]
        # The scope is what the answer could read, so a later review shows it only to those who may read all of it.
        self._db.execute('INSERT INTO answers (id, platform, tenant, channel, "user", question, answer, sources, '
                         "mode, created_at, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (answer_id, conversation.platform, conversation.tenant, conversation.channel,
                          conversation.user, view.question, view.body, json.dumps(sources), view.mode, time.time(),
                          json.dumps(conversation.read_scope)))
        return answer_id

    def vote(self, answer_id: str, user: str, vote: Literal[1, -1]) -> bool:
        """Record (or change) a user's vote; False when the answer is unknown."""
        with self._db.transaction() as db:
            if not db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)):
                return False
            db.execute('INSERT INTO votes VALUES (?, ?, ?, ?) ON CONFLICT (answer_id, "user") DO UPDATE '
                       "SET vote = excluded.vote, created_at = excluded.created_at",
                       (answer_id, user, vote, time.time()))
        return True

    def votes(self, answer_id: str) -> list[tuple[str, int]]:
        return [(user, vote) for user, vote in
                self._db.execute('SELECT "user", vote FROM votes WHERE answer_id = ?', (answer_id,))]

    def answer(self, answer_id: str) -> dict | None:
        rows = self._db.execute("SELECT question, answer, sources, tenant, scope FROM answers WHERE id = ?",
                                (answer_id,))
        if not rows:
            return None
        question, answer, sources, tenant, scope = rows[0]
        return {"question": question, "answer": answer, "sources": json.loads(sources), "tenant": tenant,
                "scope": json.loads(scope) if scope else [tenant]}

    def close(self) -> None:
        self._db.close()
