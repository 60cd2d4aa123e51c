"""Shared fixtures: one real embedding model per session, and a fresh Milvus Lite + registry per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.settings import Settings
from bot.wiring import open_service
from rag.embed import LocalEncoder, create_local_embedder
from rag.service import RagService
from tests.fakes.discord import FakeDiscord
from tests.fakes.llm import FakeLLM
from tests.fakes.slack import FakeSlack
from tests.milvus_server import milvus_server

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = ROOT / "examples" / "docs"
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"

# slack_sdk ignores NO_PROXY, and nothing here needs a proxy: every peer is on 127.0.0.1.
for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(variable, None)
os.environ["HF_HUB_OFFLINE"] = "1"
# Nothing a test leaves unset lands in the developer's own BITRAG_HOME (~/.local/share/bitrag).
os.environ["BITRAG_HOME"] = tempfile.mkdtemp(prefix="bitrag-tests-")


@pytest.fixture(scope="session")
def embedder() -> LocalEncoder:
    """The local model in the runtime a default install uses on this machine (EMBED_RUNTIME=auto)."""
    return create_local_embedder(Settings(_env_file=None))  # type: ignore[call-arg]


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings isolated from the developer's .env and data/: everything lives in tmp_path."""

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {"milvus_uri": str(tmp_path / "milvus.db"),
                                     "registry_url": f"sqlite:///{tmp_path / 'registry.sqlite3'}", "llm": "extractive",
                                     "feedback_url": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
                                     "uploads_dir": tmp_path / "uploads"}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest_asyncio.fixture
async def service(make_settings: Callable[..., Settings], embedder: LocalEncoder) -> AsyncIterator[RagService]:
    svc = await open_service(make_settings(), embedder)
    yield svc
    await svc.close()


# The session's Milvus server is secured like a production one (authorizationEnabled; Milvus' default root user):
# every test that uses it passes MILVUS_TOKEN.
MILVUS_SERVER_TOKEN = "root:Milvus"


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Milvus standalone server for the session, started on first use (~10 s)."""
    with milvus_server(tmp_path_factory.mktemp("milvus-server"),
                       config={"common.security.authorizationEnabled": "true"}) as uri:
        yield uri


@pytest_asyncio.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    server = await FakeLLM().start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The fake Discord; DISCORD_API_URL / DISCORD_GATEWAY_URL set class attributes of discord.py, which are put
    back after the test."""
    import discord

    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    fake = await FakeDiscord().start()
    yield fake
    await fake.stop()
