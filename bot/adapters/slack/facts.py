"""Who asks and who reads where, on Slack: the facts the core's reading rule needs, established through the Web API
each time they matter.

- The conversation (`conversations.info`) is read afresh for every request: a channel made private, or shared with
  another organisation, a second ago is seen at once (the old 60-second cache let an upload escape).
- Who is in it (`conversations.members`, every page, also afresh), and what account each member has: a guest
  (`is_restricted`: multi-channel, `is_ultra_restricted`: single-channel), a member of another organisation
  (`is_stranger`, or a `team_id` that is neither this workspace's nor, on Enterprise Grid, its organisation's), an
  admin or owner. Accounts come from a directory of the workspace (`users.list`, every page) read at most every
  10 minutes and updated at once by `user_change` / `team_join` events; an account it lacks is read with
  `users.info` (at most 50 a request).
- The conversations a person is in (`users.conversations`), for what they read where only they look.

A lookup that fails (a missing scope, an API error) leaves its fact unknown (`None`); the core then answers the
asker privately from what they alone may read and adds nothing. The log names the scope to add.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Kind, Person, Room
from bot.adapters.slack.files import slack_error
from bot.settings import Settings
from bot.terms import ConfigError

log = logging.getLogger(__name__)
DIRECTORY_S = 600.0
MOST_LOOKUPS = 50
SCOPES = {"conversations.info": "channels:read, groups:read, im:read and mpim:read",
          "conversations.members": "channels:read, groups:read, im:read and mpim:read",
          "users.info": "users:read", "users.list": "users:read", "users.conversations": "channels:read, groups:read "
                                                                                         "and mpim:read"}


@dataclass(frozen=True)
class Account:
    guest: bool
    external: bool
    admin: bool


def make_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url or AsyncWebClient.BASE_URL)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))  # honours Retry-After
    return client


def kind_of(info: dict[str, Any] | None) -> Kind:
    """The core's kind of a conversation from `conversations.info`; anything unclear is UNKNOWN."""
    if not info:
        return Kind.UNKNOWN
    if info.get("is_ext_shared") or info.get("is_org_shared") or info.get("is_pending_ext_shared"):
        return Kind.EXTERNAL  # people outside this workspace read it
    if info.get("is_im"):
        return Kind.DM
    if info.get("is_mpim"):
        return Kind.GROUP_DM
    if info.get("is_private") or info.get("is_group"):
        return Kind.PRIVATE
    return Kind.PUBLIC if info.get("is_channel") else Kind.UNKNOWN


class SlackFacts:
    def __init__(self, client: AsyncWebClient, admin_ids: frozenset[str]) -> None:
        self.client, self.admin_ids = client, admin_ids
        self.team: str | None = None
        self.url: str | None = None
        self._enterprise: str | None = None
        self._accounts: dict[str, Account] = {}
        self._read_at = float("-inf")
        self._reading = asyncio.Lock()

    async def verify(self) -> dict[str, Any]:
        """`auth.test`: the workspace the token belongs to, or a `ConfigError` that says what to do."""
        try:
            result = dict((await self.client.auth_test()).data)  # type: ignore[arg-type]
        except SlackApiError as exc:
            raise ConfigError(f"Slack rejected SLACK_BOT_TOKEN ({slack_error(exc)}): copy the current Bot "
                              "User OAuth Token from the app's OAuth & Permissions page") from None
        self.team, self.url, self._enterprise = result.get("team_id"), result.get("url"), result.get("enterprise_id")
        return result

    async def workspace(self) -> str:
        """The workspace bitrag is installed in, as auth.test verified it — never a team id from a payload."""
        if self.team is None:
            await self.verify()
        return str(self.team)

    async def missing_scopes(self) -> list[str]:
        """The scopes Slack says the facts need and the token lacks (for `bitrag doctor`)."""
        missing = []
        for method, args in (("users_list", {"limit": 1}), ("conversations_list", {"limit": 1, "types": "public_"
                             "channel,private_channel,mpim,im"})):
            try:
                await getattr(self.client, method)(**args)
            except SlackApiError as exc:
                data = exc.response.data if isinstance(exc.response.data, dict) else {}
                missing += str(data.get("needed") or slack_error(exc)).split(",")
        return sorted(set(missing))

    def remember(self, user: dict[str, Any]) -> None:
        """An account as `users.list`, `users.info` or a `user_change` / `team_join` event describe it."""
        team, enterprise = user.get("team_id"), (user.get("enterprise_user") or {}).get("enterprise_id")
        same_org = team == self.team or (self._enterprise is not None and enterprise == self._enterprise)
        self._accounts[str(user["id"])] = Account(
            guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            external=bool(user.get("is_stranger")) or (team is not None and not same_org),
            admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")))

    async def person(self, user: str, member_of: bool = False, user_team: str | None = None) -> Person:
        """`member_of`: also the conversations they are in (for places only they read). `user_team`: the team an
        event says the user belongs to; another one than this workspace's makes them external."""
        team = await self.workspace()
        account = (await self.accounts([user]))[user]
        external = bool(account and account.external) or (user_team is not None and user_team != team)
        return Person("slack", team, user, admin=user in self.admin_ids or bool(account and account.admin),
                      guest=None if account is None else account.guest, external=external,
                      member_of=await self.memberships(user) if member_of else ())

    async def room(self, channel: str, asker: str) -> Room:
        info = await self._call("conversations.info", "channel", channel=channel)
        kind = kind_of(info)
        if kind is Kind.DM:  # a DM is the asker's own only when it is theirs
            return Room(Kind.DM if (info or {}).get("user") == asker else Kind.UNKNOWN, channel)
        if kind in (Kind.UNKNOWN, Kind.EXTERNAL):
            return Room(kind, channel, other_orgs=True if kind is Kind.EXTERNAL else None)
        members = await self._members(channel)
        if members is None:
            return Room(kind, channel, guests=None, other_orgs=None)
        accounts = list((await self.accounts(members)).values())
        known = [a for a in accounts if a is not None]
        unknown = len(known) < len(accounts)
        return Room(kind, channel, guests=True if any(a.guest for a in known) else None if unknown else False,
                    other_orgs=True if any(a.external for a in known) else None if unknown else False)

    async def accounts(self, users: list[str]) -> dict[str, Account | None]:
        """Each user's account: from the directory (read again when 10 minutes old), else `users.info`."""
        await self.workspace()  # whose members are "ours" is known before any account is judged
        if time.monotonic() - self._read_at > DIRECTORY_S:
            await self._read_directory()
        found: dict[str, Account | None] = {u: self._accounts.get(u) for u in users}
        for user in [u for u, a in found.items() if a is None][:MOST_LOOKUPS]:
            if (info := await self._call("users.info", "user", user=user)) is not None:
                self.remember(info)
                found[user] = self._accounts[user]
        return found

    async def _read_directory(self) -> None:
        async with self._reading:
            if time.monotonic() - self._read_at <= DIRECTORY_S:
                return  # read by another request meanwhile
            accounts: list[dict[str, Any]] = []
            if await self._pages("users.list", "members", accounts, limit=1000) is None:
                return
            for account in accounts:
                self.remember(account)
            self._read_at = time.monotonic()

    async def _members(self, channel: str) -> list[str] | None:
        members: list[str] = []
        return members if await self._pages("conversations.members", "members", members, channel=channel,
                                            limit=1000) else None

    async def memberships(self, user: str) -> tuple[str, ...] | None:
        channels: list[dict[str, Any]] = []
        if await self._pages("users.conversations", "channels", channels, user=user, types="public_channel,"
                             "private_channel,mpim", exclude_archived=True, limit=200) is None:
            return None
        return tuple(c["id"] for c in channels)

    async def _pages(self, method: str, key: str, into: list[Any], **args: Any) -> bool | None:
        """Every page of a cursor-paginated method into `into`; None when Slack refuses."""
        cursor = None
        while True:
            page = await self._call(method, None, cursor=cursor, **args)
            if page is None:
                return None
            into += page.get(key) or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return True

    async def _call(self, method: str, key: str | None, **args: Any) -> Any:
        try:
            call = getattr(self.client, method.replace(".", "_"))
            data = await call(**{k: v for k, v in args.items() if v is not None})
        except SlackApiError as exc:
            needed = exc.response.data.get("needed") if isinstance(exc.response.data, dict) else None
            log.warning("%s %s failed (%s%s): who can read there is unknown, so answers go privately and nothing "
                        "is added; give the app %s", method, args.get("channel") or args.get("user") or "",
                        slack_error(exc), f", needs {needed}" if needed else "", SCOPES.get(method, "its scopes"))
            return None
        return data[key] if key else data
