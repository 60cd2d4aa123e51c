"""Platform rendering limits: long answers split without breaking code blocks, within each platform's limits."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace

import pytest

from bot.access import ChangePolicy, Conversation
from bot.adapters.discord.render import answer_pages
from bot.adapters.slack.render import answer_messages, to_mrkdwn
from bot.streaming import ThrottledEditor, split_markdown
from bot.views import AnswerView, SourceLine, StatsView
from rag.errors import ConfigError
from rag.models import IndexStats

CODE = "```python\n" + "".join(f"print({i})  # a line of code that takes some room\n" for i in range(200)) + "```"
LONG = "\n\n".join(["Intro paragraph with a citation [1]."] + [f"Paragraph {i}. " * 30 for i in range(40)] + [CODE])


def view(body: str = LONG) -> AnswerView:
    return AnswerView(question="q", body=body, mode="groq", timings_ms={"embed": 1.0}, grounded=True,
                      sources=[SourceLine(1, "guide.md", "Setup", 0.71, "d" * 64, "text", "https://x.slack.com/f")])


def fences_balanced(text: str) -> bool:
    return text.count("```") % 2 == 0


@pytest.mark.parametrize("limit", [100, 500, 2000, 3000])
def test_split_markdown_respects_the_limit_and_code_fences(limit: int) -> None:
    pieces = split_markdown(LONG, limit)
    assert all(len(p) <= limit for p in pieces)
    assert all(fences_balanced(p) for p in pieces)
    assert "".join(p.replace("```python\n", "").replace("\n```", "") for p in pieces).count("print(") == 200


def test_slack_answer_spills_into_messages_within_block_kit_limits() -> None:
    messages = answer_messages(view(LONG * 6), header="*<@U1> asked:* q", answer_id="abc")
    assert len(messages) >= 2
    for _, blocks in messages:
        assert len(blocks) <= 50
        for block in blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000 and fences_balanced(block["text"]["text"])
    last = messages[-1][1]
    assert last[-1]["type"] == "actions" and "<https://x.slack.com/f|guide.md>" in str(last)


def test_discord_pages_fit_2000_characters_with_sources_last() -> None:
    pages = answer_pages(view())
    assert len(pages) > 3 and all(len(p) <= 2000 and fences_balanced(p) for p in pages)
    assert "[guide.md](<https://x.slack.com/f>)" in pages[-1]  # <…> keeps the link from unfurling


def test_markdown_becomes_mrkdwn() -> None:
    text = to_mrkdwn("# Title\n**bold** and [link](https://a.b/c) <script> & more\n- item\n```\n**kept**\n```")
    assert text == "*Title*\n*bold* and <https://a.b/c|link> &lt;script&gt; &amp; more\n• item\n```\n**kept**\n```"


async def test_throttled_editor_never_edits_faster_than_its_interval() -> None:
    edits: list[tuple[float, str]] = []

    async def edit(text: str) -> None:
        edits.append((time.monotonic(), text))

    editor = ThrottledEditor(edit, interval=0.1)
    for i in range(50):
        await editor.update(f"partial {i}")
        await asyncio.sleep(0.01)
    await editor.finish(lambda: edit("final"))
    # The property itself, whatever the machine's speed: no two throttled edits closer than the interval (the
    # final one is sent at once), and the throttle did let partial text through.
    partial = [at for at, text in edits if text != "final"]
    assert edits[-1][1] == "final" and len(partial) >= 2
    assert min(b - a for a, b in itertools.pairwise(partial)) >= 0.1 - 0.005


def test_change_policy_allowlist_and_admins() -> None:
    def who(user: str) -> Conversation:
        return Conversation("T1", user=user, platform="slack", admin=user == "UADMIN")

    assert ChangePolicy.parse("all", "X").allows(who("U1"))
    listed = ChangePolicy.parse("U1, U2", "X")
    assert listed.allows(who("U2")) and not listed.allows(who("U3"))
    admins = ChangePolicy.parse("admins", "X")
    assert admins.allows(who("UADMIN")) and not admins.allows(who("U1"))
    with pytest.raises(ConfigError, match="SLACK_INGEST_ALLOWED"):
        ChangePolicy.parse("U1; DROP TABLE", "SLACK_INGEST_ALLOWED")


def test_history_is_bounded_and_zero_means_none() -> None:
    from rag.models import Turn, last_turns

    history = [Turn("user", f"q{i}") if i % 2 == 0 else Turn("assistant", f"a{i}") for i in range(10)]
    assert [t.text for t in last_turns(history, 2)] == ["q6", "a7", "q8", "a9"]
    assert last_turns(history, 0) == [] and last_turns([], 3) == []


def test_stats_say_what_is_in_ram_and_what_is_on_disk() -> None:
    """"32× less" is true of the vectors only: the stats say where the rest of a chunk is kept."""
    stats = IndexStats(documents=3, scope_chunks=30, index_chunks=1_000_000, dim=384, model="m", milvus="Milvus Lite",
                       rescore="precise", answers_by="extractive")
    lines = dict(StatsView(stats).lines)
    assert lines["Vectors in RAM"] == "45.8 MB at 1 bit/dim vs 1.4 GB as float32 (32× less)"
    rest = lines["Rest of the index"]
    assert rest.startswith("chunk text and metadata, float16 copies for rescoring (732.4 MB) and the keyword index "
                           "are on disk") and "RAM" not in rest
    # The control: without precise rescoring there are no float16 copies to mention.
    assert "float16" not in dict(StatsView(replace(stats, rescore="asymmetric")).lines)["Rest of the index"]
    # A collection made before the registry held text says that it keeps it in RAM, and how to move it.
    old = dict(StatsView(replace(stats, text_in_milvus=True)).lines)["Rest of the index"]
    assert "not 32×" in old and "text and metadata in Milvus's RAM" in old and "`bitrag reindex`" in old
