"""The Discord adapter: the real discord.py client against a fake Discord REST + gateway + CDN on 127.0.0.1, over
the real bot core, Milvus Lite and embedding model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.adapters.discord.bot import BitragDiscord
from bot.adapters.discord.serve import login
from bot.core import BotCore
from bot.feedback import FeedbackStore
from bot.wiring import open_service
from rag.errors import ConfigError
from tests.fakes.discord import BOT_ID, CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, MANAGE_GUILD, TOKEN, FakeDiscord
from tests.fakes.slack import wait_for
from tests.test_pipeline import ingest_samples

USER = 600000000000000001


class Running:
    def __init__(self, fake: FakeDiscord, client: BitragDiscord, task: asyncio.Task) -> None:
        self.fake, self.client, self.task = fake, client, task

    @property
    def service(self):
        return self.client.core.service


async def start_bot(fake: FakeDiscord, make_settings, embedder, **overrides) -> Running:
    settings = make_settings(discord_token=TOKEN, discord_api_url=fake.api, discord_gateway_url=fake.gateway,
                             stream_interval_s=0.2, **overrides)
    service = await open_service(settings, embedder)
    feedback = FeedbackStore("sqlite:///:memory:")
    client = BitragDiscord(BotCore(service, feedback=feedback), settings, feedback, guild_ready_timeout=0.1)
    await login(client)
    task = asyncio.create_task(client.connect(reconnect=True))
    await asyncio.wait_for(client.wait_until_ready(), 15)
    return Running(fake, client, task)


async def stop_bot(running: Running) -> None:
    await running.client.close()
    await asyncio.wait_for(running.task, 10)
    running.client.feedback.close()
    await running.service.close()


@pytest_asyncio.fixture
async def bot(fake_discord, make_settings, embedder) -> AsyncIterator[Running]:
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=f"{GUILD_A},{GUILD_B}")
    await ingest_samples(running.service, str(GUILD_A))
    yield running
    await stop_bot(running)


def final(message: dict) -> bool:
    """A finished answer ends with its footer line (mode and timings)."""
    return "\n-# " in message["content"]


async def ask_by_mention(fake: FakeDiscord, text: str, guild: int = GUILD_A, channel: int = CHANNEL_A) -> dict:
    """Mention the bot; return the finished answer message in the thread it creates."""
    question = await fake.message(channel, USER, f"<@{BOT_ID}> {text}", guild=guild, mentions_bot=True)
    thread = int(question["id"])
    await wait_for(lambda: any(final(m) for m in fake.bot_messages(thread)))
    return next(m for m in fake.bot_messages(thread) if final(m))


async def test_commands_are_registered_per_guild(bot: Running) -> None:
    names = {c["name"] for c in bot.fake.commands[str(GUILD_A)]}
    assert names == {"ask", "ingest", "sources", "forget", "share", "audit", "help", "help-channel",
                     "Add to knowledge base"}
    menu = next(c for c in bot.fake.commands[str(GUILD_A)] if c["name"] == "Add to knowledge base")
    assert menu["type"] == 3  # a message context-menu command
    assert "global" not in bot.fake.commands


async def test_mention_gets_a_thread_with_a_cited_answer_that_pings_nobody(bot: Running) -> None:
    answer = await ask_by_mention(bot.fake, "When does Kestrel v2 ship?")
    assert ("POST", f"/channels/{CHANNEL_A}/typing") in bot.fake.requests or any(
        p.endswith("/typing") for _, p in bot.fake.requests)
    thread = bot.fake.channels[int(answer["channel_id"])]
    assert thread["type"] == 11 and thread["parent_id"] == str(CHANNEL_A)
    assert "September 15" in answer["content"] and "roadmap-q3-2026.pptx" in answer["content"]
    assert "slide 2" in answer["content"] and len(answer["content"]) <= 2000
    buttons = answer["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["👍", "👎"]
    assert_pings_nobody(bot.fake)


def assert_pings_nobody(fake: FakeDiscord) -> None:
    """Every body the fake received that carries text (posts, edits, interaction responses, follow-ups) tells
    Discord to ping no one: the fake stores no mentions, so only what the bot asked for can be checked."""
    with_text = [(path, body) for _, path, body in fake.bodies if isinstance(body, dict) and (
        body.get("content") or (body.get("data") or {}).get("content"))]
    assert with_text
    for path, body in with_text:
        allowed = body.get("allowed_mentions") or (body.get("data") or {}).get("allowed_mentions")
        assert allowed is not None and allowed.get("parse") == [], (path, body)
        assert not allowed.get("users") and not allowed.get("roles") and not allowed.get("replied_user"), path


async def test_thread_follow_up_uses_history(fake_discord, make_settings, embedder, fake_llm) -> None:
    fake_llm.reply = lambda body: f"Answer with {len(body['messages'])} messages [1]."
    running = await start_bot(fake_discord, make_settings, embedder, llm="groq", groq_api_key=fake_llm.api_key,
                              groq_base_url=fake_llm.url)
    try:
        await ingest_samples(running.service, str(GUILD_A))
        first = await ask_by_mention(fake_discord, "When does Kestrel v2 ship?")
        thread = int(first["channel_id"])
        await fake_discord.message(thread, USER, "And what does it add?", guild=GUILD_A)
        await wait_for(lambda: len(fake_llm.requests) == 2)
        messages = fake_llm.requests[1]["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[1]["content"] == "When does Kestrel v2 ship?"
        assert messages[2]["content"].startswith("Answer with 2 messages [1].")
        assert "Question: And what does it add?" in messages[3]["content"]
        # Replying to a bot message continues the conversation too; other chatter is ignored.
        await fake_discord.message(CHANNEL_A, USER, "unrelated chatter", guild=GUILD_A)
        await fake_discord.message(CHANNEL_A, USER, "Does Kestrel v2 add route replay?", guild=GUILD_A,
                                   reply_to=first)
        await wait_for(lambda: len(fake_llm.requests) == 3)
        assert fake_llm.requests[2]["messages"][1]["role"] == "assistant"
    finally:
        await stop_bot(running)


async def test_slash_ask_is_deferred_then_answered(bot: Running) -> None:
    interaction = await bot.fake.interaction("ask", [{"name": "question", "type": 3,
                                                      "value": "How long must passwords be?"}],
                                             GUILD_A, CHANNEL_A, USER)
    await wait_for(lambda: any(final(m) for m in bot.fake.interaction_messages(interaction)))
    first = bot.fake.callbacks[0]  # a message at once (Discord's 3-second window), previews suppressed for good
    assert first["type"] == 4 and first["data"]["flags"] & 4
    answer = next(m for m in bot.fake.interaction_messages(interaction) if final(m))
    assert "14 characters" in answer["content"] and "security-policy.pdf" in answer["content"]


async def attachment_interaction(fake: FakeDiscord, name: str, data: bytes, roles=None, permissions=None) -> dict:
    attachment = fake.attachment(name, data)
    return await fake.interaction("ingest", [{"name": "file", "type": 11, "value": attachment["id"]}], GUILD_A,
                                  CHANNEL_A, USER, roles=roles, permissions=permissions,
                                  resolved={"attachments": {attachment["id"]: attachment}})


async def test_attachment_ingest_then_answerable_and_other_guild_cannot_see_it(bot: Running) -> None:
    data = b"# Parking\n\nThe Zeppelin garage has 12 visitor spaces on level -2.\n"
    interaction = await attachment_interaction(bot.fake, "parking.md", data)
    await wait_for(lambda: any("parking.md: added" in m["content"] for m in bot.fake.interaction_messages(
        interaction)))
    assert bot.fake.cdn_downloads == [f"{n}" for n in bot.fake.attachments]
    answer = await ask_by_mention(bot.fake, "How many visitor spaces does the Zeppelin garage have?")
    assert "12 visitor spaces" in answer["content"] and "parking.md" in answer["content"]
    other = await ask_by_mention(bot.fake, "How many visitor spaces does the Zeppelin garage have?", GUILD_B,
                                 CHANNEL_B)
    assert "parking.md" not in other["content"] and "12 visitor" not in other["content"]
    assert await bot.service.sources(str(GUILD_B)) == []


async def test_mention_with_attachments_and_the_word_ingest(bot: Running) -> None:
    attachment = bot.fake.attachment("canteen.md", b"# Canteen\n\nRamen is served on Tuesdays.\n")
    await bot.fake.message(CHANNEL_A, USER, f"<@{BOT_ID}> ingest", guild=GUILD_A, mentions_bot=True,
                           attachments=[attachment])
    await wait_for(lambda: any("canteen.md: added" in m["content"] for m in bot.fake.bot_messages(CHANNEL_A)))
    status = next(m for m in bot.fake.bot_messages(CHANNEL_A) if "canteen.md: added" in m["content"])
    answer = await ask_by_mention(bot.fake, "What is served on Tuesdays in the canteen?")
    assert f"/channels/{GUILD_A}/{CHANNEL_A}/" in answer["content"]  # linked to the attachment's message
    assert status["content"].startswith("**1 document(s) added")


async def test_oversized_and_unsupported_attachments_are_refused_unread(fake_discord, make_settings,
                                                                        embedder) -> None:
    running = await start_bot(fake_discord, make_settings, embedder, max_file_mb=0.001)
    try:
        big = fake_discord.attachment("big.md", b"# Big\n" + b"x" * 5000)
        odd = fake_discord.attachment("movie.mov", b"\x00" * 10)
        await fake_discord.message(CHANNEL_A, USER, f"<@{BOT_ID}> ingest", guild=GUILD_A, mentions_bot=True,
                                   attachments=[big, odd])
        await wait_for(lambda: any("2 failed" in m["content"] for m in fake_discord.bot_messages(CHANNEL_A)))
        status = next(m for m in fake_discord.bot_messages(CHANNEL_A) if "2 failed" in m["content"])
        shown = status["content"].replace("\\", "")  # as Discord renders it: "MAX\_FILE\_MB" shows MAX_FILE_MB
        assert "MAX_FILE_MB" in shown and "movie.mov: this file type is not supported" in shown
        assert fake_discord.cdn_downloads == []
        assert await running.service.sources(str(GUILD_A)) == []
    finally:
        await stop_bot(running)


async def test_user_without_the_role_is_refused(fake_discord, make_settings, embedder) -> None:
    librarian = fake_discord.add_role(GUILD_A, "librarian")  # exists before the bot connects (in GUILD_CREATE)
    running = await start_bot(fake_discord, make_settings, embedder, discord_ingest_allowed="role:librarian")
    try:
        await attachment_interaction(fake_discord, "notes.md", b"# Notes\n\nThe offsite is in Porto.\n")
        await wait_for(lambda: fake_discord.callbacks)
        refusal = fake_discord.callbacks[0]
        assert refusal["type"] == 4 and refusal["data"]["flags"] & 64  # an ephemeral message
        assert "only members with the librarian role" in refusal["data"]["content"]
        assert fake_discord.cdn_downloads == []
        allowed = await attachment_interaction(fake_discord, "notes.md", b"# Notes\n\nThe offsite is in Porto.\n",
                                               roles=[librarian])
        await wait_for(lambda: any("notes.md: added" in m["content"]
                                   for m in fake_discord.interaction_messages(allowed)))
    finally:
        await stop_bot(running)


async def test_manage_server_policy(fake_discord, make_settings, embedder) -> None:
    running = await start_bot(fake_discord, make_settings, embedder, discord_ingest_allowed="manage_guild")
    try:
        await attachment_interaction(fake_discord, "notes.md", b"# Notes\n\nThe offsite is in Porto.\n")
        await wait_for(lambda: fake_discord.callbacks)
        assert "only admins can add documents" in fake_discord.callbacks[-1]["data"]["content"]
        assert fake_discord.cdn_downloads == []
        allowed = await attachment_interaction(fake_discord, "notes.md", b"# Notes\n\nThe offsite is in Porto.\n",
                                               permissions=MANAGE_GUILD)
        await wait_for(lambda: any("notes.md: added" in m["content"]
                                   for m in fake_discord.interaction_messages(allowed)))
    finally:
        await stop_bot(running)


async def test_a_429_with_retry_after_is_survived(bot: Running) -> None:
    bot.fake.rate_limit("POST", f"/channels/{CHANNEL_A}/messages/", times=1)  # the thread creation
    started = time.monotonic()
    answer = await ask_by_mention(bot.fake, "What is the meal allowance?")
    assert "60 EUR" in answer["content"]
    creations = [p for m, p in bot.fake.requests if m == "POST" and p.endswith("/threads")]
    assert len(creations) == 2 and time.monotonic() - started >= 0.3


async def test_gateway_reconnect_resumes_and_keeps_answering(bot: Running) -> None:
    await bot.fake.drop()
    await wait_for(lambda: bot.fake.resumes == 1 and bot.fake._sockets)
    assert bot.fake.identifies == 1  # resumed the session, did not log in again
    answer = await ask_by_mention(bot.fake, "How many days of paid vacation do employees get?")
    assert "28 days" in answer["content"]


async def test_dm_uses_a_per_user_knowledge_base(bot: Running) -> None:
    dm = 500000000000000009
    bot.fake.channels[dm] = {"id": str(dm), "type": 1, "recipients": [{"id": str(USER), "username": "u",
                                                                       "discriminator": "0", "avatar": None}]}
    attachment = bot.fake.attachment("diary.md", b"# Diary\n\nMy locker number is 4711.\n")
    await bot.fake.message(dm, USER, "please keep this", attachments=[attachment])
    await wait_for(lambda: any("diary.md: added" in m["content"] for m in bot.fake.bot_messages(dm)))
    assert [d.source for d in await bot.service.sources(f"dm:{USER}")] == ["diary.md"]
    assert "diary.md" not in [d.source for d in await bot.service.sources(str(GUILD_A))]


async def test_invalid_and_missing_tokens_are_clear_errors(fake_discord, make_settings, embedder) -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        BitragDiscord(None, make_settings(), None)  # type: ignore[arg-type]
    settings = make_settings(discord_token="MTAw.wrong.token", discord_api_url=fake_discord.api)
    client = BitragDiscord(None, settings, None)  # type: ignore[arg-type]
    try:
        with pytest.raises(ConfigError, match="Discord rejected DISCORD_TOKEN") as raised:
            await login(client)
        assert "wrong" not in str(raised.value)
    finally:
        await client.close()


async def test_vote_buttons_store_the_vote_with_the_answer(bot: Running) -> None:
    answer = await ask_by_mention(bot.fake, "What is the learning budget?")
    _up, down = answer["components"][0]["components"]
    await bot.fake.click(answer, down["custom_id"], GUILD_A, USER)
    await wait_for(lambda: bot.fake.callbacks)
    assert bot.fake.callbacks[-1]["data"]["content"] == "Thanks for the feedback!"
    answer_id = down["custom_id"].rsplit(":", 1)[1]
    assert bot.client.feedback.votes(answer_id) == [(str(USER), -1)]
    assert bot.client.feedback.answer(answer_id)["question"] == "What is the learning budget?"


async def test_answers_suppress_pings_and_link_previews(bot: Running) -> None:
    await ask_by_mention(bot.fake, "What is the learning budget?")
    sent = [body for method, path, body in bot.fake.bodies if method == "POST" and path.endswith("/messages")]
    assert sent and all(body.get("allowed_mentions") == {"parse": []} for body in sent)
    assert all(body.get("flags", 0) & 4 for body in sent)  # SUPPRESS_EMBEDS


async def test_reply_in_the_channel_where_threads_are_not_allowed(bot: Running) -> None:
    bot.fake.threads_forbidden = True
    question = await bot.fake.message(CHANNEL_A, USER, f"<@{BOT_ID}> How long must passwords be?", guild=GUILD_A,
                                      mentions_bot=True)
    await wait_for(lambda: any(final(m) for m in bot.fake.bot_messages(CHANNEL_A)))
    answer = next(m for m in bot.fake.bot_messages(CHANNEL_A) if final(m))
    assert str(answer["message_reference"]["message_id"]) == question["id"]
    assert "14 characters" in answer["content"]


async def test_add_to_knowledge_base_on_a_message(bot: Running) -> None:
    attachment = bot.fake.attachment("minutes.md", b"# Minutes\n\nThe board approved the Lisbon office.\n")
    message = await bot.fake.message(CHANNEL_A, USER, "Heads up: the canteen closes at 15:00 on Fridays.",
                                     guild=GUILD_A, attachments=[attachment])
    interaction = await bot.fake.message_command("Add to knowledge base", message, GUILD_A, CHANNEL_A, USER)
    await wait_for(lambda: any("added" in m["content"] for m in bot.fake.interaction_messages(interaction)))
    assert bot.fake.callbacks[-1]["data"]["flags"] & 64  # told privately
    documents = {d.source: d for d in await bot.service.sources(str(GUILD_A))}
    saved = next(d for name, d in documents.items() if name.startswith("discord-message-"))
    assert "minutes.md" in documents and saved.link.endswith(f"/{GUILD_A}/{CHANNEL_A}/{message['id']}")
    answer = await ask_by_mention(bot.fake, "When does the canteen close on Fridays?")
    assert "15:00" in answer["content"] and "discord-message-" in answer["content"]
