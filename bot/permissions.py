"""Who may change a knowledge base (ingest, forget): everyone, the platform's admins, or listed user ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rag.errors import ConfigError

REFUSAL = ("Sorry, only {who} can add or remove documents in this workspace. Ask one of them, or ask an admin to "
           "change bitrag's {variable} setting.")


@dataclass(frozen=True)
class ChangePolicy:
    """Parsed from a setting: `all`, `admins`, or a comma-separated list of user ids."""

    mode: str  # all | admins | list
    users: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, value: str, variable: str) -> ChangePolicy:
        value = value.strip()
        if value.lower() in ("all", "everyone", ""):
            return cls("all")
        if value.lower() == "admins":
            return cls("admins")
        users = frozenset(u.strip() for u in value.split(",") if u.strip())
        if not all(u.replace("-", "").replace("_", "").isalnum() for u in users):
            raise ConfigError(f"{variable}={value!r}: use all, admins, or a comma-separated list of user ids")
        return cls("list", users)

    async def allows(self, user: str, is_admin: Callable[[str], Awaitable[bool]]) -> bool:
        if self.mode == "all":
            return True
        if self.mode == "list":
            return user in self.users
        return await is_admin(user)

    def refusal(self, variable: str) -> str:
        who = {"admins": "workspace admins", "list": "the people listed by an admin"}.get(self.mode, "members")
        return REFUSAL.format(who=who, variable=variable)
