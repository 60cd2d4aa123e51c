"""`ingest <url>`: a real aiohttp site on 127.0.0.1, fetched by the bot core (CLI, REPL, web UI), Slack's
`/ingest <url>` and a Discord mention — with robots.txt, size, type, time and private-address limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest_asyncio
from aiohttp import web

from bot.core import BotCore, Conversation
from bot.settings import Settings
from bot.views import IngestView
from bot.webserver import serve_app
from bot.wiring import open_service
from rag.embed import LocalEncoder
from tests.test_discord import (
    BOT_ID,
    CHANNEL_A,
    GUILD_A,
    USER,
    Running,
    ask_by_mention,
    start_bot,
    stop_bot,
)
from tests.test_slack import make_harness, posted, wait_for

PAGE = b"""<html><body><nav>Home | Pricing</nav><main><h1>Travel handbook</h1><h2>Trains</h2>
<p>Book second class for trips under four hours; first class above that.</p></main>
<footer>Copyright</footer></body></html>"""


@pytest_asyncio.fixture
async def site() -> AsyncIterator[str]:
    def page(body: bytes, content_type: str, delay_s: float = 0) -> Callable:
        async def handler(_: web.Request) -> web.Response:
            await asyncio.sleep(delay_s)
            return web.Response(body=body, content_type=content_type)
        return handler

    app = web.Application()
    app.router.add_get("/robots.txt", page(b"User-agent: *\nDisallow: /private/\n", "text/plain"))
    app.router.add_get("/docs/travel", page(PAGE, "text/html"))
    app.router.add_get("/private/salaries", page(b"secret", "text/plain"))
    app.router.add_get("/big.txt", page(b"x" * 3 * 2**20, "text/plain"))
    app.router.add_get("/logo.png", page(b"\x89PNG", "image/png"))
    app.router.add_get("/slow", page(b"late", "text/plain", delay_s=5))

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound("/docs/travel")

    async def to_metadata(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    app.router.add_get("/old-travel", moved)
    app.router.add_get("/sneaky", to_metadata)
    runner, port = await serve_app(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_urls_are_fetched_ingested_and_cited_with_their_address(
        site: str, make_settings: Callable[..., Settings], embedder: LocalEncoder) -> None:
    settings = make_settings(url_allow_private="true", max_file_mb=2, url_timeout_s=1)
    service = await open_service(settings, embedder)
    core = BotCore(service)
    try:
        targets = [f"{site}/docs/travel", f"{site}/private/salaries", f"{site}/big.txt", f"{site}/logo.png",
                   f"{site}/slow", f"{site}/missing"]
        view = await core.ingest_paths(Conversation("acme"), targets)
        assert isinstance(view, IngestView)
        results = {r.name: (r.status, r.reason or "") for r in view.report.results}
        assert results["travel.html"][0] == "added"
        assert "robots.txt does not allow" in results[f"{site}/private/salaries"][1]
        assert "larger than 2 MB (MAX_FILE_MB)" in results[f"{site}/big.txt"][1]
        assert "image/png, which bitrag does not read" in results[f"{site}/logo.png"][1]
        assert "did not answer within 1 s" in results[f"{site}/slow"][1]
        assert "HTTP 404" in results[f"{site}/missing"][1]

        answer = await service.ask("Which class do I book for a three hour train trip?", "acme")
        source = answer.sources[0]
        assert (source.source, source.location, source.link) == ("travel.html", "Travel handbook › Trains",
                                                                 f"{site}/docs/travel")
        assert "Pricing" not in source.text and "Copyright" not in source.text
        again = await core.ingest_paths(Conversation("acme"), [f"{site}/docs/travel"])
        assert again.report.count("unchanged") == 1  # the URL is the document's key
        moved = await core.ingest_paths(Conversation("acme"), [f"{site}/old-travel"])  # redirected to the same page
        assert moved.report.results[0].reason == "the same content is already in the knowledge base as travel.html"
    finally:
        await service.close()


async def test_private_addresses_are_refused_by_default(site: str, make_settings: Callable[..., Settings],
                                                        embedder: LocalEncoder) -> None:
    service = await open_service(make_settings(), embedder)
    try:
        localhost = site.replace("127.0.0.1", "localhost")
        view = await BotCore(service).ingest_paths(Conversation("acme"), [
            f"{site}/docs/travel", "http://169.254.169.254/latest/meta-data/", f"{localhost}/docs/travel",
            "file:///etc/passwd"])
        reasons = [r.reason for r in view.report.failed]
        assert "127.0.0.1 is a private or local address" in reasons[0] and "URL_ALLOW_PRIVATE" in reasons[0]
        assert "169.254.169.254 is a private or local address" in reasons[1]  # cloud metadata
        assert "localhost is a private or local address (127.0.0.1)" in reasons[2]  # a name, checked by DNS answer
        assert view.report.failed[3].name == "file:/etc/passwd" and "no such file" in reasons[3]  # no URL: a path
    finally:
        await service.close()


async def test_a_redirect_into_the_network_is_refused(site: str, make_settings: Callable[..., Settings],
                                                      embedder: LocalEncoder) -> None:
    """URL_ALLOW_PRIVATE opens exactly the networks it lists: the test site on 127.0.0.1 is allowed, and its page
    that redirects to the cloud metadata address is refused at the hop."""
    service = await open_service(make_settings(url_allow_private="127.0.0.1/32"), embedder)
    try:
        view = await BotCore(service).ingest_paths(Conversation("acme"), [f"{site}/docs/travel", f"{site}/sneaky"])
        results = {r.name: r for r in view.report.results}
        assert results["travel.html"].status == "added"
        assert "169.254.169.254 is a private or local address" in results[f"{site}/sneaky"].reason
    finally:
        await service.close()


async def test_slack_slash_ingest_of_a_web_page(site: str, fake_slack, make_settings, embedder) -> None:
    harness, close = await make_harness(fake_slack, make_settings, embedder, url_allow_private="true")
    try:
        await harness.command("/ingest", f"<{site}/docs/travel>")
        await wait_for(lambda: posted(fake_slack, "C1", "travel.html: added"))
        await harness.command("/ask", "Which class for a long train trip?")
        await wait_for(lambda: fake_slack.messages.get("C1") and any(
            "travel.html" in fake_slack.final_text(m["ts"]) for m in fake_slack.messages["C1"][1:]))
    finally:
        await close()


async def test_discord_mention_ingest_with_a_link(site: str, fake_discord, make_settings, embedder) -> None:
    running: Running = await start_bot(fake_discord, make_settings, embedder, url_allow_private="true")
    try:
        await fake_discord.message(CHANNEL_A, USER, f"<@{BOT_ID}> ingest <{site}/docs/travel>", guild=GUILD_A,
                                   mentions_bot=True)
        await wait_for(lambda: any("travel.html: added" in m["content"] for m in fake_discord.bot_messages(CHANNEL_A)))
        answer = await ask_by_mention(fake_discord, "Which class do I book for trains under four hours?")
        assert "second class" in answer["content"] and "travel.html" in answer["content"]
    finally:
        await stop_bot(running)

