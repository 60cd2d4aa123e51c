"""One leak matrix, run against every chat platform through the real SDKs and the fakes: the same people, places and
documents, and one oracle written in people, not channel types.

People: Alice, Bob and Carol are full members; Gus is a Slack guest, or on Discord a member with an "unverified"
role that a gated channel denies View Channel. Each place has a set of readers; a document's audience is the
readers of the place it was shared in. The oracle: an answer seen by `readers` may use a document only when
`readers ⊆ audience` — otherwise seeing it is a leak. Where bitrag cannot tell who reads a place ("dark": a
conversation it cannot see), the reply must be private to the asker, whose readers are then just them.

Controls prove each path can return what it must: every document is found where it was shared, and the
workspace's (server's) documents in the places whose readers are all full members.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pytest
import pytest_asyncio

from tests.fakes.discord import BOT_ID, CHANNEL_A, GUILD_A, FakeDiscord
from tests.fakes.slack import FakeSlack, wait_for
from tests.test_access_slack import sent_since
from tests.test_discord import start_bot, stop_bot
from tests.test_slack import make_harness

ALICE, BOB, CAROL, GUS = "alice", "bob", "carol", "gus"
FULL = frozenset({ALICE, BOB, CAROL})


@dataclass(frozen=True)
class Doc:
    place: str
    uploader: str
    name: str
    text: str
    question: str
    fact: str


DOCS = [
    Doc("general", ALICE, "wifi.md", "# Guest wifi\n\nThe guest wifi password in the Lisbon office is ORCHID-4471.\n",
        "What is the guest wifi password in the Lisbon office?", "ORCHID-4471"),
    Doc("mixed", ALICE, "partner-rates.md", "# Partner rates\n\nThe partner day rate for Globex is 1,940 euros.\n",
        "What is the partner day rate for Globex?", "1,940"),
    Doc("legal", ALICE, "brennan.md", "# Brennan case\n\nThe Brennan settlement amount is 2,750,000 dollars.\n",
        "What is the Brennan settlement amount?", "2,750,000"),
    Doc("dm-alice", ALICE, "salary.txt", "Dear Alice,\n\nYour annual salary from January is 187,400 euros.\n",
        "What is Alice's annual salary from January?", "187,400"),
    Doc("dm-gus", GUS, "visa.md", "# Visa\n\nMy visa appointment is on 14 March at the Porto consulate.\n",
        "When is my visa appointment at the Porto consulate?", "14 March"),
]


@dataclass
class Reply:
    text: str  # everything bitrag sent for the request
    private: bool  # it reached the asker alone


class Platform(Protocol):
    readers: dict[str, frozenset[str]]  # place → who reads it
    askers: dict[str, tuple[str, ...]]  # place → who may ask there
    space_in_dms: bool  # a DM reads the workspace's documents (Slack) or not (a Discord DM belongs to no guild)

    async def upload(self, doc: Doc) -> str: ...
    async def ask(self, place: str, person: str, question: str) -> Reply: ...
    async def sources(self, place: str, person: str) -> Reply | None: ...


@dataclass
class Ledger:
    checks: list[tuple[str, str, str, bool | None, bool]] = field(default_factory=list)

    def see(self, what: str, place: str, who: str, expected: bool | None, seen: bool) -> None:
        self.checks.append((what, place, who, expected, seen))

    def leaks(self) -> list[tuple[str, str, str]]:
        return [(w, p, u) for w, p, u, expected, seen in self.checks if seen and expected is False]

    def misses(self) -> list[tuple[str, str, str]]:
        return [(w, p, u) for w, p, u, expected, seen in self.checks if expected and not seen]


def expected(platform: Platform, doc: Doc, place: str, asker: str) -> bool | None:
    """False: seeing it is a leak; True: a control that must be seen; None: allowed, not required."""
    readers = frozenset({asker}) if place in DARK else platform.readers[place]
    if not readers <= platform.readers[doc.place]:
        return False
    in_dm = place.startswith("dm-") or place in DARK
    if doc.place == place or (doc.place == "general" and readers <= FULL and (platform.space_in_dms or not in_dm)):
        return True
    return None


DARK = ("dark",)  # places whose readers bitrag cannot establish


# --- Slack ----------------------------------------------------------------------------------------------------

SLACK_IDS = {"general": "CGENERAL", "mixed": "CPARTNERS", "legal": "GLEGAL", "war-room": "GWARROOM",
             "dm-alice": "DALICE", "dm-gus": "DGUS", "dark": "CDARK"}
SLACK_USERS = {ALICE: "UALICE", BOB: "UBOB", CAROL: "UCAROL", GUS: "UGUS"}


class SlackPlatform:
    readers: ClassVar = {"general": FULL, "mixed": FULL | {GUS}, "legal": frozenset({ALICE, BOB}),
                         "war-room": frozenset({ALICE, GUS}), "dm-alice": frozenset({ALICE}),
                         "dm-gus": frozenset({GUS})}
    askers: ClassVar = {"general": (ALICE, BOB, CAROL), "mixed": (BOB, GUS), "legal": (ALICE, BOB),
                        "war-room": (ALICE, GUS), "dm-alice": (ALICE,), "dm-gus": (GUS,), "dark": (ALICE,)}
    space_in_dms = True

    def __init__(self, fake: FakeSlack, harness: Any) -> None:
        from tests.test_access_slack import Scenario

        self.fake, self.harness, self.scenario = fake, harness, Scenario(harness)

    async def upload(self, doc: Doc) -> str:
        channel, user = SLACK_IDS[doc.place], SLACK_USERS[doc.uploader]
        return await self.scenario.upload(channel, user, doc.name, doc.text.encode(), f"F0DOC{DOCS.index(doc):05d}")

    async def ask(self, place: str, person: str, question: str) -> Reply:
        channel, user = SLACK_IDS[place], SLACK_USERS[person]
        if place in DARK:  # only a slash command reaches bitrag from a conversation it cannot see
            calls, hooks = self.scenario.mark()
            await self.harness.command("/ask", question, user=user, channel=channel)
            await wait_for(lambda: len(self.fake.webhooks) > hooks)
            sent = sent_since(self.fake, calls, hooks)
            public = [c for c in self.fake.calls[calls:] if c[0].startswith("chat.") and c[1].get("channel") == channel]
            return Reply(sent, not public and '"in_channel"' not in sent)
        calls = len(self.fake.calls)
        sent, _ = await self.scenario.ask(channel, user, question)
        private = all(m == "chat.postEphemeral" for m, _, _ in self.fake.calls[calls:] if m.startswith("chat."))
        return Reply(sent, private)

    async def sources(self, place: str, person: str) -> Reply:
        sent = await self.scenario.command("/bitrag", "sources", SLACK_USERS[person], SLACK_IDS[place])
        return Reply(sent, '"in_channel"' not in sent)


async def slack_platform(fake_slack: FakeSlack, make_settings, embedder) -> AsyncIterator[SlackPlatform]:
    ids, users = SLACK_IDS, SLACK_USERS
    for place, kind in (("general", "public"), ("mixed", "public"), ("legal", "private"), ("war-room", "private")):
        fake_slack.add_conversation(ids[place], kind, name=place)
    fake_slack.add_conversation(ids["dm-alice"], "im", user=users[ALICE])
    fake_slack.add_conversation(ids["dm-gus"], "im", user=users[GUS])
    fake_slack.add_conversation(ids["dark"], "private", name="dark")
    fake_slack.hidden.add(ids["dark"])  # a conversation bitrag is not in: Slack will not describe it
    members = {"general": (ALICE, BOB, CAROL), "mixed": (ALICE, BOB, GUS), "legal": (ALICE, BOB),
               "war-room": (ALICE, GUS)}
    for place, people in members.items():
        fake_slack.members[ids[place]] = {users[p] for p in people}
    fake_slack.users[users[GUS]] = {"is_restricted": True}
    for person in (ALICE, BOB, CAROL):
        fake_slack.users.setdefault(users[person], {})
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    yield SlackPlatform(fake_slack, harness)
    await close()


# --- Discord --------------------------------------------------------------------------------------------------

DISCORD_USERS = {ALICE: 600000000000000101, BOB: 600000000000000102, CAROL: 600000000000000103,
                 GUS: 600000000000000104}
VIEW = 0x400


class DiscordPlatform:
    readers: ClassVar = {"general": FULL | {GUS}, "mixed": FULL, "legal": frozenset({ALICE, BOB}),
                         "dm-alice": frozenset({ALICE}), "dm-gus": frozenset({GUS})}
    askers: ClassVar = {"general": (ALICE, BOB, CAROL, GUS), "mixed": (ALICE, BOB, CAROL), "legal": (ALICE, BOB),
                        "dm-alice": (ALICE,), "dm-gus": (GUS,), "dark": (ALICE,)}
    space_in_dms = False

    def __init__(self, running: Any, places: dict[str, int], unverified: int) -> None:
        self.running, self.fake, self.places, self.unverified = running, running.fake, places, unverified

    def roles(self, person: str) -> list[int]:
        return [self.unverified] if person == GUS else []

    def sent_since(self, mark: int) -> str:
        return "\n".join(json.dumps(body, ensure_ascii=False) for _, _, body in self.fake.bodies[mark:])

    async def upload(self, doc: Doc) -> str:
        mark, channel, user = len(self.fake.bodies), self.places[doc.place], DISCORD_USERS[doc.uploader]
        attachment = self.fake.attachment(doc.name, doc.text.encode())
        if doc.place.startswith("dm-"):
            await self.fake.message(channel, user, "", attachments=[attachment])
        else:
            await self.fake.message(channel, user, f"<@{BOT_ID}> ingest", guild=GUILD_A, mentions_bot=True,
                                    attachments=[attachment], roles=self.roles(doc.uploader))
        await wait_for(lambda: "added or updated" in self.sent_since(mark) or "⚠️" in self.sent_since(mark))
        return self.sent_since(mark)

    async def ask(self, place: str, person: str, question: str) -> Reply:
        mark, channel, user = len(self.fake.bodies), self.places[place], DISCORD_USERS[person]
        if place in DARK:
            callbacks = len(self.fake.callbacks)
            await self.fake.interaction("ask", [{"name": "question", "type": 3, "value": question}], GUILD_A,
                                        channel, user, roles=self.roles(person))
            await wait_for(lambda: "\\n-# " in self.sent_since(mark))
            return Reply(self.sent_since(mark), bool(self.fake.callbacks[callbacks]["data"].get("flags", 0) & 64))
        if place.startswith("dm-"):
            await self.fake.message(channel, user, question)
        else:
            await self.fake.message(channel, user, f"<@{BOT_ID}> {question}", guild=GUILD_A, mentions_bot=True,
                                    roles=self.roles(person))
        await wait_for(lambda: "\\n-# " in self.sent_since(mark))
        return Reply(self.sent_since(mark), place.startswith("dm-"))

    async def sources(self, place: str, person: str) -> Reply | None:
        if place.startswith("dm-"):
            return None  # application commands in DMs are not faked
        callbacks = len(self.fake.callbacks)
        await self.fake.interaction("sources", [], GUILD_A, self.places[place], DISCORD_USERS[person],
                                    roles=self.roles(person))
        await wait_for(lambda: len(self.fake.callbacks) > callbacks)
        response = self.fake.callbacks[callbacks]
        return Reply(json.dumps(response, ensure_ascii=False), bool(response["data"].get("flags", 0) & 64))


async def discord_platform(fake_discord: FakeDiscord, make_settings, embedder) -> AsyncIterator[DiscordPlatform]:
    guild = GUILD_A
    unverified = fake_discord.add_role(guild, "unverified")
    gate = [{"id": str(unverified), "type": 0, "allow": "0", "deny": str(VIEW)}]
    members_only = [{"id": str(DISCORD_USERS[p]), "type": 1, "allow": str(VIEW), "deny": "0"} for p in (ALICE, BOB)]
    places = {"general": CHANNEL_A, "mixed": fake_discord.add_channel(guild, "staff", overwrites=gate),
              "legal": fake_discord.add_channel(guild, "legal", private=True, overwrites=members_only),
              "dark": fake_discord.add_channel(guild, "dark")}
    fake_discord.hidden.add(places["dark"])  # bitrag cannot view it: no overwrites to read
    for place, person in (("dm-alice", ALICE), ("dm-gus", GUS)):
        places[place] = 500000000000000100 + len(places)
        fake_discord.channels[places[place]] = {"id": str(places[place]), "type": 1, "recipients": [
            {"id": str(DISCORD_USERS[person]), "username": person, "discriminator": "0"}]}
    for person, user in DISCORD_USERS.items():
        fake_discord.member(guild, user, person, [unverified] if person == GUS else [])
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=str(guild))
    yield DiscordPlatform(running, places, unverified)
    await stop_bot(running)


# --- the matrix -------------------------------------------------------------------------------------------------

@pytest_asyncio.fixture(params=["slack", "discord"])
async def platform(request: pytest.FixtureRequest, fake_slack: FakeSlack, fake_discord: FakeDiscord, make_settings,
                   embedder) -> AsyncIterator[Platform]:
    built = (slack_platform(fake_slack, make_settings, embedder) if request.param == "slack"
             else discord_platform(fake_discord, make_settings, embedder))
    yield await anext(built)
    await anext(built, None)


async def test_the_leak_matrix_holds_on_every_platform(platform: Platform) -> None:
    name = type(platform).__name__
    for doc in DOCS:
        report = await platform.upload(doc)
        assert f"{doc.name}: added" in report, report
    ledger = Ledger()
    for place, askers in platform.askers.items():
        for asker in askers:
            for doc in DOCS:
                reply = await platform.ask(place, asker, doc.question)
                expect = expected(platform, doc, place, asker)
                ledger.see(f"answer {doc.name}", place, asker, expect, doc.fact in reply.text)
                ledger.see(f"cite {doc.name}", place, asker, expect, doc.name in reply.text)
                if place in DARK:  # nobody knows who reads it: to the asker alone, never to the conversation
                    ledger.see("private reply", place, asker, True, reply.private)
                    ledger.see("public reply", place, asker, False, not reply.private)
            listed = await platform.sources(place, asker)
            for doc in DOCS if listed is not None else ():
                ledger.see(f"list {doc.name}", place, asker, expected(platform, doc, place, asker),
                           doc.name in listed.text)
    leaks, misses = ledger.leaks(), ledger.misses()
    negatives = sum(1 for c in ledger.checks if c[3] is False)
    by_guest = sum(1 for _, place, who, expect, _ in ledger.checks if expect is False
                   and (who == GUS or GUS in platform.readers.get(place, ())))
    by_dark = sum(1 for _, place, _, expect, _ in ledger.checks if expect is False and place in DARK)
    print(f"{name} matrix: {len(ledger.checks)} checks ({negatives} negative: {by_guest} where the guest or gated "
          f"member asks or reads, {by_dark} where readers are unknown; {sum(1 for c in ledger.checks if c[3])} "
          f"controls), {len(leaks)} leaks, {len(misses)} misses")
    assert not leaks, leaks
    assert not misses, misses
    assert negatives >= 40
