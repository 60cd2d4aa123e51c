"""Who reads and who changes what, through the real slack-bolt app against a fake Slack that answers like the real
one: conversations.info for every kind of conversation, users.info with admin flags, files.info with where a file
is shared, the two events Slack sends for an upload with a mention, slash commands with `channel_name`.

Every secret has a control: the same question, asked where its audience may read it, returns it. Every message the
bot sends (posts, edits, response-URL bodies, acks) after a request is searched for what must not be there.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from tests.fakes.slack import BOT_TOKEN, BOT_USER, TEAM, FakeSlack, wait_for
from tests.test_slack import Harness, make_harness

OWNER, OTHER, ADMIN = "UOWNER", "UOTHER", "UADMIN"
PUBLIC, PRIVATE, GROUP, SHARED = "CPUBLIC", "CLEGAL", "CGROUP", "CCONNECT"
DM_OWNER, DM_OTHER = "DOWNER", "DOTHER"


@dataclass(frozen=True)
class Secret:
    place: str
    name: str
    text: str
    question: str
    fact: str


SECRETS = [
    Secret(PUBLIC, "wifi.md", "# Guest wifi\n\nThe guest wifi password in the Lisbon office is ORCHID-4471.\n",
           "What is the guest wifi password in the Lisbon office?", "ORCHID-4471"),
    Secret(PRIVATE, "brennan-settlement.md", "# Brennan case\n\nThe Brennan settlement amount is 2,750,000 dollars, "
           "to be paid by March.\n", "What is the Brennan settlement amount?", "2,750,000"),
    Secret(GROUP, "lena-party.md", "# Surprise party\n\nLena's surprise party is on the rooftop terrace, Friday at "
           "18:30. Keep it quiet.\n", "Where and when is Lena's surprise party?", "rooftop terrace"),
    Secret(DM_OWNER, "salary-letter.txt", "Dear Dana Whitfield,\n\nYour annual salary from January is 187,400 "
           "euros.\n", "What is Dana Whitfield's annual salary?", "187,400"),
]
READERS = {  # where each secret's audience may read it (everyone present there is in its audience)
    PUBLIC: {PUBLIC, PRIVATE, GROUP, DM_OWNER, DM_OTHER},
    PRIVATE: {PRIVATE},
    GROUP: {GROUP},
    DM_OWNER: {DM_OWNER},
}
ASKER = {DM_OWNER: OWNER, DM_OTHER: OTHER}  # in a DM only its user asks


@dataclass
class Ledger:
    """Every visibility check made: (what, where, who, expected visible, seen)."""

    checks: list[tuple[str, str, str, bool | None, bool]] = field(default_factory=list)

    def see(self, what: str, where: str, who: str, expected: bool | None, text: str, needle: str) -> None:
        """`expected`: True must be seen (a control), False must not (a leak), None may be (ranking decides)."""
        self.checks.append((what, where, who, expected, needle in text))

    def leaks(self) -> list[tuple[str, str, str]]:
        return [(w, p, u) for w, p, u, expected, seen in self.checks if seen and expected is False]

    def misses(self) -> list[tuple[str, str, str]]:
        return [(w, p, u) for w, p, u, expected, seen in self.checks if expected and not seen]


def finished(sent: str) -> bool:
    """An upload's final report (or its refusal) has been sent."""
    return "added or updated" in sent or ":warning:" in sent


def sent_since(fake: FakeSlack, calls: int, webhooks: int) -> str:
    """Everything the bot sent after a point: message texts and blocks of posts and edits, response-URL bodies."""
    parts = [json.dumps(args, ensure_ascii=False) for method, args, _ in fake.calls[calls:]
             if method.startswith("chat.")]
    parts += [json.dumps(body, ensure_ascii=False) for body in fake.webhooks[webhooks:]]
    return "\n".join(parts)


class Scenario:
    def __init__(self, harness: Harness) -> None:
        self.harness, self.fake = harness, harness.fake
        self.ledger = Ledger()

    def mark(self) -> tuple[int, int]:
        return len(self.fake.calls), len(self.fake.webhooks)

    async def upload(self, place: str, user: str, name: str, data: bytes, file_id: str) -> str:
        """An upload as Slack delivers it: in a DM one `message`/`file_share` event; in a channel, shared with a
        mention, both the `message`/`file_share` event and the `app_mention` that carries the same files."""
        calls, hooks = self.mark()
        self.fake.add_file(file_id, name, data, user=user, channel=place)
        info = self.fake.conversation_info(place) or {}
        if info.get("is_im"):
            message = self.harness.user_message("", channel=place, user=user, subtype="file_share",
                                                files=[{"id": file_id}])
            await self.harness.event({**message, "type": "message", "channel_type": "im"})
        else:
            message = self.harness.user_message(f"<@{BOT_USER}>", channel=place, user=user, subtype="file_share",
                                                files=[{"id": file_id, "name": name}])
            channel_type = "mpim" if info.get("is_mpim") else "group" if info.get("is_private") else "channel"
            await self.harness.event({**message, "type": "message", "channel_type": channel_type})
            mention = {k: v for k, v in message.items() if k != "subtype"}
            await self.harness.event({**mention, "type": "app_mention"})
        # The report is sent, and the message's handling is over (nothing of it can land after the next mark).
        await wait_for(lambda: finished(sent_since(self.fake, calls, hooks))
                       and self.fake.finished(calls, message["ts"]) > 0)
        return sent_since(self.fake, calls, hooks)

    async def ask(self, place: str, user: str, question: str, thread_ts: str | None = None) -> tuple[str, str]:
        """A question by mention (a DM message in a DM, a thread reply without mention as a follow-up); returns all
        the bot sent for it and the question's ts."""
        calls, hooks = self.mark()
        info = self.fake.conversation_info(place) or {}
        if info.get("is_im"):
            message = self.harness.user_message(question, channel=place, user=user, thread_ts=thread_ts)
            await self.harness.event({**message, "type": "message", "channel_type": "im"})
        elif thread_ts:
            message = self.harness.user_message(question, channel=place, user=user, thread_ts=thread_ts)
            channel_type = "mpim" if info.get("is_mpim") else "group" if info.get("is_private") else "channel"
            await self.harness.event({**message, "type": "message", "channel_type": channel_type})
        else:
            message = self.harness.user_message(f"<@{BOT_USER}> {question}", channel=place, user=user)
            await self.harness.event({**message, "type": "app_mention"})
        await wait_for(lambda: self.fake.finished(calls, message["ts"], *[thread_ts] * bool(thread_ts)) > 0)
        return sent_since(self.fake, calls, hooks), message["ts"]

    async def command(self, command: str, text: str, user: str, place: str) -> str:
        calls, hooks = self.mark()
        status, body, _ = await self.harness.command(command, text, user=user, channel=place)
        assert status == 200
        await wait_for(lambda: len(self.fake.webhooks) > hooks or finished(sent_since(self.fake, calls, hooks)))
        return body + "\n" + sent_since(self.fake, calls, hooks)


@pytest_asyncio.fixture
async def scenario(fake_slack, make_settings, embedder) -> AsyncIterator[Scenario]:
    fake_slack.add_conversation(PUBLIC, "public", name="general")
    fake_slack.add_conversation(PRIVATE, "private", name="legal")
    fake_slack.add_conversation(GROUP, "mpim")
    fake_slack.add_conversation(SHARED, "shared", name="acme-partners")
    fake_slack.add_conversation(DM_OWNER, "im", user=OWNER)
    fake_slack.add_conversation(DM_OTHER, "im", user=OTHER)
    fake_slack.users[ADMIN] = {"is_admin": True}
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    yield Scenario(harness)
    await close()


async def test_each_document_is_read_only_where_everyone_present_may_see_it(scenario: Scenario) -> None:
    for n, secret in enumerate(SECRETS):
        report = await scenario.upload(secret.place, OWNER, secret.name, secret.text.encode(), f"F0SECRET{n:02d}")
        assert f"{secret.name}: added" in report
    service = scenario.harness.adapter.core.service
    audiences = {d.source: d.audience for d in await service.sources([TEAM, f"{TEAM}:{PRIVATE}", f"{TEAM}:{GROUP}",
                                                                        f"{TEAM}:dm:{OWNER}"])}
    assert audiences == {"wifi.md": TEAM, "brennan-settlement.md": f"{TEAM}:{PRIVATE}",
                         "lena-party.md": f"{TEAM}:{GROUP}", "salary-letter.txt": f"{TEAM}:dm:{OWNER}"}
    origins = {d.source: d.origin for d in await service.sources(list(audiences.values()))}
    assert origins["salary-letter.txt"].owner == OWNER and origins["salary-letter.txt"].kind == "dm"
    assert origins["brennan-settlement.md"].kind == "private" and origins["lena-party.md"].kind == "group_dm"

    places = [PUBLIC, PRIVATE, GROUP, DM_OWNER, DM_OTHER]
    threads: dict[str, str] = {}
    for place in places:
        for user in ([ASKER[place]] if place in ASKER else [OWNER, OTHER, ADMIN]):
            for secret in SECRETS:
                sent, ts = await scenario.ask(place, user, secret.question)
                threads.setdefault(place, ts)
                visible = place in READERS[secret.place]
                scenario.ledger.see(f"ask {secret.name}", place, user, visible, sent, secret.fact)
                scenario.ledger.see(f"cite {secret.name}", place, user, visible, sent, secret.name)

    # Follow-ups in a thread (no mention) read what the thread's channel reads.
    for place in (PUBLIC, PRIVATE):
        for secret in SECRETS:
            sent, _ = await scenario.ask(place, OTHER, secret.question, thread_ts=threads[place])
            scenario.ledger.see(f"follow-up {secret.name}", place, OTHER, place in READERS[secret.place], sent,
                                secret.fact)

    # "I don't know": the closest sources listed are only ones readable here.
    for place in places:
        user = ASKER.get(place, OTHER)
        sent, _ = await scenario.ask(place, user, "How do I renew a Portuguese driving licence?")
        assert "I don't know" in sent or "Closest sources" in sent or "Sources" in sent
        for secret in SECRETS:
            scenario.ledger.see(f"closest {secret.name}", place, user, None if place in READERS[secret.place] else
                                False, sent, secret.name)

    # /bitrag sources lists only what answers there may use.
    for place in places:
        user = ASKER.get(place, OTHER)
        listed = await scenario.command("/bitrag", "sources", user, place)
        for secret in SECRETS:
            scenario.ledger.see(f"list {secret.name}", place, user, place in READERS[secret.place], listed,
                                secret.name)

    leaks, misses = scenario.ledger.leaks(), scenario.ledger.misses()
    assert not leaks, leaks
    assert not misses, misses  # the controls: where allowed, every path does return the document
    assert len(scenario.ledger.checks) == 44 * 2 + 8 + 5 * 4 + 5 * 4
    print(f"Slack matrix: {len(scenario.ledger.checks)} checks, {len(leaks)} leaks, "
          f"{sum(1 for c in scenario.ledger.checks if c[3] is False)} of them negative")


async def test_only_the_owner_or_an_admin_replaces_or_forgets(scenario: Scenario) -> None:
    wifi = SECRETS[0]
    await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), "F0WIFI0001")
    service = scenario.harness.adapter.core.service

    # Another member's same-name upload in the same channel is kept beside it, and they are told so.
    impostor = b"# Guest wifi\n\nThe guest wifi password in the Lisbon office is HACKED-0000.\n"
    report = await scenario.upload(PUBLIC, OTHER, wifi.name, impostor, "F0WIFI0002")
    assert "wifi.md: added" in report and "added beside it" in report
    documents = await service.sources(TEAM)
    assert sorted((d.source, d.origin.owner) for d in documents) == [(wifi.name, OTHER), (wifi.name, OWNER)]

    # A same-name file sent to the bot in a DM stays that user's: the public one is untouched.
    dm_report = await scenario.upload(DM_OTHER, OTHER, wifi.name, impostor, "F0WIFI0003")
    assert "wifi.md: added" in dm_report and "beside" not in dm_report
    assert len(await service.sources(TEAM)) == 2

    # The owner replaces their own.
    report = await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode() + b"\nAsk IT for help.\n",
                                   "F0WIFI0004")
    assert "wifi.md: replaced" in report and "beside" not in report

    # forget: another member is refused (the document stays); the owner may.
    owner_doc = next(d for d in await service.sources(TEAM) if d.origin.owner == OWNER)
    refused = await scenario.command("/bitrag", f"forget {owner_doc.doc_id[:12]}", OTHER, PUBLIC)
    assert "Only the person who added it or an admin" in refused
    assert '"response_type": "ephemeral"' in refused  # refusals are not announced
    assert owner_doc.doc_id in {d.doc_id for d in await service.sources(TEAM)}
    done = await scenario.command("/bitrag", f"forget {owner_doc.doc_id[:12]}", OWNER, PUBLIC)
    assert "Forgot wifi.md" in done and '"response_type": "in_channel"' in done

    # An admin may replace and forget anyone's.
    await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), "F0WIFI0005")
    report = await scenario.upload(PUBLIC, ADMIN, wifi.name, wifi.text.encode() + b"\nUpdated by IT.\n",
                                   "F0WIFI0006")
    assert "wifi.md: replaced" in report
    other_doc = next(d for d in await service.sources(TEAM) if d.origin.owner == OTHER)
    done = await scenario.command("/bitrag", f"forget {other_doc.doc_id[:12]}", ADMIN, PUBLIC)
    assert "Forgot wifi.md" in done
    assert [d.origin.owner for d in await service.sources(TEAM)] == [ADMIN]

    # A private channel's document cannot even be named from a public channel, by its owner or an admin.
    legal = SECRETS[1]
    await scenario.upload(PRIVATE, OWNER, legal.name, legal.text.encode(), "F0LEGAL001")
    for user in (OWNER, ADMIN):
        outside = await scenario.command("/bitrag", f"forget {legal.name}", user, PUBLIC)
        assert "No document" in outside and legal.fact not in outside
    assert [d.source for d in await service.sources(f"{TEAM}:{PRIVATE}")] == [legal.name]
    inside = await scenario.command("/bitrag", f"forget {legal.name}", OWNER, PRIVATE)
    assert "Forgot brennan-settlement.md" in inside

    # Every change is in the audit log, readable by admins only.
    refused = await scenario.command("/bitrag", "audit", OTHER, PUBLIC)
    assert "Only admins" in refused and "F0WIFI" not in refused
    log = await scenario.command("/bitrag", "audit", ADMIN, PUBLIC)
    assert '"response_type": "ephemeral"' in log
    entries = await service.audit(TEAM)
    assert [e.action for e in reversed(entries)] == ["add", "add", "add", "replace", "forget", "add", "replace",
                                                     "forget", "add", "forget"]
    assert all(e.actor in (OWNER, OTHER, ADMIN) and e.platform == "slack" for e in entries)
    assert {e.audience for e in entries} == {TEAM, f"{TEAM}:dm:{OTHER}", f"{TEAM}:{PRIVATE}"}


async def test_slack_connect_channels_are_refused_then_read_only_their_own(fake_slack, make_settings,
                                                                            embedder) -> None:
    for channel, kind in ((PUBLIC, "public"), (SHARED, "shared")):
        fake_slack.add_conversation(channel, kind)
    wifi = SECRETS[0]
    partner = Secret(SHARED, "acme-discount.md", "# Acme\n\nThe Acme partner discount code is ACME-PARTNER-77.\n",
                     "What is the Acme partner discount code?", "ACME-PARTNER-77")
    for allow in (False, True):
        harness, close = await make_harness(fake_slack, make_settings, embedder, slack_allow_shared_channels=allow)
        scenario = Scenario(harness)
        try:
            await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), f"F0WIFI{int(allow)}")
            control, _ = await scenario.ask(PUBLIC, OWNER, wifi.question)
            assert wifi.fact in control
            if not allow:
                sent, _ = await scenario.ask(SHARED, OWNER, wifi.question)
                assert "don't work in conversations shared" in sent and wifi.fact not in sent
                listed = await scenario.command("/bitrag", "sources", OWNER, SHARED)
                assert "SLACK_ALLOW_SHARED_CHANNELS" in listed and wifi.name not in listed
                continue
            await scenario.upload(SHARED, OWNER, partner.name, partner.text.encode(), "F0ACME0001")
            sent, _ = await scenario.ask(SHARED, OWNER, wifi.question)
            assert wifi.fact not in sent and wifi.name not in sent  # workspace documents stay home
            sent, _ = await scenario.ask(SHARED, OWNER, partner.question)
            assert partner.fact in sent  # the control: the channel's own document is answered
            sent, _ = await scenario.ask(PUBLIC, OWNER, partner.question)
            assert partner.fact not in sent  # and it does not leak into the workspace either
        finally:
            await close()


async def test_a_guest_from_another_organisation_is_refused(scenario: Scenario) -> None:
    wifi = SECRETS[0]
    await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), "F0WIFI0009")
    control, _ = await scenario.ask(PUBLIC, OWNER, wifi.question)
    assert wifi.fact in control
    calls, hooks = scenario.mark()
    message = scenario.harness.user_message(f"<@{BOT_USER}> {wifi.question}", channel=PUBLIC, user="UGUEST",
                                            user_team="T2OTHER")
    await scenario.harness.event({**message, "type": "app_mention"})
    await wait_for(lambda: "don't work in conversations shared" in sent_since(scenario.fake, calls, hooks))
    assert wifi.fact not in sent_since(scenario.fake, calls, hooks)


def chat_methods(fake: FakeSlack, since: int) -> set[str]:
    return {method for method, _, _ in fake.calls[since:] if method.startswith("chat.")}


@pytest.mark.parametrize("missing", ["conversations.info", "users.info"])
async def test_a_missing_scope_fails_closed_and_says_so(fake_slack, make_settings, embedder, caplog,
                                                        missing: str) -> None:
    """Where Slack will not say who reads a conversation (or who someone is), nothing is posted there: the asker
    gets a private answer from what they alone may read, nothing is added, and the log names the scope."""
    fake_slack.add_conversation(PRIVATE, "private")
    fake_slack.add_conversation(PUBLIC, "public")
    fake_slack.members[PRIVATE] = {OWNER}
    fake_slack.users[ADMIN] = {"is_admin": True}
    legal, wifi = SECRETS[1], SECRETS[0]
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    scenario = Scenario(harness)
    try:
        await scenario.upload(PRIVATE, OWNER, legal.name, legal.text.encode(), "F0LEGAL009")
        await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), "F0WIFI0010")
        control, _ = await scenario.ask(PRIVATE, OWNER, legal.question)
        assert legal.fact in control and "chat.startStream" in fake_slack.methods()  # posted in the channel
    finally:
        await close()
    scopes = {"conversations.info": ["conversations.info"], "users.info": ["users.info", "users.list"]}[missing]
    for method in scopes:
        fake_slack.missing_scopes[method] = "channels:read" if missing == "conversations.info" else "users:read"
    harness, close = await make_harness(fake_slack, make_settings, embedder)  # a restart: nothing cached
    scenario = Scenario(harness)
    try:
        if missing == "conversations.info":
            mark = len(fake_slack.calls)
            sent, _ = await scenario.ask(PRIVATE, OTHER, legal.question)  # not a member of #legal
            assert legal.fact not in sent and chat_methods(fake_slack, mark) == {"chat.postEphemeral"}
            mark = len(fake_slack.calls)
            own, _ = await scenario.ask(PRIVATE, OWNER, legal.question)  # the control: a member, privately
            assert legal.fact in own and chat_methods(fake_slack, mark) == {"chat.postEphemeral"}
            assert "conversations.info CLEGAL failed (missing_scope, needs channels:read)" in caplog.text
            report = await scenario.upload(PRIVATE, OWNER, "notes.md", b"# Notes\n\nSomething.\n", "F0NOTES009")
            assert "could not check who can see this conversation" in report
            assert [d.source for d in await harness.adapter.core.service.sources(f"{TEAM}:{PRIVATE}")] == [
                legal.name]
        else:
            mark = len(fake_slack.calls)
            sent, _ = await scenario.ask(PUBLIC, OWNER, wifi.question)  # nobody's account can be checked
            assert wifi.fact not in sent and chat_methods(fake_slack, mark) == {"chat.postEphemeral"}
            refused = await scenario.command("/bitrag", f"forget {wifi.name}", ADMIN, PUBLIC)
            assert "No document" in refused and '"ephemeral"' in refused  # an admin we cannot verify is not one
            assert [d.source for d in await harness.adapter.core.service.sources(TEAM)] == [wifi.name]
            assert "users.list  failed (missing_scope, needs users:read)" in caplog.text
            assert "give the app users:read" in caplog.text
    finally:
        await close()


async def test_ingest_by_link_takes_only_files_shared_here_with_their_narrowest_audience(scenario: Scenario) -> None:
    fake = scenario.fake
    fake.add_file("F0ELSEWH01", "elsewhere.md", b"# Elsewhere\n\nShared only in legal.\n", user=OWNER,
                  channel=PRIVATE)
    refused = await scenario.command("/ingest", "https://fake.slack.com/files/UOWNER/F0ELSEWH01/elsewhere.md",
                                     OWNER, PUBLIC)
    assert "not shared in this conversation" in refused
    assert fake.downloads == []
    # Shared both in #general and in a DM: the document keeps the DM's audience (its user alone).
    info = fake.add_file("F0BOTH0001", "both.md", b"# Both\n\nThe vault code is 9-9-4.\n", user=OWNER,
                         channel=PUBLIC)
    info["ims"] = [DM_OWNER]
    done = await scenario.command("/ingest", "https://fake.slack.com/files/UOWNER/F0BOTH0001/both.md", OWNER, PUBLIC)
    assert "both.md: added" in done
    service = scenario.harness.adapter.core.service
    assert [d.source for d in await service.sources(f"{TEAM}:dm:{OWNER}")] == ["both.md"]
    assert await service.sources(TEAM) == []
    # External files never get the token.
    fake.add_file("F0GDRIVE01", "plan.gdoc", b"", user=OWNER, channel=PUBLIC, is_external=True,
                  external_type="gdrive")
    external = await scenario.command("/ingest", "https://fake.slack.com/files/UOWNER/F0GDRIVE01/plan.gdoc", OWNER,
                                      PUBLIC)
    assert "stored outside Slack" in external
    assert all("F0GDRIVE01" not in path for path, _ in fake.downloads)


async def test_the_token_goes_only_to_slacks_file_host() -> None:
    from bot.adapters.slack.files import SlackFiles, file_host
    from rag.errors import ParseError

    assert file_host(None) == ("https", "files.slack.com")
    assert file_host("http://127.0.0.1:9/api/") == ("http", "127.0.0.1")

    class Parser:
        def check(self, name: str, size: int) -> str:
            return "markdown"

    files = SlackFiles(None, "xoxb-secret", Parser(), 1 << 20)  # type: ignore[arg-type]
    for url in ("https://evil.example/files-pri/T1-F1/a.md", "http://files.slack.com/files-pri/T1-F1/a.md",
                "https://files.slack.com.evil.example/a.md"):
        with pytest.raises(ParseError, match="outside its file host") as raised:
            await files.fetch({"id": "F1", "name": "a.md", "size": 3, "url_private": url}, None)  # type: ignore[arg-type]
        assert "xoxb-secret" not in str(raised.value)


# --- places that change: conversions, Slack Connect, start-up ----------------------------------------------------

ROADMAP = Secret("CROADMAP", "roadmap.md", "# Roadmap\n\nProject Heron launches on 9 October with the Lisbon team.\n",
                 "When does Project Heron launch?", "9 October")


def convert(harness: Harness, channel: str) -> dict:
    """The `message` event Slack sends when a channel is made private (its id does not change)."""
    message = harness.user_message("made this channel *private*.", channel=channel, user=OWNER,
                                   subtype="channel_convert_to_private")
    return {**message, "type": "message", "channel_type": "group"}


async def test_a_channel_made_private_narrows_what_was_shared_there(scenario: Scenario) -> None:
    fake, service = scenario.fake, scenario.harness.adapter.core.service
    fake.add_conversation(ROADMAP.place, "public", name="roadmap")
    fake.members[ROADMAP.place] = {OWNER, "UCAROL"}
    await scenario.upload(ROADMAP.place, OWNER, ROADMAP.name, ROADMAP.text.encode(), "F0ROADMAP1")
    assert ROADMAP.fact in (await scenario.ask(PUBLIC, OTHER, ROADMAP.question))[0]  # the control: public, so read
    fake.convert_to_private(ROADMAP.place)
    await scenario.harness.event(convert(scenario.harness, ROADMAP.place))
    await wait_for(lambda: service.registry.documents([f"{TEAM}:{ROADMAP.place}"]) != [])
    assert await service.sources(TEAM) == []
    for place, user in ((PUBLIC, OTHER), (DM_OTHER, OTHER), (PRIVATE, OWNER)):  # OTHER is not in #roadmap
        sent, _ = await scenario.ask(place, user, ROADMAP.question)
        assert ROADMAP.fact not in sent and ROADMAP.name not in sent, place
    sent, _ = await scenario.ask(ROADMAP.place, "UCAROL", ROADMAP.question)  # its members still read it
    assert ROADMAP.fact in sent
    entries = await service.audit(TEAM)
    assert (entries[0].action, entries[0].actor, entries[0].audience) == ("narrow", "bitrag", f"{TEAM}:CROADMAP")


async def test_no_window_lets_an_upload_escape_after_a_conversion(scenario: Scenario) -> None:
    """Made private a moment ago, and Slack's event not delivered yet: what is shared there now is its own."""
    fake, service = scenario.fake, scenario.harness.adapter.core.service
    fake.add_conversation(ROADMAP.place, "public", name="roadmap")
    fake.members[ROADMAP.place] = {OWNER, OTHER}
    await scenario.ask(ROADMAP.place, OWNER, "What is on the roadmap?")  # bitrag has seen it public
    fake.convert_to_private(ROADMAP.place)
    await scenario.upload(ROADMAP.place, OWNER, ROADMAP.name, ROADMAP.text.encode(), "F0ROADMAP2")
    assert [d.source for d in await service.sources(f"{TEAM}:{ROADMAP.place}")] == [ROADMAP.name]
    assert await service.sources(TEAM) == []


async def test_conversions_while_bitrag_was_down_are_found_at_start_up(fake_slack, make_settings,
                                                                          embedder) -> None:
    deleted = Secret("CGONE", "gone.md", "# Gone\n\nThe Osprey budget is 310,000 euros.\n",
                     "What is the Osprey budget?", "310,000")
    for secret in (ROADMAP, deleted, SECRETS[0]):
        fake_slack.add_conversation(secret.place, "public")
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    scenario = Scenario(harness)
    try:
        for n, secret in enumerate((ROADMAP, deleted, SECRETS[0])):
            await scenario.upload(secret.place, OWNER, secret.name, secret.text.encode(), f"F0START{n:03d}")
    finally:
        await close()
    fake_slack.convert_to_private(ROADMAP.place)  # no event: bitrag was not running
    fake_slack.hidden.add(deleted.place)  # deleted, or made private without bitrag in it: channel_not_found
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    try:
        service = harness.adapter.core.service
        assert await harness.adapter.resume_jobs() == 0  # what `bitrag run` does before serving
        assert [d.source for d in await service.sources(TEAM)] == [SECRETS[0].name]  # the control: still public
        assert [d.source for d in await service.sources(f"{TEAM}:{ROADMAP.place}")] == [ROADMAP.name]
        assert [d.source for d in await service.sources(f"{TEAM}:{deleted.place}")] == [deleted.name]
    finally:
        await close()


async def test_a_channel_shared_with_another_organisation_narrows_and_is_refused(scenario: Scenario) -> None:
    fake, service = scenario.fake, scenario.harness.adapter.core.service
    fake.add_conversation(ROADMAP.place, "public", name="roadmap")
    await scenario.upload(ROADMAP.place, OWNER, ROADMAP.name, ROADMAP.text.encode(), "F0ROADMAP3")
    fake.conversations[ROADMAP.place].update(is_shared=True, is_ext_shared=True)
    await scenario.harness.event({"type": "channel_shared", "connected_team_id": "T2OTHER",
                                  "channel": ROADMAP.place, "event_ts": fake.next_ts()})
    await wait_for(lambda: service.registry.documents([f"{TEAM}:{ROADMAP.place}"]) != [])
    sent, _ = await scenario.ask(PUBLIC, OTHER, ROADMAP.question)
    assert ROADMAP.fact not in sent
    sent, _ = await scenario.ask(ROADMAP.place, OWNER, ROADMAP.question)
    assert "shared with other organisations" in sent and ROADMAP.fact not in sent


# --- guests and other organisations, where only they look ---------------------------------------------------

async def test_a_guest_sees_only_their_places_in_app_home_prompts_and_listings(fake_slack, make_settings,
                                                                                embedder) -> None:
    guest = "UGUEST1"
    fake_slack.users[guest] = {"is_ultra_restricted": True}  # a single-channel guest
    for channel, kind in ((PUBLIC, "public"), ("CPROJECT", "public"), (DM_OWNER, "im")):
        fake_slack.add_conversation(channel, kind, user=OWNER if kind == "im" else None)
    fake_slack.add_conversation("DGUEST1", "im", user=guest)
    fake_slack.members.update({PUBLIC: {OWNER, OTHER}, "CPROJECT": {OWNER, guest}})
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    scenario = Scenario(harness)
    try:
        wifi = SECRETS[0]
        await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), "F0GUEST001")
        await scenario.upload("CPROJECT", OWNER, "project.md", b"# Project\n\nThe kickoff is on 2 May.\n",
                              "F0GUEST002")
        for user, sees, hidden in ((guest, {"project.md"}, {wifi.name}), (OTHER, {wifi.name}, {"project.md"})):
            await harness.event({"type": "app_home_opened", "user": user, "channel": "DHOME", "tab": "home",
                                 "event_ts": fake_slack.next_ts()})
            await wait_for(lambda u=user: u in fake_slack.homes)
            home = json.dumps(fake_slack.homes[user], ensure_ascii=False)
            assert all(n in home for n in sees) and not any(n in home for n in hidden), (user, home)
        await harness.event({"type": "assistant_thread_started", "assistant_thread": {
            "user_id": guest, "channel_id": "DGUEST1", "thread_ts": "1700000000.000900"}, "event_ts": "1"})
        await wait_for(lambda: "assistant.threads.setSuggestedPrompts" in fake_slack.methods())
        prompts = next(a for m, a, _ in fake_slack.calls if m == "assistant.threads.setSuggestedPrompts")["prompts"]
        assert [p["message"] for p in prompts] == ["What are the key points of project.md?"]
        dm = await scenario.command("/bitrag", "sources", guest, "DGUEST1")
        assert "project.md" in dm and wifi.name not in dm
        sent, _ = await scenario.ask("DGUEST1", guest, wifi.question)  # the guest's DM: never the workspace's
        assert wifi.fact not in sent
        sent, _ = await scenario.ask("CPROJECT", OWNER, wifi.question)  # a member, where the guest reads
        assert wifi.fact not in sent
        sent, _ = await scenario.ask("CPROJECT", OWNER, "When is the kickoff?")  # the control
        assert "2 May" in sent
    finally:
        await close()


async def test_a_dm_with_someone_of_another_organisation_is_refused(scenario: Scenario) -> None:
    wifi = SECRETS[0]
    await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), "F0EXTDM001")
    scenario.fake.users["UEXT"] = {"team_id": "T2OTHER", "is_stranger": True}
    scenario.fake.add_conversation("DEXT", "im", user="UEXT")
    sent, _ = await scenario.ask("DEXT", "UEXT", wifi.question)
    assert "shared with other organisations" in sent and wifi.fact not in sent
    # /ask from a conversation bitrag cannot see (a DM between a member and someone outside): never in_channel.
    scenario.fake.hidden.add("DMIXED")
    reply = await scenario.command("/ask", wifi.question, OWNER, "DMIXED")
    assert '"in_channel"' not in reply and '"ephemeral"' in reply
    assert not [c for c in scenario.fake.calls if c[0].startswith("chat.") and c[1].get("channel") == "DMIXED"]


# --- hostile input -------------------------------------------------------------------------------------------

async def test_long_questions_and_hostile_names_get_clear_inert_replies(scenario: Scenario) -> None:
    fake = scenario.fake
    long = "Explain " + "the expense policy and " * 140 + "why?"  # ~3,100 characters
    reply = await scenario.command("/ask", long, OWNER, PUBLIC)
    await wait_for(lambda: "characters long" in json.dumps(fake.calls[-5:], ensure_ascii=False) + json.dumps(
        fake.webhooks, ensure_ascii=False))
    assert fake.invalid == []  # nothing Slack would refuse (invalid_blocks)
    assert "Looking for an answer" in reply
    name = "invoice\u202etxt.exe.md"
    text = b"# Reset your SSO at https://evil.example/login now\n\nThe invoice total is 4,410 euros.\n"
    report = await scenario.upload(PUBLIC, OWNER, name, text, "F0HOSTILE1")
    assert "invoice[U+202E]txt.exe.md" in report and "\u202e" not in report
    sent, _ = await scenario.ask(PUBLIC, OTHER, "What is the invoice total?")
    shown = re.sub(r"<https?://[^|>]*\|", "<", sent)  # what people see: link labels, not their targets
    assert "4,410" in shown and "|invoice[U+202E]txt.exe.md>" in sent and "\u202e" not in shown
    message = next(m for ms in fake.messages.values() for m in ms if "4,410" in json.dumps(m, ensure_ascii=False))
    sources = next(b for b in message["blocks"] if "Sources" in json.dumps(b, ensure_ascii=False))
    assert sources["text"].get("verbatim") is True  # Slack links nothing in a heading by itself
    assert "https://evil" not in sources["text"]["text"] and "https\u200b://evil" in sources["text"]["text"]
    assert fake.invalid == []


async def test_doctor_names_the_scopes_that_reading_who_is_where_needs(fake_slack, make_settings) -> None:
    from bot.doctor import _slack

    settings = make_settings(slack_bot_token=BOT_TOKEN, slack_signing_secret="s",
                             slack_api_url=f"{fake_slack.url}/api/")
    assert "reads who is in each conversation" in await _slack(settings)  # the control: every scope granted
    fake_slack.missing_scopes["users.list"] = "users:read"
    report = await _slack(settings)
    assert "cannot tell who reads a conversation — add users:read" in report and BOT_TOKEN not in report


async def test_group_dms_follow_who_is_in_them_and_accounts_follow_user_change(scenario: Scenario) -> None:
    fake, wifi = scenario.fake, SECRETS[0]
    await scenario.upload(PUBLIC, OWNER, wifi.name, wifi.text.encode(), "F0GROUP001")
    for channel, members in (("GMEMBERS", {OWNER, OTHER}), ("GGUEST", {OWNER, "UGUEST2"}),
                             ("GEXT", {OWNER, "UEXT2"})):
        fake.add_conversation(channel, "mpim")
        fake.members[channel] = members
    fake.users["UGUEST2"] = {"is_restricted": True}
    fake.users["UEXT2"] = {"team_id": "T2OTHER"}
    sent, _ = await scenario.ask("GMEMBERS", OWNER, wifi.question)
    assert wifi.fact in sent  # the control: a group DM of full members reads the workspace's documents
    sent, _ = await scenario.ask("GGUEST", OWNER, wifi.question)
    assert wifi.fact not in sent  # a guest reads this group DM
    sent, _ = await scenario.ask("GEXT", OWNER, wifi.question)
    assert "shared with other organisations" in sent and wifi.fact not in sent
    # A member made a guest: Slack's user_change event updates the account at once (no 10-minute wait).
    sent, _ = await scenario.ask(DM_OTHER, OTHER, wifi.question)
    assert wifi.fact in sent
    await scenario.harness.event({"type": "user_change", "user": {**fake.account(OTHER), "is_restricted": True},
                                  "event_ts": fake.next_ts()})
    fake.users[OTHER] = {"is_restricted": True}
    await wait_for(lambda: scenario.harness.adapter.facts._accounts[OTHER].guest)
    sent, _ = await scenario.ask(DM_OTHER, OTHER, wifi.question)
    assert wifi.fact not in sent
