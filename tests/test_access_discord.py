"""Who reads and who changes what on Discord: the real discord.py client against the fake Discord, with a public
channel, a private channel (@everyone denied View Channel by an overwrite), a private thread, and DMs.

As on Slack, every secret has a control (asked where its audience may read it, it is returned) and every body the
bot sent after a request is searched for what must not be there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.discord import BOT_ID, CHANNEL_A, GUILD_A, MANAGE_GUILD, FakeDiscord
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
