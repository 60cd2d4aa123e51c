"""Answers and the 👍/👎 votes on them, kept for evaluation (SQLite or PostgreSQL, like the document registry).

Every answer posted to a chat platform is recorded with its question and sources under a short id that the vote
buttons carry, so a vote can always be joined with what was voted on. Stored answers quote documents, so they
follow them: forgetting a document removes the answers that cited it, and answers older than
FEEDBACK_RETENTION_DAYS are removed. What is kept feeds the admins' knowledge-gap report (`insights`): questions
answered "I don't know", 👎 answers with their sources, the most asked topics — each only from answers whose whole
read scope the viewer may read.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Collection
from typing import Literal

from bot.access import Conversation
from bot.views import AnswerView, Gap, Insights
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


STOPWORDS = frozenset("""a an and are as at be by can do does for from how i if in is it me my of on or our should
the their there this to was we what when where which who why will with you your about any into get have has than
that them then they tell us""".split())
EXPIRE_EVERY_S = 3600


def read_scope(scope: str | None, tenant: str) -> list[str]:
    """What a stored answer could read; answers stored before scopes were recorded read their tenant alone."""
    return json.loads(scope) if scope else [tenant]


class FeedbackStore:
    def __init__(self, url: str, retention_days: int = 0) -> None:
        self._db = Database(url)
        self._db.create(SCHEMA)
        # Stores written before answers recorded their scope and whether they were grounded.
        self._db.add_columns("answers", {"scope": "TEXT", "grounded": "INTEGER", "message": "TEXT"})
        self.retention_days = retention_days
        self._expired_at = 0.0

    async def record(self, view: AnswerView, conversation: Conversation, message: str | None = None) -> str:
        """Store an answer posted in `conversation` (off the event loop); returns the id its vote buttons carry.
        `message`: the platform's id of the message that shows it (a Slack ts), for links back to it."""
        return await asyncio.to_thread(self.record_answer, view, conversation, message)

    def record_answer(self, view: AnswerView, conversation: Conversation, message: str | None = None) -> str:
        answer_id = uuid.uuid4().hex[:16]
        sources = [{"n": s.n, "source": s.name, "doc_id": s.doc_id, "location": s.location, "score": s.score}
                   for s in view.sources]
        # The scope is what the answer could read, so a later review shows it only to those who may read all of it.
        self._db.execute('INSERT INTO answers (id, platform, tenant, channel, "user", question, answer, sources, '
                         "mode, created_at, scope, grounded, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (answer_id, conversation.platform, conversation.tenant, conversation.channel,
                          conversation.user, view.question, view.body, json.dumps(sources), view.mode, time.time(),
                          json.dumps(conversation.read_scope), int(view.grounded), message))
        if time.time() - self._expired_at > EXPIRE_EVERY_S:
            self.expire()
        return answer_id

    def recent_questions(self, platform: str, user: str, limit: int = 5) -> list[tuple[str, str | None, str | None]]:
        """A person's latest questions: (question, channel, message id of the answer), newest first."""
        return [(q, c, m) for q, c, m in self._db.execute(
            'SELECT question, channel, message FROM answers WHERE platform = ? AND "user" = ? '
            "ORDER BY created_at DESC LIMIT ?", (platform, user, limit))]

    def expire(self, now: float | None = None) -> int:
        """Remove answers (and their votes) older than the retention period; returns how many."""
        self._expired_at = time.time()
        if self.retention_days <= 0:
            return 0
        cutoff = (now or time.time()) - self.retention_days * 86400
        return self._delete("created_at < ?", (cutoff,))

    def forget_document(self, doc_id: str) -> int:
        """Remove the stored answers that cited a document (its text lives on in them); returns how many."""
        if not re.fullmatch(r"[0-9a-f]{6,64}", doc_id):
            raise ValueError(f"not a document id: {doc_id!r}")
        return self._delete("sources LIKE ?", (f'%"doc_id": "{doc_id}"%',))

    def _delete(self, where: str, params: tuple) -> int:
        with self._db.transaction() as db:
            ids = [row[0] for row in db.execute(f"SELECT id FROM answers WHERE {where}", params)]
            db.executemany("DELETE FROM votes WHERE answer_id = ?", [(i,) for i in ids])
            db.executemany("DELETE FROM answers WHERE id = ?", [(i,) for i in ids])
        return len(ids)

    def insights(self, readable: Collection[str] | None = None, space: str | None = None,
                 limit: int = 10) -> Insights:
        """The knowledge-gap report over the answers whose whole read scope is in `readable` (None: no limit)
        and, with `space`, in that workspace, server or knowledge base (its own key or `space:…`)."""
        rows = self._db.execute("SELECT a.id, a.question, a.answer, a.sources, a.tenant, a.scope, a.grounded, "
                                "COALESCE(SUM(CASE WHEN v.vote < 0 THEN 1 ELSE 0 END), 0), a.platform, a.channel, "
                                "a.message FROM answers a LEFT JOIN votes v ON v.answer_id = a.id GROUP BY a.id, "
                                "a.question, a.answer, a.sources, a.tenant, a.scope, a.grounded, a.created_at, "
                                "a.platform, a.channel, a.message ORDER BY a.created_at DESC")
        report, unanswered, words = Insights(), Counter(), Counter()
        gaps: dict[str, Gap] = {}
        for answer_id, question, answer, sources, tenant, scope, grounded, downvotes, platform, channel, message \
                in rows:
            keys = read_scope(scope, tenant)
            if readable is not None and not set(keys) <= set(readable):
                continue
            if space is not None and not all(k == space or k.startswith(f"{space}:") for k in keys):
                continue
            report.answers += 1
            words.update(w for w in re.findall(r"[a-z][a-z0-9-]{2,}", question.lower()) if w not in STOPWORDS)
            asked = " ".join(question.split())
            if grounded == 0:
                unanswered[asked] += 1
            if downvotes and len(report.downvoted) < limit:
                cited = [s["source"] for s in json.loads(sources)]
                report.downvoted.append((question, answer, cited))
            if grounded == 0 or downvotes:  # the newest answer of each question is the one to close it from
                key = asked.lower()
                if key in gaps:
                    gaps[key].count += 1
                else:
                    gaps[key] = Gap(asked, 1, "unanswered" if grounded == 0 else "downvoted",
                                    answer_id, platform, channel, message)
        report.unanswered = unanswered.most_common(limit)
        report.topics = words.most_common(limit)
        report.gaps = sorted(gaps.values(), key=lambda g: -g.count)[:limit]
        return report

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
                "scope": read_scope(scope, tenant)}

    def close(self) -> None:
        self._db.close()
