"""A fake Slack on 127.0.0.1 for the real slack_sdk/slack-bolt: Web API (`/api/<method>`), the file CDN
(url_private, Bearer required; without it Slack's HTML login page is returned, as real Slack does), response_url
webhooks, and a Socket Mode websocket that pushes envelopes and collects acks.

State is kept like Slack keeps it where the bot reads it back: messages per channel (threads for
conversations.replies), conversations (conversations.info: public, private, IM, MPIM, Slack Connect; their
members with conversations.members), files (files.info with the `channels` / `groups` / `ims` they are shared in,
files.list) and users (users.info and users.list, paginated, with admin, guest — `is_restricted`,
`is_ultra_restricted` — and other-organisation flags: `team_id`, `is_stranger`). Ephemeral messages
(chat.postEphemeral) are kept apart, as Slack shows them to one person. It refuses like Slack: `unknown_method` for
a method it does not implement (so a typo fails a test), `missing_scope` (with `needed`) for the methods a test
takes a scope away from, `channel_not_found` for a conversation it does not know or a private one the bot is not
in.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.webserver import serve_app

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T1"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json",
                        headers=headers)


@dataclass
class FakeSlack:
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (method, args, authorization)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (path, authorization)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_bytes: dict[str, bytes] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_scopes: dict[str, str] = field(default_factory=dict)  # method → the scope it answers missing_scope for
    refuse: dict[str, str] = field(default_factory=dict)  # method → the error it answers (a workspace without it)
    stream_appends_allowed: int | None = None  # after this many appends a stream expires, as Slack's do
    homes: dict[str, dict[str, Any]] = field(default_factory=dict)  # user → the App Home view published
    not_member: set[str] = field(default_factory=set)  # public channels the bot was not invited to
    members: dict[str, set[str]] = field(default_factory=dict)  # channel → its members (users.conversations)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)  # chat.postEphemeral: seen by `user` alone
    page_size: int = 2  # users.list and conversations.members answer in pages this small, to exercise cursors
    hidden: set[str] = field(default_factory=set)  # conversations the bot cannot see (conversations.info fails)
    invalid: list[dict[str, Any]] = field(default_factory=list)  # payloads refused with invalid_blocks
    modals: list[dict[str, Any]] = field(default_factory=list)  # views.open
    statuses: list[tuple[str, str, str]] = field(default_factory=list)  # (channel, thread, status)
    rate_limits: dict[str, int] = field(default_factory=dict)  # method → number of 429s to answer first
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk reads some methods with GET
        app.router.add_get("/files-pri/{path:.*}", self._download)
        app.router.add_post("/commands/{tail:.*}", self._webhook)
        app.router.add_get("/link", self._socket)
        self._runner, port = await serve_app(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- helpers for tests -----------------------------------------------------------------------------------

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def add_message(self, channel: str, text: str, user: str = "U1", thread_ts: str | None = None,
                    **extra: Any) -> dict[str, Any]:
        message = {"type": "message", "user": user, "text": text, "ts": self.next_ts(), **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.messages.setdefault(channel, []).append(message)
        return message

    def add_conversation(self, channel: str, kind: str, user: str | None = None, name: str = "") -> dict[str, Any]:
        """`kind`: public, private, mpim, im (with the DM's `user`), or shared (Slack Connect, public)."""
        info: dict[str, Any] = {"id": channel, "name": name or channel.lower(), "created": 1700000000,
                                "is_channel": kind in ("public", "private", "shared"), "is_group": False,
                                "is_im": kind == "im", "is_mpim": kind == "mpim",
                                "is_private": kind in ("private", "mpim", "im"), "is_archived": False,
                                "is_general": False, "is_shared": kind == "shared", "is_ext_shared": kind == "shared",
                                "is_org_shared": False, "is_pending_ext_shared": False, "context_team_id": TEAM}
        if kind == "im":
            info.update(user=user, is_user_deleted=False, priority=0)
            info.pop("name")
        self.conversations[channel] = info
        return info

    def conversation_info(self, channel: str) -> dict[str, Any] | None:
        """Registered conversations, else Slack's classic id prefixes: C public, G private, D a DM with U<rest>."""
        if channel in self.hidden:
            return None
        if channel in self.conversations:
            return self.conversations[channel]
        kinds = {"C": ("public", None), "G": ("private", None), "D": ("im", "U" + channel[1:])}
        if channel[:1] not in kinds or channel.startswith("CNOTIN"):
            return None
        kind, user = kinds[channel[:1]]
        info = self.add_conversation(channel, kind, user)
        return info

    def add_file(self, file_id: str, name: str, data: bytes, user: str = "U1", channel: str = "C1",
                 **extra: Any) -> dict[str, Any]:
        shares = {"channels": [], "groups": [], "ims": []}
        info = self.conversation_info(channel) or {}
        where = "ims" if info.get("is_im") else "groups" if info.get("is_private") else "channels"
        shares[where].append(channel)
        info = {"id": file_id, "name": name, "title": name, "size": len(data), "user": user, **shares,
                "created": int(time.time()), "mimetype": "application/octet-stream", "mode": "hosted",
                "is_external": False, **extra,
                "url_private": f"{self.url}/files-pri/{TEAM}-{file_id}/{name}",
                "url_private_download": f"{self.url}/files-pri/{TEAM}-{file_id}/download/{name}",
                "permalink": f"https://fake.slack.com/files/{user}/{file_id}/{name}"}
        self.files[file_id] = info
        self.file_bytes[file_id] = data
        return info

    def channel_name(self, channel: str) -> str:
        """What a slash command's `channel_name` says: Slack sends directmessage / privategroup for those."""
        info = self.conversation_info(channel) or {}
        if info.get("is_im") or info.get("is_mpim"):
            return "directmessage" if info.get("is_im") else "mpdm-" + channel.lower()
        return "privategroup" if info.get("is_private") else str(info.get("name", channel.lower()))

    def convert_to_private(self, channel: str) -> None:
        """What "Change to a private channel" does: the same id, now private (the event is the test's to send)."""
        self.conversations[channel].update(is_private=True)

    def methods(self) -> list[str]:
        return [method for method, _, _ in self.calls]

    def bot_posts(self) -> list[dict[str, Any]]:
        return [args for method, args, _ in self.calls if method == "chat.postMessage"]

    def final_text(self, ts: str) -> str:
        """The text of a message as it stands now (its blocks' text included)."""
        for messages in self.messages.values():
            for message in messages:
                if message["ts"] == ts:
                    return message["text"] + "\n" + _blocks_text(message.get("blocks"))
        raise KeyError(ts)

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to every connected client."""
        for ws in self._sockets:
            await ws.send_str(json.dumps(envelope))

    # --- handlers --------------------------------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "GET":
            pass
        elif request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(dict(await request.post()))
        for key in ("blocks", "attachments", "prompts", "loading_messages"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        auth = request.headers.get("Authorization", "")
        self.calls.append((method, args, auth))
        if self.rate_limits.get(method, 0) > 0:
            self.rate_limits[method] -= 1
            return _json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "1"})
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if auth != f"Bearer {expected}":
            return _json({"ok": False, "error": "invalid_auth"})
        if method in self.missing_scopes:
            return _json({"ok": False, "error": "missing_scope", "needed": self.missing_scopes[method],
                          "provided": "chat:write,commands,files:read"})
        if method in self.refuse:
            return _json({"ok": False, "error": self.refuse[method]})
        view = json.loads(args["view"]) if isinstance(args.get("view"), str) else args.get("view") or {}
        if not _valid_blocks(args.get("blocks"), 50) or not _valid_blocks(view.get("blocks"), 100):
            self.invalid.append(args)
            return _json({"ok": False, "error": "invalid_blocks"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        return _json(handler(args) if handler else {"ok": False, "error": "unknown_method"})

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "bitrag", "team_id": TEAM,
                "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args["channel"]
        if channel.startswith("CNOTIN") or channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "text": args.get("text", ""),
                   "blocks": args.get("blocks"), "ts": self.next_ts()}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages.get(args["channel"], []):
            if message["ts"] == args["ts"]:
                if message.get("streaming"):
                    return {"ok": False, "error": "cant_update_message"}  # a stream ends with stopStream
                message.update(text=args.get("text", ""), blocks=args.get("blocks"))
                return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        if args["channel"] in self.not_member or self.conversation_info(args["channel"]) is None:
            return {"ok": False, "error": "not_in_channel"}
        thread = args["ts"]
        thread_messages = [m for m in self.messages.get(args["channel"], [])
                           if m["ts"] == thread or m.get("thread_ts") == thread]
        limit = int(args.get("limit") or 1000)
        return {"ok": True, "messages": thread_messages[:limit], "has_more": len(thread_messages) > limit}

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        info = self.files.get(args["file"])
        return {"ok": True, "file": info} if info else {"ok": False, "error": "file_not_found"}

    def _files_list(self, args: dict[str, Any]) -> dict[str, Any]:
        files = [f for f in self.files.values() if f["user"] == args.get("user")
                 and args.get("channel") in f["channels"] + f["groups"] + f["ims"]]
        return {"ok": True, "files": sorted(files, key=lambda f: -f["created"])}

    def account(self, user: str) -> dict[str, Any]:
        return {"id": user, "team_id": TEAM, "name": user.lower(), "deleted": False, "is_admin": False,
                "is_owner": False, "is_primary_owner": False, "is_restricted": False, "is_ultra_restricted": False,
                "is_bot": user == BOT_USER, **self.users.get(user, {})}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args["user"]
        if not user.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self.account(user)}

    def _page(self, items: list[Any], key: str, args: dict[str, Any]) -> dict[str, Any]:
        """One page of a cursor-paginated list (the cursor is the next index, as an opaque string)."""
        start = int(args.get("cursor") or 0)
        end = start + self.page_size
        return {"ok": True, key: items[start:end],
                "response_metadata": {"next_cursor": str(end) if end < len(items) else ""}}

    def _users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """The workspace's accounts: every user a test described, plus the bot (other orgs' are not listed)."""
        users = [self.account(u) for u in sorted({*self.users, BOT_USER})
                 if self.account(u)["team_id"] == TEAM and not self.account(u).get("is_stranger")]
        return self._page(users, "members", args)

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args["channel"]
        info = self.conversation_info(channel)
        if info is None or (info.get("is_private") and channel in self.not_member):
            return {"ok": False, "error": "channel_not_found"}
        members = sorted(self.members.get(channel, set()) | ({info["user"]} if info.get("user") else set()))
        return self._page(members + ([] if channel in self.not_member else [BOT_USER]), "members", args)

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.conversation_info(args["channel"]) is None or args["channel"] in self.not_member:
            return {"ok": False, "error": "channel_not_found"}
        self.ephemeral.append({"channel": args["channel"], "user": args["user"], "text": args.get("text", ""),
                               "blocks": args.get("blocks"), "thread_ts": args.get("thread_ts")})
        return {"ok": True, "message_ts": self.next_ts()}

    def _users_conversations(self, args: dict[str, Any]) -> dict[str, Any]:
        """The conversations of `user` the bot can see (it is in them too), of the asked types, one page."""
        types = set(str(args.get("types", "public_channel")).split(","))

        def kind(info: dict[str, Any]) -> str:
            return "mpim" if info["is_mpim"] else "private_channel" if info["is_private"] else "public_channel"

        channels = [self.conversations[c] for c, users in self.members.items()
                    if args["user"] in users and c in self.conversations and c not in self.not_member
                    and not self.conversations[c]["is_im"] and kind(self.conversations[c]) in types]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._page([c for c in self.conversations.values() if c["id"] not in self.hidden], "channels", args)

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        info = self.conversation_info(args["channel"])
        return {"ok": True, "channel": info} if info else {"ok": False, "error": "channel_not_found"}

    # --- Slack's AI-app surface -------------------------------------------------------------------------------

    def _chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        """Starts a streamed reply; outside DMs Slack requires the recipient user and team."""
        channel = args["channel"]
        info = self.conversation_info(channel)
        if info is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if not info.get("is_im") and not (args.get("recipient_user_id") and args.get("recipient_team_id")):
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] recipient_user_id and recipient_team_id are "
                                                       "required when streaming to channels"]}}
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "text": args.get("markdown_text") or "",
                   "ts": self.next_ts(), "streaming": True, "appends": 0}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _streaming(self, args: dict[str, Any]) -> dict[str, Any] | None:
        for message in self.messages.get(args["channel"], []):
            if message["ts"] == args["ts"]:
                return message if message.get("streaming") else None
        return None

    def _chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(args)
        if message is not None and self.stream_appends_allowed is not None \
                and message["appends"] >= self.stream_appends_allowed:
            message["streaming"] = False  # expired
            message = None
        if message is None:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        message["text"] += args.get("markdown_text") or ""
        message["appends"] += 1
        return {"ok": True, "channel": args["channel"], "ts": args["ts"]}

    def _chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(args)
        if message is None:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        message["text"] += args.get("markdown_text") or ""
        message["streaming"] = False
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        return {"ok": True, "channel": args["channel"], "ts": args["ts"], "message": message}

    def _assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        self.statuses.append((args["channel_id"], args["thread_ts"], args["status"]))
        return {"ok": True}

    def _assistant_threads_setTitle(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("prompts") or len(args["prompts"]) > 4:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        if view.get("type") != "home" or len(view.get("blocks", [])) > 100:
            return {"ok": False, "error": "invalid_arguments"}
        self.homes[args["user_id"]] = view
        return {"ok": True, "view": {"id": "V1", **view}}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        if not args.get("trigger_id") or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        self.modals.append(view)
        return {"ok": True, "view": {"id": "VMODAL", **view}}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.conversation_info(args["channel"]) is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = args["message_ts"].replace(".", "")
        return {"ok": True, "channel": args["channel"], "permalink": f"https://fake.slack.com/archives/{args['channel']}/p{ts}"}

    def finished(self, since: int = 0, *of: str) -> int:
        """How many messages bitrag finished handling since call `since` (the status cleared, or the 👀 reaction
        removed); with `of`, only those of these message or thread timestamps — another message's handling (an
        upload before, a bot before a restart) may finish meanwhile."""
        return sum(1 for method, args, _ in self.calls[since:]
                   if (method == "reactions.remove" or (method == "assistant.threads.setStatus"
                                                         and not args.get("status")))
                   and (not of or args.get("timestamp") in of or args.get("thread_ts") in of))

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.url.replace("http://", "ws://") + "/link?ticket=t"}

    async def _download(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        self.downloads.append((request.path, auth))
        if auth != f"Bearer {BOT_TOKEN}":
            return web.Response(text="<html><body>Sign in to Slack</body></html>", content_type="text/html")
        file_id = request.match_info["path"].split("/")[0].split("-", 1)[1]
        return web.Response(body=self.file_bytes[file_id], content_type="application/octet-stream")

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not _valid_blocks(body.get("blocks"), 50):
            self.invalid.append(body)
            return web.Response(status=400, text="invalid_blocks")
        self.webhooks.append(body)
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "connection_info": {"app_id": "A1"}, "debug_info": {"host": "fake"}}))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        self._sockets.remove(ws)
        return ws


def _valid_blocks(blocks: Any, most: int) -> bool:
    """Slack's limits: at most `most` blocks, section text at most 3,000 characters, context text 3,000."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    blocks = blocks or []
    texts = [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)]
    texts += [e["text"] for b in blocks if b.get("type") == "context" for e in b.get("elements", [])]
    return len(blocks) <= most and all(len(t) <= 3000 for t in texts)


def _blocks_text(blocks: list[dict[str, Any]] | None) -> str:
    parts: list[str] = []
    for block in blocks or []:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


async def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    """Poll until `predicate()` is true (lazy listeners finish after the HTTP response)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
