"""Who may read and who may change which documents: the one policy behind every chat platform.

The rule: **an answer posted in a conversation uses only documents whose audience includes everyone who can read
that conversation.** Readers are people, not channel types, so adapters establish facts about people and places —
who asks (`Person`: a guest? from another organisation? an admin? which conversations are they in?) and who can
read where they ask (`Room`: its kind, and whether guests or people of another organisation are among its
readers) — and `conversation_for` turns them into the `Conversation` the core works with. Nothing here knows Slack
or Discord; every "could not be checked" is a `None` fact, and a `None` always narrows.

A document's **audience** is the tenant key it is stored under, from where it was shared:

| shared in                                              | audience key      | read by                               |
|--------------------------------------------------------|-------------------|---------------------------------------|
| public channel, every reader a full member             | `T` (space)       | every full member of the workspace    |
| public channel with guests among its members           | `T:C`             | that channel's readers                |
| private channel, group DM, Discord private thread      | `T:C`             | that conversation's members           |
| DM with the bot                                        | `T:dm:U` / `dm:U` | its uploader alone                    |
| Slack Connect channel (only when allowed)              | `T:C`             | that channel only                     |
| CLI, terminal, web UI (no sign-in)                     | the tenant given  | that knowledge base                   |

**Reading** (`read_scope`): a public channel of full members reads `T`; a private channel or group DM of full
members reads `T:C` and `T` (and a private thread its private parent's `T:P`); any conversation with a guest among
its readers reads its own `T:C` only (`T`'s documents came from places the guest cannot open); one shared with
another organisation is refused unless allowed, then reads its own `T:C` only. A DM — and App Home, suggested
prompts, the web UI signed in with Slack, any place only the person reads — reads what the **person** may read:
their own `dm` key, the conversations they are a member of, and `T` only when they are a full member.

**Fail closed means private**: when who reads a conversation cannot be established (an API error, a missing
scope, a conversation bitrag cannot see), the conversation is `UNKNOWN`: nothing is posted there, the asker gets a
private answer from what they alone may read, and nothing can be added.

**Changing**: adding follows `*_INGEST_ALLOWED` (`ChangePolicy`); replacing (same name), forgetting and sharing a
document are its owner's or an admin's; documents without a recorded owner are an admin's alone; guests and people
of other organisations are never admins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from rag.errors import ConfigError, NotAllowedError
from rag.models import DocumentInfo, Origin


class Kind(StrEnum):
    PUBLIC = "public"  # a channel every member of the workspace or guild can open
    PRIVATE = "private"  # private channel (Slack or Discord) or Discord private thread: its members
    GROUP_DM = "group_dm"  # Slack multi-person DM: its members
    DM = "dm"  # only the person reads it: a DM with the bot, App Home, the web UI signed in
    EXTERNAL = "external"  # Slack Connect: people of other organisations read it too
    UNKNOWN = "unknown"  # who reads it could not be established: answers go to the asker alone
    LOCAL = "local"  # CLI, terminal, web UI without sign-in: the knowledge base given


UNCHECKED = ("I could not check who can see this conversation, so I will not add files here (they could reach the "
             "wrong people). An admin can give bitrag the scopes it needs to read conversation details — see the "
             "log for which — and then try again.")
SHARED_REFUSAL = ("I don't work in conversations shared with other organisations: their members would see answers "
                  "from this workspace's documents. An admin can allow it with SLACK_ALLOW_SHARED_CHANNELS=true; "
                  "answers there then use only documents shared in that very conversation.")


@dataclass(frozen=True)
class Person:
    """Who asks, as the platform established it. `space` is their workspace or guild (None for a Discord DM).
    `guest`: a limited account (Slack multi- or single-channel guest), None when it could not be checked.
    `external`: a member of another organisation. `member_of`: the conversations they belong to, as far as
    bitrag can see them (None: unknown, so none are read). `roles`: role names and ids (Discord)."""

    platform: str
    space: str | None
    user: str
    admin: bool = False
    guest: bool | None = False
    external: bool = False
    member_of: tuple[str, ...] | None = ()
    roles: tuple[str, ...] = ()
    own: str | None = None  # where their DM uploads live, when not in their space (a Discord DM has no guild)

    @property
    def full_member(self) -> bool:
        """Established as a full member of the space: may read its workspace-wide documents, may be an admin."""
        return self.guest is False and not self.external and self.space is not None

    @property
    def dm_key(self) -> str:
        return self.own or (f"{self.space}:dm:{self.user}" if self.space else f"dm:{self.user}")

    def key(self, conversation: str) -> str:
        return f"{self.space}:{conversation}"

    @property
    def personal_scope(self) -> tuple[str, ...]:
        """What this person alone may read: their own uploads, the conversations they are in, and the workspace's
        documents only when they are established as a full member of it."""
        member_of = tuple(self.key(c) for c in self.member_of or ()) if self.space else ()
        return _unique((self.dm_key, *member_of, *([self.space] if self.full_member else [])))


@dataclass(frozen=True)
class Room:
    """Where a request comes from and who can read it. `guests` / `other_orgs`: whether guests or people of another
    organisation are among its readers (None: could not be checked). `parent`: a private thread's parent channel
    when that channel is private too (its members may read the thread)."""

    kind: Kind
    conversation: str | None = None
    parent: str | None = None
    guests: bool | None = False
    other_orgs: bool | None = False

    @property
    def readers_known(self) -> bool:
        """Who reads it was established: otherwise only the asker may be answered, from what they alone read."""
        return (self.kind is not Kind.UNKNOWN and self.conversation is not None and self.guests is not None
                and self.other_orgs is not None)


@dataclass(frozen=True)
class Conversation:
    """Where a request comes from, in the core's terms. `tenant` is the audience of documents added here; reads
    cover `tenant` plus `also_reads`. Nothing else is ever searched. Chat conversations come from
    `conversation_for`, which applies the reading rule; the local surfaces build theirs directly."""

    tenant: str
    user: str = "local"
    platform: str = "local"
    channel: str | None = None
    also_reads: tuple[str, ...] = ()
    kind: str = Kind.LOCAL
    admin: bool = False  # a full member who is a workspace admin/owner, has Manage Server, or is listed in settings
    space: str | None = None  # the workspace or guild, for admin commands (share, audit) and limits

    @property
    def read_scope(self) -> tuple[str, ...]:
        return (self.tenant, *self.also_reads)

    @property
    def private(self) -> bool:
        """Who reads this conversation is not known: answers go to the asker alone, nothing is added."""
        return self.kind == Kind.UNKNOWN

    @property
    def origin(self) -> Origin:
        """What a document added here records about where it came from."""
        return Origin(owner=self.user, platform=self.platform, conversation=self.channel, kind=str(self.kind))

    @property
    def limit_keys(self) -> tuple[str, str]:
        """(person, space) for the rate limits: a person counts across all their conversations, a workspace across
        all its audiences (a DM or a private channel is not a tenant of its own; Discord DMs share one pool)."""
        space = self.space or ("dm" if self.kind == Kind.DM else self.tenant)
        return f"{self.platform}:{self.user}", f"{self.platform}:{space}"


def conversation_for(person: Person, room: Room, channel_scoped: bool = False,
                     allow_shared: bool = False) -> Conversation:
    """The conversation of `person` in `room`: where their additions go and what answers there may read.

    Raises `NotAllowedError` (SHARED_REFUSAL) where a person of another organisation asks or reads, unless
    SLACK_ALLOW_SHARED_CHANNELS allows it. `channel_scoped` (SLACK_CHANNEL_SCOPED) keeps additions in a public
    channel to that channel; it only ever narrows an audience."""
    if room.kind is Kind.LOCAL:  # the operator's own surfaces: the knowledge base given
        return Conversation(tenant=str(person.space), user=person.user, platform=person.platform,
                            channel=room.conversation, kind=Kind.LOCAL, admin=person.admin, space=person.space)
    shared = person.external or room.other_orgs is True or room.kind is Kind.EXTERNAL
    if shared and not allow_shared:
        raise NotAllowedError(SHARED_REFUSAL)
    kind = room.kind
    if kind is not Kind.DM and (not room.readers_known or person.space is None):
        kind = Kind.UNKNOWN
    admin = person.admin and person.full_member

    def make(tenant: str, *also: str, as_kind: Kind = kind) -> Conversation:
        return Conversation(tenant=tenant, user=person.user, platform=person.platform, channel=room.conversation,
                            also_reads=tuple(a for a in _unique(also) if a != tenant), kind=as_kind, admin=admin,
                            space=person.space)

    if kind in (Kind.DM, Kind.UNKNOWN):  # only the person reads it, or nobody knows who does
        return make(person.dm_key, *person.personal_scope)
    own = person.key(str(room.conversation))
    if shared:  # allowed Slack Connect: this conversation's own documents only
        return make(own, as_kind=Kind.EXTERNAL)
    parent = [person.key(room.parent)] if room.parent else []
    if room.guests or not person.full_member:  # a guest reads here: never the workspace's documents
        return make(own, *parent)
    if kind in (Kind.PRIVATE, Kind.GROUP_DM):
        return make(own, *parent, str(person.space))
    if kind is Kind.PUBLIC and channel_scoped:
        return make(own, str(person.space))
    return make(str(person.space))


def _unique(keys: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


def check_can_add_here(conversation: Conversation) -> None:
    if conversation.private:
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
    variable: str = "INGEST_ALLOWED"

    @classmethod
    def parse(cls, value: str, variable: str) -> ChangePolicy:
        value = value.strip()
        lowered = value.lower()
        if lowered in ("all", "everyone", ""):
            return cls("all", variable=variable)
        if lowered in ("admins", "manage_guild", "manage_server"):
            return cls("admins", variable=variable)
        if lowered.startswith("role:") and value[5:].strip():
            return cls("role", role=value[5:].strip(), variable=variable)
        users = frozenset(u.strip() for u in value.split(",") if u.strip())
        if not all(u.replace("-", "").replace("_", "").isalnum() for u in users):
            raise ConfigError(f"{variable}={value!r}: use all, admins, role:<role name or id>, or a comma-separated "
                              "list of user ids")
        return cls("list", users, variable=variable)

    def allows(self, conversation: Conversation, roles: tuple[str, ...] = ()) -> bool:
        """`roles`: the names and ids of the person's roles, where the platform has them."""
        if self.mode == "all":
            return True
        if self.mode == "list":
            return conversation.user in self.users
        if self.mode == "role":
            return self.role in roles
        return conversation.admin

    @property
    def refusal(self) -> str:
        who = {"admins": "admins", "list": "the people listed by an admin",
               "role": f"members with the {self.role} role"}.get(self.mode, "members")
        return (f"Sorry, only {who} can add documents here. Ask one of them, or ask an admin to change bitrag's "
                f"{self.variable} setting.")


def parse_ids(value: str) -> frozenset[str]:
    """A comma-separated list of user ids from a setting (SLACK_ADMIN_IDS, DISCORD_ADMIN_IDS)."""
    return frozenset(v.strip() for v in value.split(",") if v.strip())
