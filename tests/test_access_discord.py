"""Who reads and who changes what on Discord: the real discord.py client against the fake Discord, with a public
channel, a private channel (@everyone denied View Channel by an overwrite), a private thread, and DMs.

As on Slack, every secret has a control (asked where its audience may read it, it is returned) and every body the
bot sent after a request is searched for what must not be there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.discord import BOT_ID, CHANNEL_A, EVERYONE_PERMS, GUILD_A, MANAGE_GUILD, FakeDiscord
from tests.fakes.slack import wait_for
from tests.test_access_slack import Ledger, Secret
from tests.test_discord import Running, start_bot, stop_bot

OWNER, OTHER, ADMIN = 600000000000000011, 600000000000000012, 600000000000000013
DM_OWNER, DM_OTHER = 500000000000000021, 500000000000000022


class World:
    def __init__(self, running: Running, private: int, thread: int, admin_role: int) -> None:
        self.running, self.fake = running, running.fake
        self.public, self.private, self.thread, self.admin_role = CHANNEL_A, private, thread, admin_role
        self.ledger = Ledger()

    @property
    def service(self):
        return self.running.service

    def roles(self, user: int) -> list[int]:
        return [self.admin_role] if user == ADMIN else []

    def sent_since(self, mark: int) -> str:
        return "\n".join(json.dumps(body, ensure_ascii=False) for _, _, body in self.fake.bodies[mark:])

    async def upload(self, place: int, user: int, name: str, data: bytes) -> str:
        mark = len(self.fake.bodies)
        attachment = self.fake.attachment(name, data)
        if place in (DM_OWNER, DM_OTHER):
            await self.fake.message(place, user, "", attachments=[attachment])
        else:
            await self.fake.message(place, user, f"<@{BOT_ID}> ingest", guild=GUILD_A, mentions_bot=True,
                                    attachments=[attachment], roles=self.roles(user))
        await wait_for(lambda: "added or updated" in self.sent_since(mark) or "⚠️" in self.sent_since(mark))
        return self.sent_since(mark)

    async def ask(self, place: int, user: int, question: str) -> str:
        mark = len(self.fake.bodies)
        if place in (DM_OWNER, DM_OTHER):
            await self.fake.message(place, user, question)
        else:
            await self.fake.message(place, user, f"<@{BOT_ID}> {question}", guild=GUILD_A, mentions_bot=True,
                                    roles=self.roles(user))
        await wait_for(lambda: "\\n-# " in self.sent_since(mark))  # the answer's footer: it is finished
        return self.sent_since(mark)

    async def command(self, name: str, options: list[dict], place: int, user: int) -> dict:
        """An application command; returns the interaction's first response (ephemeral or not)."""
        callbacks = len(self.fake.callbacks)
        await self.fake.interaction(name, options, GUILD_A, place, user, roles=self.roles(user),
                                    permissions=MANAGE_GUILD if user == ADMIN else None)
        await wait_for(lambda: len(self.fake.callbacks) > callbacks)
        return self.fake.callbacks[callbacks]


@pytest_asyncio.fixture
async def world(fake_discord: FakeDiscord, make_settings, embedder) -> AsyncIterator[World]:
    private = fake_discord.add_channel(GUILD_A, "legal", private=True)
    thread = fake_discord.add_thread(GUILD_A, CHANNEL_A, "offsite planning", owner=OWNER, private=True)
    admin_role = fake_discord.add_role(GUILD_A, "mods", MANAGE_GUILD)
    for dm, user in ((DM_OWNER, OWNER), (DM_OTHER, OTHER)):
        fake_discord.channels[dm] = {"id": str(dm), "type": 1, "recipients": [{"id": str(user), "username": "u",
                                                                             "discriminator": "0"}]}
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=str(GUILD_A))
    yield World(running, private, thread, admin_role)
    await stop_bot(running)


async def test_each_document_is_read_only_where_everyone_present_may_see_it(world: World) -> None:
    secrets = [
        Secret("public", "wifi.md", "# Guest wifi\n\nThe guest wifi password in the Lisbon office is ORCHID-4471.\n",
               "What is the guest wifi password in the Lisbon office?", "ORCHID-4471"),
        Secret("private", "brennan-settlement.md", "# Brennan case\n\nThe Brennan settlement amount is 2,750,000 "
               "dollars.\n", "What is the Brennan settlement amount?", "2,750,000"),
        Secret("thread", "offsite.md", "# Offsite\n\nThe secret offsite venue is the Quinta da Regaleira.\n",
               "Where is the secret offsite venue?", "Regaleira"),
        Secret("dm", "salary-letter.txt", "Dear Dana Whitfield,\n\nYour annual salary is 187,400 euros.\n",
               "What is Dana Whitfield's annual salary?", "187,400"),
    ]
    where = {"public": world.public, "private": world.private, "thread": world.thread, "dm": DM_OWNER}
    readers = {"public": {world.public, world.private, world.thread}, "private": {world.private},
               "thread": {world.thread}, "dm": {DM_OWNER}}  # a Discord DM reads only its user's documents
    for secret in secrets:
        report = await world.upload(where[secret.place], OWNER, secret.name, secret.text.encode())
        assert f"{secret.name}: added" in report
    guild = str(GUILD_A)
    assert {d.source: d.audience for d in await world.service.sources(
        [guild, f"{guild}:{world.private}", f"{guild}:{world.thread}", f"dm:{OWNER}"])} == {
        "wifi.md": guild, "brennan-settlement.md": f"{guild}:{world.private}",
        "offsite.md": f"{guild}:{world.thread}", "salary-letter.txt": f"dm:{OWNER}"}

    places = [world.public, world.private, world.thread, DM_OWNER, DM_OTHER]
    asker = {DM_OWNER: OWNER, DM_OTHER: OTHER}
    for place in places:
        for user in ([asker[place]] if place in asker else [OWNER, OTHER, ADMIN]):
            for secret in secrets:
                sent = await world.ask(place, user, secret.question)
                visible = place in readers[secret.place]
                world.ledger.see(f"ask {secret.name}", str(place), str(user), visible, sent, secret.fact)
                world.ledger.see(f"cite {secret.name}", str(place), str(user), visible, sent, secret.name)
    for place in places:
        sent = await world.ask(place, asker.get(place, OTHER), "How do I renew a Portuguese driving licence?")
        for secret in secrets:
            world.ledger.see(f"closest {secret.name}", str(place), "member",
                             None if place in readers[secret.place] else False, sent, secret.name)
    for place in (world.public, world.private, world.thread):
        listed = json.dumps(await world.command("sources", [], place, OTHER), ensure_ascii=False)
        for secret in secrets:
            world.ledger.see(f"list {secret.name}", str(place), "member", place in readers[secret.place], listed,
                             secret.name)
    leaks, misses = world.ledger.leaks(), world.ledger.misses()
    assert not leaks, leaks
    assert not misses, misses
    assert len(world.ledger.checks) == 44 * 2 + 5 * 4 + 3 * 4
    print(f"Discord matrix: {len(world.ledger.checks)} checks, {len(leaks)} leaks, "
          f"{sum(1 for c in world.ledger.checks if c[3] is False)} of them negative")


async def test_only_the_owner_or_an_admin_replaces_forgets_or_shares(world: World) -> None:
    guild = str(GUILD_A)
    text = b"# Guest wifi\n\nThe guest wifi password is ORCHID-4471.\n"
    await world.upload(world.public, OWNER, "wifi.md", text)
    report = await world.upload(world.public, OTHER, "wifi.md", b"# Guest wifi\n\nThe password is HACKED-0000.\n")
    assert "added beside it" in report
    dm_report = await world.upload(DM_OTHER, OTHER, "wifi.md", b"# Guest wifi\n\nThe password is HACKED-0000.\n")
    assert "beside" not in dm_report and len(await world.service.sources(guild)) == 2
    assert "wifi.md: replaced" in await world.upload(world.public, OWNER, "wifi.md", text + b"\nAsk IT.\n")

    owner_doc = next(d for d in await world.service.sources(guild) if d.origin.owner == str(OWNER))
    option = [{"name": "document", "type": 3, "value": owner_doc.doc_id[:12]}]
    refused = await world.command("forget", option, world.public, OTHER)
    assert refused["data"]["flags"] & 64 and "Only the person who added it or an admin" in refused["data"]["content"]
    assert owner_doc.doc_id in {d.doc_id for d in await world.service.sources(guild)}
    done = await world.command("forget", option, world.public, OWNER)
    assert not done["data"].get("flags", 0) & 64 and "Forgot wifi.md" in done["data"]["content"]
    other_doc = next(d for d in await world.service.sources(guild) if d.origin.owner == str(OTHER))
    done = await world.command("forget", [{"name": "document", "type": 3, "value": other_doc.doc_id[:12]}],
                               world.public, ADMIN)
    assert "Forgot wifi.md" in done["data"]["content"]
    assert await world.service.sources(guild) == []

    # Widening a private channel's document is an admin's explicit act; until then #general cannot read it.
    await world.upload(world.private, OWNER, "brennan.md", b"# Brennan\n\nThe Brennan settlement is 2,750,000.\n")
    before = await world.ask(world.public, OWNER, "What is the Brennan settlement?")
    assert "2,750,000" not in before
    share = [{"name": "document", "type": 3, "value": "brennan.md"}]
    refused = await world.command("share", share, world.private, OWNER)
    assert refused["data"]["flags"] & 64 and "Only admins" in refused["data"]["content"]
    done = await world.command("share", share, world.private, ADMIN)
    assert "now readable by everyone" in done["data"]["content"]
    after = await world.ask(world.public, OTHER, "What is the Brennan settlement?")
    assert "2,750,000" in after  # the control: shared, it is read in the public channel
    audit = await world.command("audit", [], world.public, OTHER)
    assert audit["data"]["flags"] & 64 and "Only admins" in audit["data"]["content"]
    audit = await world.command("audit", [], world.public, ADMIN)
    assert audit["data"]["flags"] & 64 and "share · brennan.md" in audit["data"]["content"]
    assert [e.action for e in reversed(await world.service.audit(guild))] == [
        "add", "add", "replace", "forget", "forget", "add", "share"]


# --- gates: what Discord computes, and what changes ---------------------------------------------------------

VIEW = 0x400
PLAN = ("plan.md", b"# Plan\n\nProject Heron launches on 9 October.\n", "When does Project Heron launch?", "9 October")


def deny(target: int, kind: int = 0) -> dict:
    return {"id": str(target), "type": kind, "allow": "0", "deny": str(VIEW)}


async def test_a_channel_is_public_only_when_every_member_can_view_it(fake_discord: FakeDiscord, make_settings,
                                                                        embedder) -> None:
    """A role gate, a member's own overwrite, a category's gate copied onto a synced channel: each makes a channel
    non-public, so what is shared there serves it alone; the control is a channel everyone can view."""
    guild = GUILD_A
    unverified = fake_discord.add_role(guild, "unverified")
    category = fake_discord.add_channel(guild, "staff area", overwrites=[deny(unverified)], kind=4)
    gated = {"role gate": fake_discord.add_channel(guild, "welcome-staff", overwrites=[deny(unverified)]),
             "member overwrite": fake_discord.add_channel(guild, "no-mallory", overwrites=[deny(OTHER, kind=1)]),
             "category sync": fake_discord.add_channel(guild, "synced", overwrites=[deny(unverified)],
                                                       parent=category)}
    open_channel = fake_discord.add_channel(guild, "open", parent=None)
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=str(guild))
    world = World(running, 0, 0, 0)
    try:
        for n, (why, channel) in enumerate([*gated.items(), ("control", open_channel)]):
            name = f"doc-{n}.md"
            report = await world.upload(channel, OWNER, name, f"# Doc\n\nThe {why} code is K-{n}07.\n".encode())
            assert f"{name}: added" in report
            audience = (await world.service.sources([str(guild), f"{guild}:{channel}"]))[0].audience
            assert audience == (str(guild) if why == "control" else f"{guild}:{channel}"), why
            sent = await world.ask(CHANNEL_A, OTHER, f"What is the {why} code?")
            assert (f"K-{n}07" in sent) == (why == "control"), why  # #general reads only the truly public one
    finally:
        await stop_bot(running)


async def test_gates_added_later_narrow_what_was_shared(fake_discord: FakeDiscord, make_settings, embedder) -> None:
    guild = GUILD_A
    unverified = fake_discord.add_role(guild, "unverified")
    roadmap, lounge = fake_discord.add_channel(guild, "roadmap"), fake_discord.add_channel(guild, "lounge")
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=str(guild))
    world = World(running, 0, 0, 0)
    try:
        name, text, question, fact = PLAN
        await world.upload(roadmap, OWNER, name, text)
        await world.upload(lounge, OWNER, "lounge.md", b"# Lounge\n\nThe lounge code is 5-5-1.\n")
        assert fact in await world.ask(CHANNEL_A, OTHER, question)  # the control: public, so read everywhere
        await fake_discord.update_channel(roadmap, [deny(unverified)])  # a role gate added: CHANNEL_UPDATE
        await wait_for(lambda: world.service.registry.documents([f"{guild}:{roadmap}"]) != [])
        assert fact not in await world.ask(CHANNEL_A, OTHER, question)
        assert fact in await world.ask(roadmap, OTHER, question)  # its viewers still read it
        # @everyone loses View Channel (a verification gate): no channel is public any more.
        await fake_discord.update_role(guild, int(EVERYONE_PERMS) & ~VIEW)
        await wait_for(lambda: world.service.registry.documents([f"{guild}:{lounge}"]) != [])
        assert await world.service.sources(str(guild)) == []
    finally:
        await stop_bot(running)


async def test_a_gate_added_while_bitrag_was_down_is_found_at_start_up(fake_discord: FakeDiscord, make_settings,
                                                                        embedder) -> None:
    guild = GUILD_A
    unverified = fake_discord.add_role(guild, "unverified")
    roadmap = fake_discord.add_channel(guild, "roadmap")
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=str(guild))
    try:
        await World(running, 0, 0, 0).upload(roadmap, OWNER, PLAN[0], PLAN[1])
    finally:
        await stop_bot(running)
    fake_discord.channels[roadmap]["permission_overwrites"] = [deny(unverified)]  # no event: bitrag was down
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=str(guild))
    try:
        await running.client._starting  # resumed uploads, then every public place checked again
        assert [d.source for d in await running.service.sources(f"{guild}:{roadmap}")] == [PLAN[0]]
        assert await running.service.sources(str(guild)) == []
    finally:
        await stop_bot(running)


async def test_hostile_names_and_links_in_headings_stay_inert(world: World) -> None:
    name = "invoice\u202etxt.exe.md"
    text = b"# Reset your SSO at [the portal](https://evil.example/login)\n\nThe invoice total is 4,410 euros.\n"
    report = await world.upload(world.public, OWNER, name, text)
    assert "invoice[U+202E]txt.exe.md" in report and "\\u202e" not in report
    sent = await world.ask(world.public, OTHER, "What is the invoice total?")
    assert "4,410" in sent and "\\u202e" not in sent
    sources = sent[sent.index("**Sources**"):]
    assert "the portal\\\\](https\u200b://evil.example" in sources  # the heading: no masked link, no bare URL
    from tests.test_output_safety import live

    assert live(sent.replace("\\n", " ") + " ") == []


async def test_a_channel_bitrag_cannot_view_gets_private_answers(world: World) -> None:
    hidden = world.fake.add_channel(GUILD_A, "hidden")
    world.fake.hidden.add(hidden)  # not in bitrag's view: its permissions cannot be read
    await world.upload(world.public, OWNER, "wifi.md", b"# Wifi\n\nThe guest wifi password is ORCHID-4471.\n")
    callbacks = len(world.fake.callbacks)
    await world.fake.interaction("ask", [{"name": "question", "type": 3, "value": "What is the wifi password?"}],
                                 GUILD_A, hidden, OTHER)
    await wait_for(lambda: len(world.fake.callbacks) > callbacks)
    assert world.fake.callbacks[callbacks]["data"]["flags"] & 64  # ephemeral from the first response on
    upload = await world.command("ingest", [{"name": "url", "type": 3, "value": "https://example.com/a"}], hidden,
                                 OTHER)
    assert upload["data"]["flags"] & 64 and "could not check who can see" in upload["data"]["content"]
