"""Secrets never leak: every token and key is set to a recognizable value, every failure path that involves them
is driven with all loggers at DEBUG, and the logs, the exceptions and the replies are searched for the values."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.adapters.discord.bot import BitragDiscord
from bot.adapters.discord.serve import login
from bot.adapters.slack.app import SlackAdapter
from bot.core import BotCore, Conversation
from bot.feedback import FeedbackStore
from bot.settings import Settings
from bot.wiring import open_service
from rag.embed import LocalEncoder
from rag.errors import BitragError
from tests.fakes.discord import FakeDiscord
from tests.fakes.llm import FakeLLM
from tests.fakes.slack import FakeSlack
from tests.test_pipeline import ingest_samples

SECRETS = {
    "groq_api_key": "gsk-LEAKCHECK-groq-0001", "openai_api_key": "sk-LEAKCHECK-openai-0002",
    "llm_api_key": "sk-LEAKCHECK-llm-0003", "milvus_token": "root:LEAKCHECK-milvus-0004",
    "slack_bot_token": "xoxb-LEAKCHECK-slack-0005", "slack_signing_secret": "LEAKCHECK-signing-0006",
    "slack_app_token": "xapp-LEAKCHECK-app-0007", "discord_token": "MTAw.LEAKCHECK.discord-0008",
}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for name, value in SECRETS.items():
            assert value not in text, f"{name} leaked"
            assert "LEAKCHECK" not in text, f"a fragment of a secret leaked: {text[:200]}"


async def test_no_secret_in_logs_errors_or_replies(make_settings: Callable[..., Settings], embedder: LocalEncoder,
                                                   fake_llm: FakeLLM, fake_slack: FakeSlack,
                                                   fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # every library's debug output included
    seen: list[str] = []
    settings = make_settings(**SECRETS, llm="groq", groq_base_url=fake_llm.url,
                             slack_api_url=f"{fake_slack.url}/api/", discord_api_url=fake_discord.api)
    seen += [repr(settings), str(settings), settings.model_dump_json()]

    service = await open_service(settings, embedder)  # Lite ignores the token
    try:
        await ingest_samples(service)
        view = await BotCore(service).ask(Conversation(tenant="acme"), "How many days of paid vacation?")  # LLM 401
        seen.append(repr(view))
        with pytest.raises(BitragError) as slack_error:
            await SlackAdapter(BotCore(service), settings, FeedbackStore("sqlite:///:memory:")).verify()
        seen.append(str(slack_error.value))
    finally:
        await service.close()

    client = BitragDiscord(None, settings, None)  # type: ignore[arg-type]
    try:
        with pytest.raises(BitragError) as discord_error:
            await login(client)
        seen.append(str(discord_error.value))
    finally:
        await client.close()

    unreachable = make_settings(**SECRETS, milvus_uri="http://bitrag:LEAKCHECK-pw@127.0.0.1:9", llm="extractive",
                                milvus_startup_wait_s=0)
    with pytest.raises(BitragError) as milvus_error:
        await open_service(unreachable, embedder)
    seen.append(str(milvus_error.value))

    captured = capsys.readouterr()
    assert "GROQ_API_KEY" in seen[3]  # the reply names the setting to fix…
    assert_no_secret(*seen, caplog.text, captured.out, captured.err)  # …and nothing shows its value
    assert fake_llm.statuses == [401] and len(caplog.records) > 20


def test_a_wrong_milvus_uri_is_named_without_its_credentials() -> None:
    from rag.errors import ConfigError
    from rag.settings import RagSettings, load_settings

    with pytest.raises(ConfigError) as raised:
        load_settings(RagSettings, _env_file=None, milvus_uri="htp://root:LEAKCHECK-pw@milvus:19530")
    assert "MILVUS_URI" in str(raised.value) and "http(s)://host:19530" in str(raised.value)
    assert_no_secret(str(raised.value))
