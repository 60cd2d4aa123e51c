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
