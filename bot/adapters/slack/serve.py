"""Running the Slack app: Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), else HTTP mode with
`POST /slack/events` on aiohttp (signatures verified by bolt)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.adapters.slack.app import SlackAdapter
from bot.webserver import serve_app

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


async def start_http(adapter: SlackAdapter, port: int, host: str = "0.0.0.0") -> tuple[web.AppRunner, int]:
    """Serve the bolt app's aiohttp application; returns the runner and the bound port (port 0 picks one)."""
    return await serve_app(adapter.app.web_app(path=EVENTS_PATH), host, port)


async def serve(adapter: SlackAdapter, port: int, stop: asyncio.Event | None = None) -> None:
    identity = await adapter.verify()
    await adapter.resume_jobs()
    stop = stop or asyncio.Event()
    if adapter.settings.slack_app_token is not None:
        handler = AsyncSocketModeHandler(adapter.app, adapter.settings.slack_app_token.get_secret_value())
        await handler.connect_async()
        log.warning("Slack: connected in Socket Mode to %s as %s", identity.get("team"), identity.get("user"))
        try:
            await stop.wait()
        finally:
            await handler.close_async()
        return
    runner, port = await start_http(adapter, port)
    log.warning("Slack: HTTP mode, listening on :%d%s for %s", port, EVENTS_PATH, identity.get("team"))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
