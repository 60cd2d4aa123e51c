"""The core's access policy on its own: the reading rule per kind of conversation, the change rules, the one
command vocabulary behind every platform's help."""

from __future__ import annotations

import pytest

from bot.access import (
    SHARED_REFUSAL,
    ChangePolicy,
    Conversation,
    Kind,
    Person,
    Room,
    authorize_change,
    conversation_for,
    may_replace,
)
from bot.adapters.discord.bot import DISCORD_HELP
from bot.adapters.slack.app import SLACK_HELP
from bot.core import COMMAND_LIST, HELP, ingest_intent
from rag.errors import NotAllowedError
from rag.models import DocumentInfo, Origin

MEMBER = Person("slack", "T1", "U1", member_of=("G1",))
GUEST = Person("slack", "T1", "U2", guest=True, member_of=("C7", "G1"))
UNCHECKED_PERSON = Person("slack", "T1", "U3", guest=None)


@pytest.mark.parametrize(("person", "room", "writes", "reads", "kind"), [
    # full members, rooms whose readers are all full members: by the kind of place
    (MEMBER, Room(Kind.PUBLIC, "C1"), "T1", ("T1",), Kind.PUBLIC),
    (MEMBER, Room(Kind.PRIVATE, "G1"), "T1:G1", ("T1:G1", "T1"), Kind.PRIVATE),
    (MEMBER, Room(Kind.GROUP_DM, "M1"), "T1:M1", ("T1:M1", "T1"), Kind.GROUP_DM),
    (MEMBER, Room(Kind.DM, "D1"), "T1:dm:U1", ("T1:dm:U1", "T1:G1", "T1"), Kind.DM),
    # a guest among the readers: that place's own documents only, never the workspace's
    (MEMBER, Room(Kind.PUBLIC, "C7", guests=True), "T1:C7", ("T1:C7",), Kind.PUBLIC),
    (MEMBER, Room(Kind.PRIVATE, "G1", guests=True), "T1:G1", ("T1:G1",), Kind.PRIVATE),
    (GUEST, Room(Kind.PUBLIC, "C7"), "T1:C7", ("T1:C7",), Kind.PUBLIC),  # the asker is the guest
    (GUEST, Room(Kind.DM, "D2"), "T1:dm:U2", ("T1:dm:U2", "T1:C7", "T1:G1"), Kind.DM),
    (UNCHECKED_PERSON, Room(Kind.DM, "D3"), "T1:dm:U3", ("T1:dm:U3",), Kind.DM),
    (UNCHECKED_PERSON, Room(Kind.PUBLIC, "C1"), "T1:C1", ("T1:C1",), Kind.PUBLIC),
    # who reads it is unknown: private, from what the asker alone may read
    (MEMBER, Room(Kind.UNKNOWN, "C9"), "T1:dm:U1", ("T1:dm:U1", "T1:G1", "T1"), Kind.UNKNOWN),
    (MEMBER, Room(Kind.PUBLIC, "C1", guests=None), "T1:dm:U1", ("T1:dm:U1", "T1:G1", "T1"), Kind.UNKNOWN),
    (MEMBER, Room(Kind.PRIVATE, "G1", other_orgs=None), "T1:dm:U1", ("T1:dm:U1", "T1:G1", "T1"), Kind.UNKNOWN),
    (GUEST, Room(Kind.UNKNOWN, "C9"), "T1:dm:U2", ("T1:dm:U2", "T1:C7", "T1:G1"), Kind.UNKNOWN),
    # Discord: a private thread reads its private parent's; a DM (no guild) its user's alone
    (Person("discord", "G1", "7"), Room(Kind.PRIVATE, "P1", parent="C2"), "G1:P1", ("G1:P1", "G1:C2", "G1"),
     Kind.PRIVATE),
    (Person("discord", None, "7"), Room(Kind.DM, "D5"), "dm:7", ("dm:7",), Kind.DM),
])
def test_the_reading_rule(person: Person, room: Room, writes: str, reads: tuple[str, ...], kind: Kind) -> None:
    conversation = conversation_for(person, room)
    assert (conversation.tenant, conversation.read_scope, conversation.kind) == (writes, reads, kind)
    assert conversation.private == (kind is Kind.UNKNOWN)


def test_other_organisations_are_refused_unless_allowed_then_read_their_own() -> None:
    external = Person("slack", "T1", "UX", external=True)
    for person, room in ((external, Room(Kind.PUBLIC, "C1")), (MEMBER, Room(Kind.EXTERNAL, "C9")),
                         (MEMBER, Room(Kind.PRIVATE, "G1", other_orgs=True)), (external, Room(Kind.DM, "D9"))):
        with pytest.raises(NotAllowedError, match="shared with other organisations") as refused:
            conversation_for(person, room)
        assert str(refused.value) == SHARED_REFUSAL
    allowed = conversation_for(MEMBER, Room(Kind.EXTERNAL, "C9"), allow_shared=True)
    assert allowed.read_scope == ("T1:C9",) and not allowed.private
    assert conversation_for(external, Room(Kind.PUBLIC, "C1"), allow_shared=True).read_scope == ("T1:C1",)
    assert conversation_for(external, Room(Kind.DM, "D9"), allow_shared=True).read_scope == ("T1:dm:UX",)


def test_guests_and_people_of_other_organisations_are_never_admins() -> None:
    assert conversation_for(Person("slack", "T1", "U9", admin=True), Room(Kind.PUBLIC, "C1")).admin
    for person in (Person("slack", "T1", "U9", admin=True, guest=True),
                   Person("slack", "T1", "U9", admin=True, guest=None),
                   Person("slack", "T1", "U9", admin=True, external=True)):
        assert not conversation_for(person, Room(Kind.DM, "D9"), allow_shared=True).admin


def test_limits_count_a_person_everywhere_and_a_workspace_across_its_audiences() -> None:
    keys = {conversation_for(MEMBER, room).limit_keys for room in (Room(Kind.PUBLIC, "C1"), Room(Kind.DM, "D1"),
                                                                   Room(Kind.PRIVATE, "G1"), Room(Kind.UNKNOWN))}
    assert keys == {("slack:U1", "slack:T1")}
    discord_dm = conversation_for(Person("discord", None, "7"), Room(Kind.DM, "D5")).limit_keys
    assert discord_dm == ("discord:7", "discord:dm")


def test_channel_scoping_only_narrows_a_public_channel() -> None:
    scoped = conversation_for(MEMBER, Room(Kind.PUBLIC, "C1"), channel_scoped=True)
    assert scoped.tenant == "T1:C1" and scoped.read_scope == ("T1:C1", "T1")
    private = conversation_for(MEMBER, Room(Kind.PRIVATE, "G1"), channel_scoped=True)
    assert private.read_scope == ("T1:G1", "T1")


def document(owner: str | None, platform: str = "slack") -> DocumentInfo:
    origin = Origin(owner, platform, "C1", "public") if owner else None
    return DocumentInfo("d" * 64, "policy.pdf", 3, 0.0, "slack:policy.pdf", None, "T1", origin)


def test_only_the_owner_or_an_admin_changes_a_document() -> None:
    owner = Conversation("T1", user="U1", platform="slack")
    other = Conversation("T1", user="U2", platform="slack")
    admin = Conversation("T1", user="U3", platform="slack", admin=True)
    same_id_elsewhere = Conversation("T1", user="U1", platform="discord")
    assert may_replace(owner)(document("U1")) and may_replace(admin)(document("U1"))
    assert not may_replace(other)(document("U1")) and not may_replace(same_id_elsewhere)(document("U1"))
    authorize_change(owner)(document("U1"))
    with pytest.raises(NotAllowedError, match="Only the person who added it or an admin"):
        authorize_change(other)(document("U1"))
    with pytest.raises(NotAllowedError, match="Only an admin"):  # origin unknown: nobody owns it
        authorize_change(owner)(document(None))
    authorize_change(admin)(document(None))


def test_change_policy_roles() -> None:
    member = Conversation("G1", user="7", platform="discord")
    librarians = ChangePolicy.parse("role:librarian", "DISCORD_INGEST_ALLOWED")
    assert librarians.allows(member, ("librarian", "123"))
    assert not librarians.allows(member, ("member",))
    assert "librarian role" in librarians.refusal and "DISCORD_INGEST_ALLOWED" in librarians.refusal
    assert ChangePolicy.parse("manage_guild", "X").mode == "admins"


def test_every_surface_builds_its_help_from_one_vocabulary() -> None:
    for text, chat in ((HELP, False), (SLACK_HELP, True), (DISCORD_HELP, True)):
        for command in COMMAND_LIST:
            assert (command.summary in text) == (chat or not command.chat), (command.name, text)
    assert "/bitrag share <doc> workspace" in SLACK_HELP and "/share document:" in DISCORD_HELP


def test_ingest_intent() -> None:
    assert ingest_intent("") and ingest_intent("ingest") and ingest_intent("add these") and ingest_intent("Save it.")
    assert not ingest_intent("what does this file say about hotels?")
