"""Stored answers follow the documents they quote (forget, retention), and the knowledge-gap report shows only
what its viewer may read in full."""

from __future__ import annotations

import time

from bot.access import Conversation, Kind
from bot.core import BotCore
from bot.feedback import FeedbackStore
from bot.views import AnswerView, InsightsView, MessageView
from tests.test_pipeline import ingest_samples


async def answered(core: BotCore, conversation: Conversation, question: str) -> str:
    view = await core.ask(conversation, question)
    assert isinstance(view, AnswerView)
    return await core.feedback.record(view, conversation)


async def test_insights_forget_and_retention(service, tmp_path) -> None:
    feedback = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}", retention_days=30)
    core = BotCore(service, feedback=feedback)
    await ingest_samples(service, "T1")
    public = Conversation("T1", user="U1", platform="slack", kind=Kind.PUBLIC, space="T1")
    legal = Conversation("T1:CLEGAL", user="U1", platform="slack", kind=Kind.PRIVATE, also_reads=("T1",), space="T1")
    admin_public = Conversation("T1", user="U9", platform="slack", kind=Kind.PUBLIC, admin=True, space="T1")
    admin_legal = Conversation("T1:CLEGAL", user="U9", platform="slack", kind=Kind.PRIVATE, also_reads=("T1",),
                               admin=True, space="T1")

    vacation = await answered(core, public, "How many days of paid vacation do employees get?")
    await answered(core, public, "How many days of paid vacation do part-timers get?")
    await answered(core, public, "What is the airspeed of an unladen swallow?")  # "I don't know"
    secret = await answered(core, legal, "What is the meal allowance on business trips?")
    feedback.vote(vacation, "U2", -1)
    feedback.vote(secret, "U2", -1)

    refused = await core.insights(public, "T1")
    assert isinstance(refused, MessageView) and "Only admins" in refused.text
    report = await core.insights(admin_public, "T1")
    assert isinstance(report, InsightsView)
    gaps = report.insights
    assert gaps.answers == 3  # the private channel's answer is not the public viewer's to read
    assert [q for q, _ in gaps.unanswered] == ["What is the airspeed of an unladen swallow?"]
    assert [q for q, _, _ in gaps.downvoted] == ["How many days of paid vacation do employees get?"]
    assert gaps.downvoted[0][2] and ("vacation", 2) in gaps.topics
    inside = (await core.insights(admin_legal, "T1")).insights  # the control: read where it may be read
    assert inside.answers == 4 and {q for q, _, _ in inside.downvoted} == {
        "How many days of paid vacation do employees get?", "What is the meal allowance on business trips?"}

    # Forgetting a document removes the stored answers that quoted it, and only those.
    document = feedback.answer(vacation)["sources"][0]["doc_id"]
    ids = [vacation, secret, *(r[0] for r in feedback._db.execute("SELECT id FROM answers WHERE id NOT IN (?, ?)",
                                                                   (vacation, secret)))]
    quoting = {i for i in ids if any(s["doc_id"] == document for s in feedback.answer(i)["sources"])}
    assert vacation in quoting and secret not in quoting  # the control: one that quotes it, one that does not
    forgotten = await core.forget(admin_public, document)
    assert not isinstance(forgotten, MessageView), forgotten
    assert all(feedback.answer(i) is None for i in quoting) and feedback.votes(vacation) == []
    assert all(feedback.answer(i) is not None for i in set(ids) - quoting)

    # Retention: answers older than FEEDBACK_RETENTION_DAYS go, with their votes.
    remaining = (await core.insights(admin_legal, "T1")).insights.answers
    assert remaining >= 1
    assert feedback.expire(now=time.time() + 29 * 86400) == 0
    assert feedback.expire(now=time.time() + 31 * 86400) == remaining
    assert (await core.insights(admin_legal, "T1")).insights.answers == 0
    feedback.close()
