"""Slack's AI-app surface through the real slack-bolt app against the fake Slack: native streaming with Slack's
own feedback buttons and every fallback, the assistant status, suggested prompts and App Home built only from what
the person may read, and the "Add to knowledge base" message shortcut."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.access import Conversation
from tests.fakes.slack import BOT_USER, TEAM, FakeSlack, wait_for
from tests.test_access_slack import DM_OTHER, DM_OWNER, OTHER, OWNER, PRIVATE, PUBLIC, SECRETS, Scenario
from tests.test_slack import Harness, make_harness

ANSWER = "Passwords must be at least 14 characters long [1], and they are rotated yearly [1]."


async def mention(harness: Harness, text: str, channel: str = "C1") -> dict[str, Any]:
    event = harness.user_message(f"<@{BOT_USER}> {text}", channel=channel)
    mark = len(harness.fake.calls)
    await harness.event({**event, "type": "app_mention"})
    await wait_for(lambda: harness.fake.finished(mark, event["ts"]) > 0)
    return event


def reply_to(fake: FakeSlack, channel: str, ts: str) -> dict[str, Any]:
    return next(m for m in fake.messages[channel] if m.get("thread_ts") == ts and m["user"] == BOT_USER)


def interact(harness: Harness, payload: dict[str, Any]):
    return harness.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


@pytest.fixture
async def llm_slack(fake_slack, make_settings, embedder, fake_llm):
    from tests.test_pipeline import ingest_samples

    fake_llm.reply = ANSWER
    fake_llm.token_delay = 0.08  # about 1.2 s of writing: several appends at STREAM_INTERVAL_S = 0.2
    harness, close = await make_harness(fake_slack, make_settings, embedder, llm="groq", groq_api_key=fake_llm.api_key,
                                        groq_base_url=fake_llm.url)
    await ingest_samples(harness.adapter.core.service, TEAM)
    yield harness
    await close()


async def test_a_streamed_answer_is_the_final_answer_with_slacks_feedback_buttons(llm_slack: Harness) -> None:
    fake = llm_slack.fake
    event = await mention(llm_slack, "How long must passwords be?")
    calls = [(m, a) for m, a, _ in fake.calls]
    appends = [a["markdown_text"] for m, a in calls if m == "chat.appendStream"]
    stop = next(a for m, a in calls if m == "chat.stopStream")
    assert len(appends) >= 2  # it grew in place
    assembled = "".join(appends) + (stop.get("markdown_text") or "")
    message = reply_to(fake, "C1", event["ts"])
    assert assembled == message["text"] == ANSWER  # the pieces are the final answer, citations already final
    assert "chat.update" not in [m for m, _ in calls]  # nothing had to be replaced
    kinds = [b["type"] for b in stop["blocks"]]
    assert kinds[-1] == "context_actions" and "security-policy.pdf" in json.dumps(stop["blocks"])
    buttons = stop["blocks"][-1]["elements"][0]
    assert buttons["type"] == "feedback_buttons"
    # A click arrives as block_actions and is stored like any vote.
    answer_id = buttons["negative_button"]["value"].split(":", 1)[1]
    payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U7"}, "api_app_id": "A1",
               "token": "legacy", "container": {"type": "message", "message_ts": message["ts"], "channel_id": "C1"},
               "trigger_id": "1.2", "channel": {"id": "C1"}, "message": {"ts": message["ts"]},
               "actions": [{"type": "feedback_buttons", "action_id": buttons["action_id"],
                            "block_id": stop["blocks"][-1]["block_id"], "value": buttons["negative_button"]["value"],
                            "action_ts": "1"}]}
    assert (await interact(llm_slack, payload))[0] == 200
    await wait_for(lambda: llm_slack.adapter.feedback.votes(answer_id))
    assert llm_slack.adapter.feedback.votes(answer_id) == [("U7", -1)]


async def test_a_refused_stream_falls_back_to_edits(llm_slack: Harness) -> None:
    fake = llm_slack.fake
    fake.refuse["chat.startStream"] = "feature_not_enabled"
    fake.refuse["assistant.threads.setStatus"] = "not_allowed_token_type"
    event = await mention(llm_slack, "How long must passwords be?")
    methods = fake.methods()
    assert "chat.appendStream" not in methods and methods.count("chat.update") >= 2  # edits, as before
    assert "reactions.add" in methods and "reactions.remove" in methods  # the status's fallback
    final = fake.final_text(reply_to(fake, "C1", event["ts"])["ts"])
    assert "14 characters long [1]" in final and "security-policy.pdf" in final
    assert any(b["type"] == "actions" for b in reply_to(fake, "C1", event["ts"])["blocks"])  # 👍/👎 buttons


async def test_a_stream_that_expires_mid_answer_ends_with_the_whole_answer(llm_slack: Harness) -> None:
    fake = llm_slack.fake
    fake.stream_appends_allowed = 1
    event = await mention(llm_slack, "How long must passwords be?")
    errors = [m for m, a, _ in fake.calls if m == "chat.appendStream"]
    assert len(errors) >= 2  # one taken, then message_not_in_streaming_state
    message = reply_to(fake, "C1", event["ts"])
    final = fake.final_text(message["ts"])
    assert ANSWER.replace("[1]", "").split()[0] in final and "rotated yearly [1]" in final
    shown = json.dumps(message["blocks"], ensure_ascii=False)  # what Slack shows (the text is the fallback)
    assert shown.count("rotated yearly") == 1 and "security-policy.pdf" in shown  # once, whole, with sources


async def test_ask_where_bitrag_is_not_a_member_answers_through_the_response_url(llm_slack: Harness) -> None:
    fake = llm_slack.fake
    fake.add_conversation("CQUIET", "public")
    fake.not_member.add("CQUIET")
    await llm_slack.command("/ask", "How long must passwords be?", channel="CQUIET")
    await wait_for(lambda: fake.webhooks)
    body = json.dumps(fake.webhooks, ensure_ascii=False)
    assert "14 characters long" in body and '"response_type": "in_channel"' in body


async def test_prompts_and_app_home_show_only_what_the_person_may_read(fake_slack, make_settings, embedder) -> None:
    fake_slack.add_conversation(PUBLIC, "public")
    fake_slack.add_conversation(PRIVATE, "private")
    fake_slack.add_conversation(DM_OWNER, "im", user=OWNER)
    fake_slack.add_conversation(DM_OTHER, "im", user=OTHER)
    fake_slack.members[PRIVATE] = {OWNER}  # #legal: the owner is a member, the other user is not
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    scenario = Scenario(harness)
    try:
        wifi, legal, _, salary = SECRETS
        for n, (place, secret) in enumerate(((PUBLIC, wifi), (PRIVATE, legal), (DM_OWNER, salary))):
            await scenario.upload(place, OWNER, secret.name, secret.text.encode(), f"F0HOME{n:04d}")
        await harness.event({"type": "assistant_thread_started", "assistant_thread": {
            "user_id": OTHER, "channel_id": DM_OTHER, "thread_ts": "1700000000.000100",
            "context": {"channel_id": PUBLIC, "team_id": TEAM}}, "event_ts": "1700000000.000100"})
        await wait_for(lambda: "assistant.threads.setSuggestedPrompts" in fake_slack.methods())
        prompts = next(a for m, a, _ in fake_slack.calls if m == "assistant.threads.setSuggestedPrompts")["prompts"]
        assert [p["message"] for p in prompts] == ["What are the key points of wifi.md?"]

        for user, visible, hidden in ((OTHER, {wifi.name}, {legal.name, salary.name}),
                                      (OWNER, {wifi.name, salary.name, legal.name}, set())):
            await harness.event({"type": "app_home_opened", "user": user, "channel": "DHOME", "tab": "home",
                                 "event_ts": "1700000000.000200"})
            await wait_for(lambda u=user: u in fake_slack.homes)
            home = json.dumps(fake_slack.homes[user], ensure_ascii=False)
            assert all(name in home for name in visible), (user, home)
            assert not any(name in home for name in hidden), (user, home)
        # The home follows what its person does: a question asked, a document added.
        question = harness.user_message("What is the guest wifi password in the Lisbon office?", channel=DM_OTHER,
                                        user=OTHER)
        mark = len(fake_slack.calls)
        await harness.event({**question, "type": "message", "channel_type": "im"})
        await wait_for(lambda: fake_slack.finished(mark, question["ts"]) > 0)
        titles = [a["title"] for m, a, _ in fake_slack.calls[mark:] if m == "assistant.threads.setTitle"]
        assert titles == ["What is the guest wifi password in the Lisbon office?"]  # the thread named by it
        await scenario.upload(DM_OTHER, OTHER, "notes.md", b"# Notes\n\nMy locker is 42.\n", "F0HOME0100")
        # The home is published in the background after the upload and the answer: wait for that publish.
        await wait_for(lambda: "notes.md" in json.dumps(fake_slack.homes[OTHER], ensure_ascii=False)
                       and "guest wifi password" in json.dumps(fake_slack.homes[OTHER], ensure_ascii=False))
        home = json.dumps(fake_slack.homes[OTHER], ensure_ascii=False)
        assert "notes.md" in home and "guest wifi password" in home and legal.name not in home
        assert f"https://fake.slack.com/archives/{DM_OTHER}/p" in home  # linked to the answer
        def owner_publishes() -> int:
            return sum(1 for m, a, _ in fake_slack.calls if m == "views.publish" and a["user_id"] == OWNER)

        before = owner_publishes()
        await harness.event({"type": "app_home_opened", "user": OWNER, "channel": "DHOME", "tab": "home",
                             "event_ts": "1700000000.000400"})
        await wait_for(lambda: owner_publishes() > before)  # published again, after notes.md was added
        home = json.dumps(fake_slack.homes[OWNER], ensure_ascii=False)
        assert legal.name in home and "notes.md" not in home  # another person's DM upload stays theirs
    finally:
        await close()


def shortcut(harness: Harness, channel: str, message: dict[str, Any], user: str = OWNER) -> dict[str, Any]:
    return {"type": "message_action", "callback_id": "bitrag_add_message", "token": "legacy", "action_ts": "1",
            "team": {"id": TEAM, "domain": "fake"}, "user": {"id": user, "team_id": TEAM},
            "channel": {"id": channel, "name": channel.lower()}, "message": message, "message_ts": message["ts"],
            "trigger_id": "1.2.3", "response_url": f"{harness.fake.url}/commands/{TEAM}/9/shortcut"}


async def test_add_to_knowledge_base_saves_a_message_or_a_whole_thread(fake_slack, make_settings, embedder) -> None:
    fake_slack.add_conversation(PUBLIC, "public")
    fake_slack.add_conversation(PRIVATE, "private")
    fake_slack.add_conversation("CQUIET", "public")
    fake_slack.not_member.add("CQUIET")
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    service = harness.adapter.core.service
    try:
        single = fake_slack.add_message(PUBLIC, "The office plants are watered on Mondays by Priya.", user=OTHER)
        await interact(harness, shortcut(harness, PUBLIC, single))
        await wait_for(lambda: fake_slack.webhooks)
        assert "added" in fake_slack.webhooks[-1]["text"]
        [document] = await service.sources(TEAM)
        assert document.origin.owner == OWNER and document.link.startswith(f"https://fake.slack.com/archives/{PUBLIC}")

        root = fake_slack.add_message(PRIVATE, "Decision: we move the launch to March.", user=OWNER)
        root["reply_count"] = 2
        fake_slack.add_message(PRIVATE, "Because the auditors need February.", user=OTHER, thread_ts=root["ts"])
        info = fake_slack.add_file("F0MEMO0001", "memo.md", b"# Memo\n\nThe audit starts on February 3.\n",
                                   channel=PRIVATE)
        fake_slack.add_message(PRIVATE, "Memo attached.", user=OTHER, thread_ts=root["ts"], files=[info])
        await interact(harness, shortcut(harness, PRIVATE, root))
        await wait_for(lambda: len(fake_slack.webhooks) == 2)
        private = await service.sources(f"{TEAM}:{PRIVATE}")  # the private channel's audience, not the workspace's
        assert sorted(d.source.split("-")[1] if d.source.startswith("slack-") else d.source for d in private) == [
            "memo.md", "thread"]
        assert len(await service.sources(TEAM)) == 1
        members = Conversation(f"{TEAM}:{PRIVATE}", also_reads=(TEAM,))
        answer = await harness.adapter.core.ask(members, "Why was the launch moved to March?")
        assert any("auditors need February" in s.excerpt for s in answer.sources)  # replies too, not only the parent

        quiet_root = fake_slack.add_message("CQUIET", "A thread bitrag cannot read.", user=OWNER)
        quiet_root["reply_count"] = 3
        await interact(harness, shortcut(harness, "CQUIET", quiet_root))
        await wait_for(lambda: len(fake_slack.webhooks) == 3)
        assert "can't read that thread (not_in_channel)" in fake_slack.webhooks[-1]["text"]
    finally:
        await close()


def every_slack_payload(fake: FakeSlack) -> list[dict[str, Any]]:
    return [args for _, args, _ in fake.calls if args.get("blocks") or args.get("view")] + \
        [w for w in fake.webhooks if w.get("blocks")]


async def test_every_payload_passes_slack_sdks_block_kit_validation(llm_slack: Harness) -> None:
    await mention(llm_slack, "How long must passwords be?")
    await llm_slack.command("/ask", "What is the meal allowance?")
    await wait_for(lambda: sum('"groq · ' in json.dumps(a, ensure_ascii=False) for m, a, _ in llm_slack.fake.calls
                               if m == "chat.update") >= 1)
    await llm_slack.command("/bitrag", "sources")
    await wait_for(lambda: llm_slack.fake.webhooks)
    await llm_slack.event({"type": "app_home_opened", "user": "U1", "channel": "DHOME", "tab": "home",
                           "event_ts": "1700000000.000300"})
    await wait_for(lambda: "U1" in llm_slack.fake.homes)
    payloads = every_slack_payload(llm_slack.fake)
    checked = 0
    for payload in payloads:
        if "view" in payload:
            view = payload["view"] if isinstance(payload["view"], dict) else json.loads(payload["view"])
            View(**view).validate_json()
            checked += 1
        for block in payload.get("blocks") or []:
            parsed = Block.parse(block)
            assert parsed is not None and type(parsed) is not Block, block
            parsed.validate_json()
            checked += 1
    assert checked >= 15
