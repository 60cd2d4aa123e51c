"""Help channels that answer themselves, and solved threads that become knowledge.

- **Help-channel mode**, set per channel by an admin (`/bitrag help-channel on`, Discord `/help-channel`) and kept
  here (the FEEDBACK_URL database, so replicas share it): every new top-level message there that reads as a
  question gets a threaded answer — only when the answer is confident (not "I don't know", the abstention gate of
  `rag.abstain`), so a help channel never fills with guesses. Otherwise bitrag stays silent and reacts, so a human
  knows it looked. The answer obeys the channel's readers like any other (`bot.access`).
- **Solved threads**: the asker or an admin marks a thread solved with a reaction (SOLVED_REACTION, ✅ by default);
  the thread — question, accepted answer, the rest — is filed as a document of the thread's audience, cited by its
  link. Taking the reaction back, or deleting the thread's first message, forgets it.

What reads as a question: a message ending in a question mark (also the full-width `？` and Arabic `؟`), one that
starts with an English question word and has at least three words (not "What a day"), or one ending in a Korean
question ending (…나요, …까요, …니까, …인가요, …는지요). Everything else in a help channel (thanks, announcements)
is left alone.
"""

from __future__ import annotations

import re
import time

from rag.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS help_channels (
    platform TEXT NOT NULL, space TEXT NOT NULL, conversation TEXT NOT NULL, set_by TEXT NOT NULL,
    at {float} NOT NULL, PRIMARY KEY (platform, space, conversation)
)
"""
QUESTION_MARKS = ("?", "？", "؟")
QUESTION_WORDS = re.compile(r"(?i)^(who|what|when|where|why|how|which|whose|whom|can|could|does|do|did|is|are|was|"
                            r"were|should|will|would|has|have|anyone|anybody)\b")
EXCLAMATION = re.compile(r"(?i)^(what|how)\s+(a|an|nice|great|cool|awesome|lovely|fun)\b")  # "What a day"
KOREAN_QUESTION = re.compile(r"(나요|까요|니까|인가요|는지요?|ㄹ까)[.!…]*\s*$")


def looks_like_question(text: str) -> bool:
    text = text.strip()
    if not text:
        return False
    if text.endswith(QUESTION_MARKS) or KOREAN_QUESTION.search(text):
        return True
    return bool(QUESTION_WORDS.match(text)) and not EXCLAMATION.match(text) and len(text.split()) >= 3


class HelpChannels:
    """Which conversations answer questions without a mention. Call from `asyncio.to_thread`."""

    def __init__(self, url: str) -> None:
        self._db = Database(url)
        self._db.create(SCHEMA)

    def set(self, platform: str, space: str, conversation: str, by: str, on: bool) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM help_channels WHERE platform = ? AND space = ? AND conversation = ?",
                       (platform, space, conversation))
            if on:
                db.execute("INSERT INTO help_channels VALUES (?, ?, ?, ?, ?)",
                           (platform, space, conversation, by, time.time()))

    def is_on(self, platform: str, space: str, conversation: str) -> bool:
        return bool(self._db.execute("SELECT 1 FROM help_channels WHERE platform = ? AND space = ? AND "
                                     "conversation = ?", (platform, space, conversation)))

    def listed(self, platform: str, space: str) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT conversation FROM help_channels WHERE platform = ? AND "
                                                   "space = ? ORDER BY at", (platform, space))]

    def close(self) -> None:
        self._db.close()
