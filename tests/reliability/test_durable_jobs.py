"""Durable ingestion jobs: an upload accepted in a chat is recorded before work starts; after a restart the bot
finishes the jobs whose files had arrived and tells the users of the others, where they uploaded."""

from __future__ import annotations

import shutil

from bot.core import Conversation
from bot.jobs import JobStore
from rag.models import SourceFile
from tests.conftest import SAMPLE_DOCS
from tests.fakes.discord import CHANNEL_A, CHANNEL_B, GUILD_B
from tests.fakes.slack import TEAM, FakeSlack, wait_for
from tests.test_discord import Running, bot  # noqa: F401 (fixture)
from tests.test_slack import make_harness, posted


async def test_jobs_left_by_a_crash_are_resumed_or_reported_after_a_restart(
        fake_slack: FakeSlack, make_settings, embedder) -> None:
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    try:
        settings = harness.adapter.settings
        # What a run killed mid-way leaves in UPLOADS_DIR: one job whose file had been downloaded, one whose had not.
        crashed = JobStore(settings.uploads_dir)
        alice = Conversation(tenant=TEAM, user="U1", platform="slack", channel="C1")
        downloaded = crashed.accept(alice, ["expense-policy.md"], {"channel": "C1", "thread": None})
        copy = shutil.copy(SAMPLE_DOCS / "expense-policy.md", downloaded.folder / "expense-policy.md")
        crashed.downloaded(downloaded, [SourceFile(path=copy, name="expense-policy.md", key="slack:F0EXPENSE1")])
        crashed.accept(Conversation(tenant=TEAM, user="U2", platform="slack", channel="C2"), ["huge-deck.pptx"],
                       {"channel": "C2", "thread": "1700000000.000100"})
        crashed.accept(Conversation(tenant="G1", user="7", platform="discord", channel="9"), ["other.md"], {})
        crashed.close()

        assert await harness.adapter.resume_jobs() == 2  # the Discord job is the Discord adapter's to resume
        await wait_for(lambda: posted(fake_slack, "C1", "expense-policy.md: added"))
        assert posted(fake_slack, "C2", "huge-deck.pptx was interrupted by a restart")
        interrupted = next(m for m in fake_slack.messages["C2"] if "interrupted" in m.get("text", ""))
        assert interrupted["thread_ts"] == "1700000000.000100"  # told where they uploaded
        answer = await harness.adapter.core.service.ask("What is the hotel limit per night in Paris?", TEAM)
        assert answer.sources[0].source == "expense-policy.md"
        assert [j.names for j in harness.adapter.jobs.unfinished("slack")] == []
        assert not downloaded.folder.exists()
        assert [j.names for j in harness.adapter.jobs.unfinished("discord")] == [["other.md"]]

        # A normal upload is a job while it runs and leaves nothing behind.
        info = fake_slack.add_file("F0PARKING1", "parking.md", b"# Parking\n\nThe garage has 12 visitor spaces.\n",
                                   channel="D1")
        event = harness.user_message("", channel="D1", subtype="file_share", files=[{"id": info["id"]}])
        await harness.event({**event, "type": "message", "channel_type": "im"})
        await wait_for(lambda: posted(fake_slack, "D1", "parking.md: added"))
        assert harness.adapter.jobs.unfinished("slack") == []
        assert sorted(p.name for p in settings.uploads_dir.iterdir() if p.is_dir()) == [
            j.id for j in harness.adapter.jobs.unfinished("discord")]
    finally:
        await close()


async def test_discord_reports_and_resumes_its_own_jobs(bot: Running) -> None:  # noqa: F811
    jobs = bot.client.jobs
    conversation = Conversation(tenant=str(GUILD_B), user="42", platform="discord", channel=str(CHANNEL_B))
    arrived = jobs.accept(conversation, ["expense-policy.md"], {"channel": str(CHANNEL_B)})
    copy = shutil.copy(SAMPLE_DOCS / "expense-policy.md", arrived.folder / "expense-policy.md")
    jobs.downloaded(arrived, [SourceFile(path=copy, name="expense-policy.md", key="discord:expense-policy.md")])
    jobs.accept(conversation, ["deck.pptx"], {"channel": str(CHANNEL_A)})

    assert await bot.client.resume_jobs() == 2
    assert any("expense-policy.md: added" in m["content"] for m in bot.fake.bot_messages(CHANNEL_B))
    assert any("deck.pptx was interrupted by a restart" in m["content"] for m in bot.fake.bot_messages(CHANNEL_A))
    assert (await bot.service.sources(str(GUILD_B)))[0].source == "expense-policy.md"
    assert jobs.unfinished("discord") == []
