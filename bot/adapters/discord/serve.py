"""Running the Discord bot. `DISCORD_API_URL` and `DISCORD_GATEWAY_URL` point discord.py at another REST base and
gateway (a proxy, or the fake Discord of the tests)."""

from __future__ import annotations

import logging

import discord
import yarl

from bot.adapters.discord.bot import BitragDiscord
from bot.settings import Settings
from bot.terms import ConfigError

log = logging.getLogger(__name__)


def configure_endpoints(settings: Settings) -> None:
    if settings.discord_api_url:
        discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def login(client: BitragDiscord) -> None:
    """Log in (REST), turning a rejected token into a clear error that names the variable."""
    configure_endpoints(client.settings)
    try:
        await client.login(client.settings.discord_bot_token())
    except discord.LoginFailure:
        raise ConfigError("Discord rejected DISCORD_TOKEN (401): reset the token in the Developer Portal › Bot and "
                          "copy the new one into .env") from None


async def serve(client: BitragDiscord) -> None:
    await login(client)
    try:
        await client.connect(reconnect=True)
    except discord.PrivilegedIntentsRequired:
        raise ConfigError("Enable the MESSAGE CONTENT privileged intent: Developer Portal › your application › Bot › "
                          "Privileged Gateway Intents") from None
    finally:
        await client.close()
