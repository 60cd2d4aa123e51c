"""Serving an aiohttp application on a port, for the Slack HTTP endpoint, the metrics endpoint and test fakes."""

from __future__ import annotations

from aiohttp import web


async def serve_app(app: web.Application, host: str, port: int, access_log: bool = True,
                    ) -> tuple[web.AppRunner, int]:
    """Start serving `app`; returns its runner (call `cleanup()` to stop) and the bound port (port 0 picks one)."""
    runner = web.AppRunner(app, **({} if access_log else {"access_log": None}))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
