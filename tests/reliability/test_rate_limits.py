"""Per-user and per-tenant question limits: the over-limit user is told when to ask again; others are unaffected."""

from __future__ import annotations

from bot.core import BotCore, Conversation
from bot.ratelimit import RateLimiter
from bot.views import AnswerView, MessageView
from rag.service import RagService
from tests.test_pipeline import ingest_samples


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limits_per_user_and_per_tenant_with_the_time_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(per_user_per_min=3, per_tenant_per_min=5, clock=clock)
    for _ in range(3):
        assert limiter.check("slack:alice", "slack:T1") is None
        clock.now += 10
    refusal = limiter.check("slack:alice", "slack:T1")
    assert refusal is not None and refusal.who == "you" and refusal.retry_after_s == 30
    assert "Try again in 30 s" in refusal.message
    assert limiter.check("slack:alice", "slack:T2") is not None  # a person's limit follows them everywhere
    assert limiter.check("slack:bob", "slack:T1") is None and limiter.check("slack:carol", "slack:T1") is None
    workspace = limiter.check("slack:dave", "slack:T1")  # T1 has had its 5 questions
    assert workspace is not None and workspace.who == "this workspace"
    clock.now += 31  # alice's first question leaves the window
    assert limiter.check("slack:alice", "slack:T1") is None
    assert RateLimiter(0, 0).check("anyone", "T1") is None  # 0 = no limit


async def test_the_bot_core_refuses_politely_and_streams_the_refusal(service: RagService) -> None:
    await ingest_samples(service, "T1")
    core = BotCore(service, RateLimiter(per_user_per_min=2, per_tenant_per_min=100))
    alice = Conversation(tenant="T1", user="alice")
    for _ in range(2):
        assert isinstance(await core.ask(alice, "How long must passwords be?"), AnswerView)
    refused = await core.ask(alice, "How long must passwords be?")
    assert isinstance(refused, MessageView) and "Try again in" in refused.text
    streamed = [event async for event in core.ask_stream(alice, "How long must passwords be?")]
    assert len(streamed) == 1 and isinstance(streamed[0], MessageView) and "Try again in" in streamed[0].text
    assert isinstance(await core.ask(Conversation(tenant="T1", user="bob"), "How long must passwords be?"),
                      AnswerView)


async def test_a_person_counts_across_their_conversations_and_a_workspace_across_its_audiences(
        service: RagService) -> None:
    """The attack of the last review: 4 questions in a DM and 4 more in two channels under a per-person limit of 4,
    12 through a per-workspace limit of 6 because each DM and private channel was a tenant of its own."""
    from bot.access import Kind, Person, Room, conversation_for

    await ingest_samples(service, "T1")
    core = BotCore(service, RateLimiter(per_user_per_min=4, per_tenant_per_min=6))
    alice = Person("slack", "T1", "UALICE", member_of=("G1",))
    rooms = [Room(Kind.DM, "DALICE"), Room(Kind.PUBLIC, "C1"), Room(Kind.PRIVATE, "G1")]
    answered = [isinstance(await core.ask(conversation_for(alice, rooms[i % 3]), "How long must passwords be?"),
                           AnswerView) for i in range(6)]
    assert answered == [True] * 4 + [False] * 2  # her fifth question is refused wherever she asks it
    others = [conversation_for(Person("slack", "T1", f"U{i}"), Room(Kind.DM, f"D{i}")) for i in range(4)]
    verdicts = [await core.ask(c, "How long must passwords be?") for c in others]
    assert [isinstance(v, AnswerView) for v in verdicts] == [True, True, False, False]  # 6 for the workspace
    assert isinstance(verdicts[-1], MessageView) and "this workspace" in verdicts[-1].text
    elsewhere = conversation_for(Person("slack", "T2", "U9"), Room(Kind.DM, "D9"))
    assert isinstance(await core.ask(elsewhere, "How long must passwords be?"), AnswerView)  # the control
