"""Who may read and who may change which documents: the one policy behind every chat platform.

A document's **audience** is the tenant key it is stored under, derived from where it was shared:

| shared in                                      | audience key            | who reads it                          |
|------------------------------------------------|-------------------------|---------------------------------------|
| public channel (thread: its channel)           | `T1` (workspace/guild)  | everyone in the workspace/guild       |
| private channel, group DM, Discord private thread | `T1:C9`              | that conversation's members           |
| DM with the bot                                | `T1:dm:U5` (`dm:U5`)    | its uploader alone                    |
| Slack Connect channel (when allowed)           | `T1:C9`                 | that channel only                     |
| CLI, terminal, web UI                          | the tenant given        | that knowledge base                   |

**Reading:** an answer posted in a conversation uses only documents whose audience includes everyone who can read
that conversation: a public channel reads workspace documents; a private channel or group DM also its own; a DM
also its user's own. When the kind of conversation could not be established the conversation is treated as
public (workspace documents only) and nothing can be added there: fail closed.

**Changing:** adding follows `*_INGEST_ALLOWED` (`ChangePolicy`); replacing (same name), forgetting and sharing a
document are its owner's or an admin's; documents without a recorded owner (added before owners were recorded)
are an admin's alone. Adapters only translate platform facts (kind, membership, admin status) into a `Place` and
`Conversation`; nothing here knows Slack or Discord.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from rag.errors import ConfigError, NotAllowedError
from rag.models import DocumentInfo, Origin


class Kind(StrEnum):
    PUBLIC = "public"  # a channel everyone in the workspace or guild can read
    PRIVATE = "private"  # private channel (Slack or Discord) or Discord private thread: its members
    GROUP_DM = "group_dm"  # Slack multi-person DM: its members
    DM = "dm"  # a direct conversation with the bot: the user alone
    EXTERNAL = "external"  # Slack Connect: people of other organisations read it too
    UNKNOWN = "unknown"  # the platform would not say (an API error, a missing scope): fail closed
    LOCAL = "local"  # CLI, terminal, web UI: the knowledge base given


UNCHECKED = ("I could not check who can see this conversation, so I will not add files here (they could reach the "
             "wrong people). An admin can give bitrag the scopes it needs to read conversation details — see the "
             "log for which — and then try again.")


@dataclass(frozen=True)
class Conversation:
    """Where a request comes from, in the core's terms. `tenant` is the audience of documents added here; reads
    cover `tenant` plus `also_reads` (e.g. a private channel's own documents and the workspace's). Nothing else is
    ever searched. Build chat conversations with `conversation_at`, which applies the reading rule."""

    tenant: str
    user: str = "local"
    platform: str = "local"
    channel: str | None = None
    also_reads: tuple[str, ...] = ()
    kind: str = Kind.LOCAL
    admin: bool = False  # a workspace admin/owner, Manage Server, or listed in the settings
    space: str | None = None  # the workspace or guild, for admin commands (share, audit)

    @property
    def read_scope(self) -> tuple[str, ...]:
        return (self.tenant, *self.also_reads)

    @property
    def origin(self) -> Origin:
        """What a document added here records about where it came from."""
        return Origin(owner=self.user, platform=self.platform, conversation=self.channel, kind=str(self.kind))


@dataclass(frozen=True)
class Place:
    """A conversation as a platform describes it. `space` is the workspace or guild (None for a Discord DM);
    `parent` is a private thread's parent channel when that channel is private too (its members may read the
    thread, so the thread reads the channel's documents as well)."""

    platform: str
    space: str | None
    conversation: str | None
    kind: Kind
    parent: str | None = None

    def key(self, conversation: str) -> str:
        return f"{self.space}:{conversation}"

    def dm_key(self, user: str) -> str:
        return f"{self.space}:dm:{user}" if self.space else f"dm:{user}"


def conversation_at(place: Place, user: str, admin: bool = False, channel_scoped: bool = False) -> Conversation:
    """The conversation of `user` at `place`: where their additions go and what answers there may read.

    `channel_scoped` (SLACK_CHANNEL_SCOPED) keeps additions in a public channel to that channel; it only ever
    narrows an audience."""
    kind, space = place.kind, place.space

    def make(tenant: str, *also: str) -> Conversation:
        return Conversation(tenant=tenant, user=user, platform=place.platform, channel=place.conversation,
                            also_reads=tuple(a for a in also if a != tenant), kind=kind, admin=admin, space=space)

    if kind is Kind.DM:
        return make(place.dm_key(user), *([space] if space else []))
    if space is None or place.conversation is None:
        return make(space or place.dm_key(user))
    own = place.key(place.conversation)
    if kind in (Kind.PRIVATE, Kind.GROUP_DM):
        return make(own, *([place.key(place.parent)] if place.parent else []), space)
    if kind is Kind.EXTERNAL:
        return make(own)  # people of other organisations are here: this channel's own documents only
    if kind is Kind.PUBLIC and channel_scoped:
        return make(own, space)
    return make(space)  # public, and unknown (fail closed: workspace documents only, adding refused)


def check_can_add_here(conversation: Conversation) -> None:
    if conversation.kind == Kind.UNKNOWN:
        raise NotAllowedError(UNCHECKED)


def owns(conversation: Conversation, document: DocumentInfo) -> bool:
    origin = document.origin
    return origin is not None and origin.owner == conversation.user and origin.platform == conversation.platform


def may_replace(conversation: Conversation) -> Callable[[DocumentInfo], bool]:
    """For ingestion: whether a same-name document of this audience may be replaced by this person."""
    return lambda document: conversation.admin or owns(conversation, document)


def authorize_change(conversation: Conversation) -> Callable[[DocumentInfo], None]:
    """For forget and share: raises `NotAllowedError` unless this person owns the document or is an admin."""

    def check(document: DocumentInfo) -> None:
        if conversation.admin or owns(conversation, document):
            return
        who = ("an admin (it was added before bitrag recorded owners)" if document.origin is None
               else "the person who added it or an admin")
        raise NotAllowedError(f"Only {who} can change {document.source}.")

    return check


def require_admin(conversation: Conversation, what: str) -> None:
    if not conversation.admin:
        raise NotAllowedError(f"Only admins can {what}.")


@dataclass(frozen=True)
class ChangePolicy:
    """Who may add documents (`SLACK_INGEST_ALLOWED`, `DISCORD_INGEST_ALLOWED`): `all` (or `everyone`), `admins`
    (or `manage_guild`), `role:<name or id>` (Discord), or a comma-separated list of user ids."""

    mode: str  # all | admins | role | list
    users: frozenset[str] = frozenset()
    role: str = ""

    @classmethod
    def parse(cls, value: str, variable: str) -> ChangePolicy:
        value = value.strip()
        lowered = value.lower()
        if lowered in ("all", "everyone", ""):
            return cls("all")
        if lowered in ("admins", "manage_guild", "manage_server"):
            return cls("admins")
        if lowered.startswith("role:") and value[5:].strip():
            return cls("role", role=value[5:].strip())
        users = frozenset(u.strip() for u in value.split(",") if u.strip())
        if not all(u.replace("-", "").replace("_", "").isalnum() for u in users):
            raise ConfigError(f"{variable}={value!r}: use all, admins, role:<role name or id>, or a comma-separated "
                              "list of user ids")
        return cls("list", users)

    async def allows(self, user: str, is_admin: Callable[[str], Awaitable[bool]],
                     roles: tuple[str, ...] = ()) -> bool:
        """`roles`: the names and ids of the user's roles, where the platform has them."""
        if self.mode == "all":
            return True
        if self.mode == "list":
            return user in self.users
        if self.mode == "role":
            return self.role in roles
        return await is_admin(user)

    def refusal(self, variable: str) -> str:
        who = {"admins": "admins", "list": "the people listed by an admin",
               "role": f"members with the {self.role} role"}.get(self.mode, "members")
        return (f"Sorry, only {who} can add documents here. Ask one of them, or ask an admin to change bitrag's "
                f"{variable} setting.")


def parse_ids(value: str) -> frozenset[str]:
    """A comma-separated list of user ids from a setting (SLACK_ADMIN_IDS, DISCORD_ADMIN_IDS)."""
    return frozenset(v.strip() for v in value.split(",") if v.strip())
