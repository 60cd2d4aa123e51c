"""The core's access policy on its own: the reading rule per kind of conversation, the change rules, the one
command vocabulary behind every platform's help."""

from __future__ import annotations

import pytest

from bot.access import ChangePolicy, Conversation, Kind, Place, authorize_change, conversation_at, may_replace
from bot.adapters.discord.bot import DISCORD_HELP
from bot.adapters.slack.app import SLACK_HELP
from bot.core import COMMAND_LIST, HELP, ingest_intent
from rag.errors import NotAllowedError
from rag.models import DocumentInfo, Origin


@pytest.mark.parametrize(("place", "user", "writes", "reads"), [
    (Place("slack", "T1", "C1", Kind.PUBLIC), "U1", "T1", ("T1",)),
    (Place("slack", "T1", "G1", Kind.PRIVATE), "U1", "T1:G1", ("T1:G1", "T1")),
    (Place("slack", "T1", "M1", Kind.GROUP_DM), "U1", "T1:M1", ("T1:M1", "T1")),
    (Place("slack", "T1", "D1", Kind.DM), "U1", "T1:dm:U1", ("T1:dm:U1", "T1")),
    (Place("slack", "T1", "C9", Kind.EXTERNAL), "U1", "T1:C9", ("T1:C9",)),
    (Place("slack", "T1", "C1", Kind.UNKNOWN), "U1", "T1", ("T1",)),  # fail closed: the workspace's only
    (Place("discord", "G1", "P1", Kind.PRIVATE, parent="C2"), "7", "G1:P1", ("G1:P1", "G1:C2", "G1")),
    (Place("discord", None, "D5", Kind.DM), "7", "dm:7", ("dm:7",)),
])
def test_the_reading_rule(place: Place, user: str, writes: str, reads: tuple[str, ...]) -> None:
    conversation = conversation_at(place, user)
    assert conversation.tenant == writes and conversation.read_scope == reads


def test_channel_scoping_only_narrows_a_public_channel() -> None:
    scoped = conversation_at(Place("slack", "T1", "C1", Kind.PUBLIC), "U1", channel_scoped=True)
    assert scoped.tenant == "T1:C1" and scoped.read_scope == ("T1:C1", "T1")
    private = conversation_at(Place("slack", "T1", "G1", Kind.PRIVATE), "U1", channel_scoped=True)
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


async def test_change_policy_roles() -> None:
    async def never(_: str) -> bool:
        return False

    librarians = ChangePolicy.parse("role:librarian", "DISCORD_INGEST_ALLOWED")
    assert await librarians.allows("7", never, ("librarian", "123"))
    assert not await librarians.allows("7", never, ("member",))
    assert "librarian role" in librarians.refusal("DISCORD_INGEST_ALLOWED")
    assert ChangePolicy.parse("manage_guild", "X").mode == "admins"


def test_every_surface_builds_its_help_from_one_vocabulary() -> None:
    for text in (HELP, SLACK_HELP, DISCORD_HELP):
        for command in COMMAND_LIST:
            assert command.summary in text, (command.name, text)
    assert "/bitrag share <doc> workspace" in SLACK_HELP and "/share document:" in DISCORD_HELP


def test_ingest_intent() -> None:
    assert ingest_intent("") and ingest_intent("ingest") and ingest_intent("add these") and ingest_intent("Save it.")
    assert not ingest_intent("what does this file say about hotels?")
