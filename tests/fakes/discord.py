"""A fake Discord on 127.0.0.1 for the real discord.py client: REST (`/api/v10/...`), the gateway (websocket, JSON
text frames) and the attachment CDN.

It keeps the state discord.py reads back: messages per channel (history, fetch), threads (created on a message,
announced with THREAD_CREATE as Discord does), registered application commands, interaction responses and
webhook follow-ups. Tests drive it with `message(...)`, `interaction(...)`, `rate_limit(...)` and `drop()`.
Every JSON answer has the exact `application/json` content type discord.py requires.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.webserver import serve_app

TOKEN = "MTAw.fake.token"
APP_ID = 900000000000000001
BOT_ID = 900000000000000002
GUILD_A = 800000000000000001
GUILD_B = 800000000000000002
CHANNEL_A = 700000000000000001
CHANNEL_B = 700000000000000002
VIEW_CHANNEL = 0x400
EVERYONE_PERMS = str(0x400 | 0x800 | 0x4000 | 0x10000 | 0x800000000 | 0x4000000000)  # view, send, links, history…
MANAGE_GUILD = 0x20


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json",
                        headers=headers)


def user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name, "avatar": None,
            "bot": bot, "public_flags": 0}


BOT_USER = user(BOT_ID, "bitrag", bot=True)


@dataclass
class FakeDiscord:
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    attachments: dict[str, bytes] = field(default_factory=dict)
    cdn_downloads: list[str] = field(default_factory=list)
    rate_limits: dict[str, int] = field(default_factory=dict)  # "METHOD path-prefix" → 429s to answer first
    roles: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    bodies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (method, path, JSON payload)
    threads_forbidden: bool = False
    hidden: set[int] = field(default_factory=set)  # channels bitrag cannot view: not in GUILD_CREATE, no events
    dms: dict[int, int] = field(default_factory=dict)  # user → the DM channel bitrag opened with them
    reactions: list[tuple[int, int, str]] = field(default_factory=list)  # (channel, message, emoji) bitrag added
    identifies: int = 0
    resumes: int = 0
    url: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(100000000000000000))
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{name:.*}", self._cdn)
        self._runner, port = await serve_app(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}"
        for guild, channel in ((GUILD_A, CHANNEL_A), (GUILD_B, CHANNEL_B)):
            self.roles[guild] = {"id": str(guild), "name": "@everyone", "permissions": EVERYONE_PERMS, "position": 0,
                                 "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
            self.channels[channel] = {"id": str(channel), "type": 0, "guild_id": str(guild), "name": "general",
                                      "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None}
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway(self) -> str:
        return self.url.replace("http://", "ws://") + "/gateway"

    def snowflake(self) -> int:
        return next(self._ids)

    # --- what tests do ---------------------------------------------------------------------------------------

    def add_role(self, guild: int, name: str, permissions: int = 0) -> int:
        role_id = self.snowflake()
        self.roles[role_id] = {"id": str(role_id), "name": name, "permissions": str(permissions), "position": 1,
                               "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0,
                               "guild_id": guild}
        return role_id

    def add_channel(self, guild: int, name: str, private: bool = False, overwrites: list[dict] | None = None,
                    parent: int | None = None, kind: int = 0) -> int:
        """A text channel (`kind` 4: a category); a private one denies @everyone (the role whose id is the guild's)
        VIEW_CHANNEL, as Discord's "Private Channel" switch does; `overwrites` are its own (a channel synced with
        its category carries a copy of the category's). Add it before the bot connects: it comes in GUILD_CREATE."""
        channel = self.snowflake()
        overwrites = list(overwrites or []) + (
            [{"id": str(guild), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)}] if private else [])
        self.channels[channel] = {"id": str(channel), "type": kind, "guild_id": str(guild), "name": name,
                                  "position": len(self.channels), "permission_overwrites": overwrites,
                                  "nsfw": False, "parent_id": str(parent) if parent else None}
        return channel

    async def update_channel(self, channel: int, overwrites: list[dict[str, Any]]) -> None:
        """An admin edits a channel's permissions: stored, then CHANNEL_UPDATE, as Discord sends it."""
        self.channels[channel]["permission_overwrites"] = overwrites
        await self.dispatch("CHANNEL_UPDATE", self.channels[channel])

    async def forum_post(self, forum: int, guild: int, author_id: int, title: str, content: str) -> dict[str, Any]:
        """A new post in a forum channel: a public thread whose first message has the thread's id (THREAD_CREATE,
        then MESSAGE_CREATE in the thread, as Discord sends them)."""
        thread = self.add_thread(guild, forum, title, owner=author_id, private=False)
        await self.dispatch("THREAD_CREATE", {**self.channels[thread], "newly_created": True})
        return await self.message(thread, author_id, content, guild=guild, message_id=thread)

    async def react(self, message: dict[str, Any], user_id: int, emoji: str = "✅", removed: bool = False,
                    guild: int | None = None) -> None:
        """Someone adds (or takes back) a reaction: MESSAGE_REACTION_ADD / _REMOVE."""
        data = {"user_id": str(user_id), "channel_id": message["channel_id"], "message_id": message["id"],
                "emoji": {"id": None, "name": emoji}, "type": 0, "burst": False}
        if guild is not None:
            data["guild_id"] = str(guild)
            if not removed:
                data["member"] = {k: v for k, v in self.member(guild, user_id, f"user{user_id}").items()}
        await self.dispatch("MESSAGE_REACTION_REMOVE" if removed else "MESSAGE_REACTION_ADD", data)

    async def delete(self, message: dict[str, Any], guild: int) -> None:
        self.messages[int(message["channel_id"])].remove(message)
        await self.dispatch("MESSAGE_DELETE", {"id": message["id"], "channel_id": message["channel_id"],
                                               "guild_id": str(guild)})

    async def update_role(self, role: int, permissions: int) -> None:
        """An admin edits a role's permissions (the @everyone role's id is the guild's): GUILD_ROLE_UPDATE."""
        self.roles[role]["permissions"] = str(permissions)
        guild = self.roles[role].get("guild_id", role)
        await self.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild), "role": self.roles[role]})

    def add_thread(self, guild: int, parent: int, name: str, owner: int, private: bool = True) -> int:
        """A thread started by a user (type 12 private, 11 public), listed in GUILD_CREATE's active threads."""
        thread = self.snowflake()
        self.channels[thread] = {"id": str(thread), "type": 12 if private else 11, "guild_id": str(guild),
                                 "parent_id": str(parent), "owner_id": str(owner), "name": name, "message_count": 0,
                                 "member_count": 2, "rate_limit_per_user": 0, "flags": 0,
                                 "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                                     "locked": False, "invitable": False,
                                                     "archive_timestamp": _now()}}
        return thread

    def member(self, guild: int, user_id: int, name: str, roles: list[int] | None = None) -> dict[str, Any]:
        data = {"user": user(user_id, name), "roles": [str(r) for r in roles or []], "joined_at": _now(),
                "deaf": False, "mute": False, "flags": 0, "nick": None}
        self.members[(guild, user_id)] = data
        return data

    def attachment(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> dict[str, Any]:
        attachment_id = self.snowflake()
        self.attachments[f"{attachment_id}/{name}"] = data
        url = f"{self.url}/attachments/{attachment_id}/{name}"
        return {"id": str(attachment_id), "filename": name, "size": len(data), "url": url, "proxy_url": url,
                "content_type": content_type}

    async def message(self, channel: int, author_id: int, content: str, guild: int | None = None,
                      mentions_bot: bool = False, attachments: list[dict[str, Any]] | None = None,
                      reply_to: dict[str, Any] | None = None, roles: list[int] | None = None,
                      message_id: int | None = None) -> dict[str, Any]:
        """A user posts a message: stored, then dispatched as MESSAGE_CREATE."""
        data = self._message(channel, user(author_id, f"user{author_id}"), content, guild)
        if message_id is not None:
            data["id"] = str(message_id)
        data["mentions"] = [BOT_USER] if mentions_bot else []
        data["attachments"] = attachments or []
        if guild is not None:
            data["member"] = {k: v for k, v in self.member(guild, author_id, f"user{author_id}", roles).items()
                              if k != "user"}
        if reply_to is not None:
            data["type"] = 19
            data["message_reference"] = {"message_id": reply_to["id"], "channel_id": reply_to["channel_id"],
                                         "guild_id": str(guild) if guild else None}
            data["referenced_message"] = reply_to
        self.messages.setdefault(channel, []).append(data)
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    async def interaction(self, name: str, options: list[dict[str, Any]], guild: int, channel: int, user_id: int,
                          roles: list[int] | None = None, resolved: dict[str, Any] | None = None,
                          permissions: int | None = None, dispatch: bool = True) -> dict[str, Any]:
        """A user runs an application command: dispatched as INTERACTION_CREATE."""
        member = self.member(guild, user_id, f"user{user_id}", roles)
        perms = int(EVERYONE_PERMS) | (permissions or 0)
        token = f"tok{self.snowflake()}"
        partial = {k: v for k, v in self.channels[channel].items() if k != "permission_overwrites"}  # as Discord
        data = {"id": str(self.snowflake()), "application_id": str(APP_ID), "type": 2, "token": token,
                "version": 1, "guild_id": str(guild), "channel_id": str(channel),
                "channel": partial, "member": {**member, "permissions": str(perms)},
                "app_permissions": EVERYONE_PERMS, "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
                "authorizing_integration_owners": {}, "context": 0, "attachment_size_limit": 26214400,
                "data": {"id": str(self.snowflake()), "name": name, "type": 1, "options": options,
                         **({"resolved": resolved} if resolved else {})}}
        if dispatch:
            await self.dispatch("INTERACTION_CREATE", data)
        return data

    async def message_command(self, name: str, message: dict[str, Any], guild: int, channel: int,
                              user_id: int) -> dict[str, Any]:
        """A user runs a message context-menu command ("Apps › …" on a message): an application command of type 3
        whose target is that message."""
        data = await self.interaction(name, [], guild, channel, user_id, dispatch=False,
                                      resolved={"messages": {message["id"]: message}})
        data["data"].update(type=3, target_id=message["id"])
        data["data"].pop("options")
        await self.dispatch("INTERACTION_CREATE", data)
        return data

    async def click(self, message: dict[str, Any], custom_id: str, guild: int, user_id: int) -> dict[str, Any]:
        """A user clicks a button on a message: INTERACTION_CREATE of type 3 (message component)."""
        channel = int(message["channel_id"]) if int(message["channel_id"]) in self.channels else CHANNEL_A
        data = {"id": str(self.snowflake()), "application_id": str(APP_ID), "type": 3,
                "token": f"tok{self.snowflake()}", "version": 1, "guild_id": str(guild), "channel_id": str(channel),
                "channel": {**self.channels[channel]}, "message": message, "app_permissions": EVERYONE_PERMS,
                "member": {**self.member(guild, user_id, f"user{user_id}"), "permissions": EVERYONE_PERMS},
                "locale": "en-US", "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {},
                "context": 0, "attachment_size_limit": 26214400,
                "data": {"custom_id": custom_id, "component_type": 2}}
        await self.dispatch("INTERACTION_CREATE", data)
        return data

    def rate_limit(self, method: str, path_prefix: str, times: int = 1) -> None:
        self.rate_limits[f"{method} {path_prefix}"] = times

    async def drop(self) -> None:
        """Close every gateway connection with a resumable code, as Discord does on a server restart."""
        for ws in list(self._sockets):
            await ws.close(code=4000, message=b"fake restart")

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    def bot_messages(self, channel: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.get(channel, []) if m["author"]["id"] == str(BOT_ID)]

    def all_bot_messages(self) -> list[dict[str, Any]]:
        return [m for ms in self.messages.values() for m in ms if m["author"]["id"] == str(BOT_ID)]

    # --- REST ------------------------------------------------------------------------------------------------

    def _message(self, channel: int, author: dict[str, Any], content: str, guild: int | None) -> dict[str, Any]:
        data = {"id": str(self.snowflake()), "channel_id": str(channel), "author": author, "content": content,
                "timestamp": _now(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
                "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0,
                "flags": 0, "components": []}
        if guild is not None:
            data["guild_id"] = str(guild)
        return data

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            return json.loads(form.get("payload_json", "{}"))  # type: ignore[arg-type]
        return {}

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        self.requests.append((request.method, path))
        for key, remaining in self.rate_limits.items():
            method, prefix = key.split(" ", 1)
            if remaining and request.method == method and path.startswith(prefix):
                self.rate_limits[key] = remaining - 1
                return _json({"message": "You are being rate limited.", "retry_after": 0.3, "global": False}, 429,
                             {"Via": "1.1 google", "X-RateLimit-Scope": "user"})
        interaction_call = path.startswith(("/interactions/", "/webhooks/"))
        if not interaction_call and request.headers.get("Authorization") != f"Bot {TOKEN}":
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        body = await self._payload(request) if request.method in ("POST", "PATCH", "PUT") else {}
        self.bodies.append((request.method, path, body))
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return _json(BOT_USER)
        if path == "/users/@me/channels" and request.method == "POST":  # open a DM with a user
            recipient = int(body["recipient_id"])
            dm = self.dms.setdefault(recipient, self.snowflake())
            self.channels[dm] = {"id": str(dm), "type": 1, "recipients": [user(recipient, f"user{recipient}")]}
            return _json(self.channels[dm])
        if path == "/oauth2/applications/@me":
            return _json({"id": str(APP_ID), "name": "bitrag", "icon": None, "description": "", "bot_public": True,
                          "bot_require_code_grant": False, "owner": user(1, "owner"), "verify_key": "00",
                          "flags": 0, "summary": "", "team": None})
        if parts[0] == "applications" and parts[-1] == "commands" and request.method == "PUT":
            scope = parts[3] if len(parts) > 3 and parts[2] == "guilds" else "global"
            self.commands[scope] = [{"description": "", **c, "id": str(self.snowflake()),  # "" for context menus
                                     "application_id": str(APP_ID), "version": "1"}
                                    for c in body]  # type: ignore[union-attr]
            return _json(self.commands[scope])
        if parts[0] == "channels":
            return await self._channels(request, parts, body)
        if parts[0] == "guilds" and len(parts) == 4 and parts[2] == "members" and request.method == "GET":
            member = self.members.get((int(parts[1]), int(parts[3])))
            return _json(member) if member else _json({"message": "Unknown Member", "code": 10007}, 404)
        if parts[0] == "interactions":
            self.callbacks.append(body)
            if body.get("type") == 4:  # a message now: it is the interaction's original response
                self._original(parts[2]).update(content=(body.get("data") or {}).get("content") or "",
                                                flags=(body.get("data") or {}).get("flags", 0))
            return _json({"interaction": {"id": parts[1], "type": 2, "response_message_loading": body["type"] == 5,
                                          "response_message_ephemeral": bool(body.get("data", {}).get("flags", 0)
                                                                             & 64)},
                          "resource": {"type": body["type"]}})
        if parts[0] == "webhooks":
            return self._webhook(request, parts, body)
        return _json({"message": f"fake has no {request.method} {path}", "code": 0}, 404)

    async def _channels(self, request: web.Request, parts: list[str], body: dict[str, Any]) -> web.Response:
        channel = int(parts[1])
        guild = self.channels.get(channel, {}).get("guild_id")
        guild_id = int(guild) if guild else None
        if parts[2:] == ["typing"]:
            return web.Response(status=204)
        if len(parts) >= 6 and parts[2] == "messages" and parts[4] == "reactions":  # bitrag reacts
            self.reactions.append((channel, int(parts[3]), parts[5]))
            return web.Response(status=204)
        if parts[2:] == ["messages"] and request.method == "POST":
            data = self._message(channel, BOT_USER, body.get("content") or "", guild_id)
            data.update(components=body.get("components") or [], flags=body.get("flags", 0))
            if body.get("message_reference"):
                data["message_reference"] = body["message_reference"]
                data["type"] = 19
            self.messages.setdefault(channel, []).append(data)
            return _json(data)
        if parts[2:] == ["messages"] and request.method == "GET":
            messages = list(reversed(self.messages.get(channel, [])))  # newest first, as Discord returns them
            before = request.query.get("before")
            if before:
                messages = [m for m in messages if int(m["id"]) < int(before)]
            return _json(messages[: int(request.query.get("limit", 50))])
        if len(parts) == 4 and parts[2] == "messages":
            message = next((m for m in self.messages.get(channel, []) if m["id"] == parts[3]), None)
            if message is None:
                return _json({"message": "Unknown Message", "code": 10008}, 404)
            if request.method == "PATCH":
                message.update({k: v for k, v in body.items() if k in ("content", "components", "flags")},
                               edited_timestamp=_now())
            return _json(message)
        if len(parts) == 5 and parts[4] == "threads":
            if self.threads_forbidden:
                return _json({"message": "Missing Permissions", "code": 50013}, 403)
            if self.channels.get(channel, {}).get("type") in (11, 12):  # no thread on a message in a thread
                return _json({"message": "Cannot execute action on this channel type", "code": 50024}, 400)
            thread_id = int(parts[3])
            thread = {"id": str(thread_id), "type": 11, "guild_id": guild, "parent_id": str(channel),
                      "owner_id": str(BOT_ID), "name": body.get("name", "thread"), "message_count": 0,
                      "member_count": 1, "rate_limit_per_user": 0, "flags": 0,
                      "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False,
                                          "archive_timestamp": _now()}}
            self.channels[thread_id] = thread
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
            return _json(thread)
        return _json({"message": "fake: unknown channel route", "code": 0}, 404)

    def _original(self, token: str) -> dict[str, Any]:
        """An interaction's original response message (made on its first response or edit)."""
        key = f"interaction:{token}"
        original = next((m for m in self.messages.get(0, []) if m.get("_key") == key), None)
        if original is None:
            original = self._message(0, BOT_USER, "", None)
            original["_key"] = key
            self.messages.setdefault(0, []).append(original)
        return original

    def _webhook(self, request: web.Request, parts: list[str], body: dict[str, Any]) -> web.Response:
        token = parts[2]
        channel = 0
        if parts[-1] == "@original" and request.method in ("PATCH", "GET"):
            original = self._original(token)
            original.update({k: v for k, v in body.items() if k in ("content", "components")})
            return _json(original)
        if request.method == "POST":
            data = self._message(channel, BOT_USER, body.get("content") or "", None)
            data.update(_key=f"followup:{token}", components=body.get("components") or [])
            self.messages.setdefault(channel, []).append(data)
            return _json(data)
        return _json({"message": "fake: unknown webhook route", "code": 0}, 404)

    def interaction_messages(self, interaction: dict[str, Any]) -> list[dict[str, Any]]:
        """The original response and follow-ups of an interaction, as they stand now."""
        token = interaction["token"]
        return [m for m in self.messages.get(0, []) if m.get("_key") in (f"interaction:{token}", f"followup:{token}")]

    # --- CDN -------------------------------------------------------------------------------------------------

    async def _cdn(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.cdn_downloads.append(name)
        if name not in self.attachments:
            return web.Response(status=404)
        return web.Response(body=self.attachments[name], content_type="application/octet-stream")

    # --- gateway ---------------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(frame.data)
                if payload["op"] == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif payload["op"] == 2:
                    self.identifies += 1
                    await self._ready(ws)
                elif payload["op"] == 6:
                    self.resumes += 1
                    await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}}))
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse) -> None:
        ready = {"v": 10, "user": BOT_USER, "guilds": [{"id": str(g), "unavailable": True} for g in (GUILD_A, GUILD_B)],
                 "session_id": "fake-session", "resume_gateway_url": self.gateway, "shard": [0, 1],
                 "application": {"id": str(APP_ID), "flags": 0}}
        await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready}))
        for guild in (GUILD_A, GUILD_B):
            roles = [r for rid, r in self.roles.items() if rid == guild or r.get("guild_id") == guild]
            channels = [c for c in self.channels.values() if c.get("guild_id") == str(guild)
                        and int(c["id"]) not in self.hidden]
            data = {"id": str(guild), "name": f"guild {guild}", "icon": None, "owner_id": "1", "roles": roles,
                    "channels": [c for c in channels if c["type"] not in (11, 12)],
                    "threads": [c for c in channels if c["type"] in (11, 12)],
                    "members": [{"user": BOT_USER, "roles": [], "joined_at": _now(), "deaf": False, "mute": False,
                                 "flags": 0}],
                    "emojis": [], "stickers": [], "voice_states": [], "presences": [],
                    "stage_instances": [], "guild_scheduled_events": [], "features": [], "member_count": 2,
                    "large": False, "unavailable": False, "preferred_locale": "en-US", "verification_level": 0,
                    "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
                    "nsfw_level": 0, "premium_tier": 0, "system_channel_flags": 0, "afk_timeout": 300}
            await ws.send_str(json.dumps({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": data}))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
