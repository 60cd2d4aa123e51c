"""Help channels that answer themselves and solved threads that become knowledge, through the real slack-bolt and
discord.py against the fakes. Every negative has its control: the same path, where allowed, does answer or file.

Audience matrix: a help channel of full members, one with a guest, a private one, a Slack Connect one; a reaction in
a private channel, a guest's reaction, a reaction by someone who is neither the asker nor an admin, a thread in a
Connect channel.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.helpdesk import looks_like_question
from tests.fakes.discord import CHANNEL_A, GUILD_A, MANAGE_GUILD
from tests.fakes.slack import TEAM, FakeSlack, wait_for
from tests.test_access_slack import SECRETS, Scenario, Secret
from tests.test_slack import make_harness

ASKER, HELPER, BYSTANDER, ADMIN, GUEST = "UASKER", "UHELPER", "UBYSTANDER", "UADMIN", "UGUEST"
HELP, MIXED, LEGAL, CONNECT, PLAIN, GENERAL = "CHELP", "CMIXED", "GLEGAL", "CCONNECT", "CPLAIN", "CGENERAL"
WIFI, LEGAL_DOC = SECRETS[0], SECRETS[1]
PARTNER = Secret(MIXED, "partner-rates.md", "# Partner rates\n\nThe partner day rate for Globex is 1,940 euros.\n",
                 "What is the partner day rate for Globex?", "1,940")


def test_what_reads_as_a_question() -> None:
    for question in ("How long must passwords be?", "what is the vpn address", "연차는 며칠까지 쓸 수 있나요",
                     "회의실 예약은 어떻게 하나요?", "Anyone know where the spare keys are", "この会議は何時ですか？"):
        assert looks_like_question(question), question
    for statement in ("Thanks everyone!", "Deploy is done.", "What a day", "", "회의는 3시에 시작합니다."):
        assert not looks_like_question(statement), statement


class Desk:
    """A running Slack app with help channels; helpers that speak Slack's events."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario, self.harness, self.fake = scenario, scenario.harness, scenario.fake
        self.service = self.harness.adapter.core.service

    def mark(self) -> int:
        return len(self.fake.calls)

    def sent(self, since: int) -> str:
        return "\n".join(json.dumps(args, ensure_ascii=False) for method, args, _ in self.fake.calls[since:]
                         if method.startswith(("chat.", "reactions.")))

    async def set_help(self, channel: str, user: str, on: bool = True) -> str:
        return await self.scenario.command("/bitrag", f"help-channel {'on' if on else 'off'}", user, channel)

    async def post(self, channel: str, user: str, text: str) -> dict[str, Any]:
        """A top-level message, no mention; returns it once bitrag has answered or looked (or, for a message it
        must leave alone, once a sentinel question after it was handled)."""
        message = self.harness.user_message(text, channel=channel, user=user)
        await self.harness.event({**message, "type": "message", "channel_type": "channel"})
        return message

    async def answered(self, channel: str, message: dict[str, Any]) -> str:
        """The answer in the message's thread, once finished, or "" once bitrag reacted 🔍 instead."""
        def done() -> bool:
            looked = any(m == "reactions.add" and a.get("name") == "mag" and a.get("timestamp") == message["ts"]
                         for m, a, _ in self.fake.calls)
            return looked or any("ources*" in self.fake.final_text(m["ts"]) for m in self.replies(channel, message))

        await wait_for(done)
        return "\n".join(self.fake.final_text(m["ts"]) for m in self.replies(channel, message))

    def replies(self, channel: str, message: dict[str, Any]) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages.get(channel, []) if m.get("thread_ts") == message["ts"]
                and m.get("bot_id")]

    async def react(self, channel: str, message: dict[str, Any], user: str, removed: bool = False) -> None:
        await self.harness.event({"type": "reaction_removed" if removed else "reaction_added", "user": user,
                                  "reaction": "white_check_mark", "item": {"type": "message", "channel": channel,
                                                                            "ts": message["ts"]},
                                  "item_user": message["user"], "event_ts": self.fake.next_ts()})

    def filed(self, audience: str) -> list[str]:
        return [d.source for d in self.service.registry.documents([audience]) if d.source.startswith("slack-solved")]


@pytest_asyncio.fixture
async def desk(fake_slack: FakeSlack, make_settings, embedder) -> AsyncIterator[Desk]:
    for channel, kind in ((HELP, "public"), (MIXED, "public"), (LEGAL, "private"), (CONNECT, "shared"),
                          (PLAIN, "public"), (GENERAL, "public")):
        fake_slack.add_conversation(channel, kind, name=channel.lower())
    everyone = {ASKER, HELPER, BYSTANDER, ADMIN}
    fake_slack.members.update({HELP: everyone, MIXED: everyone | {GUEST}, LEGAL: {ASKER, HELPER, ADMIN},
                               PLAIN: everyone, GENERAL: everyone, CONNECT: everyone})
    fake_slack.users.update({ADMIN: {"is_admin": True}, GUEST: {"is_restricted": True}})
    harness, close = await make_harness(fake_slack, make_settings, embedder)
    scenario = Scenario(harness)
    await scenario.upload(GENERAL, ASKER, WIFI.name, WIFI.text.encode(), "F0DESKWIFI")
    await scenario.upload(LEGAL, ASKER, LEGAL_DOC.name, LEGAL_DOC.text.encode(), "F0DESKLEGL")
    await scenario.upload(MIXED, ASKER, PARTNER.name, PARTNER.text.encode(), "F0DESKPART")
    yield Desk(scenario)
    await close()


async def test_a_help_channel_answers_confident_questions_in_their_thread(desk: Desk) -> None:
    refused = await desk.set_help(HELP, BYSTANDER)
    assert "Only admins" in refused and '"ephemeral"' in refused
    question = await desk.post(HELP, ASKER, WIFI.question)  # not a help channel yet: left alone…
    sentinel = await desk.post(HELP, ASKER, "<@UBOT> " + WIFI.question)  # …a mention still is answered
    await desk.harness.event({**sentinel, "type": "app_mention"})
    await wait_for(lambda: desk.fake.finished(0, sentinel["ts"]) > 0)
    assert desk.replies(HELP, question) == []

    announced = await desk.set_help(HELP, ADMIN)
    assert "now answers questions by itself" in announced
    mark = desk.mark()
    question = await desk.post(HELP, ASKER, WIFI.question)
    answer = await desk.answered(HELP, question)
    assert WIFI.fact in answer and WIFI.name in answer  # a threaded answer, cited
    unknown = await desk.post(HELP, ASKER, "What is the capital of Mongolia?")
    assert await desk.answered(HELP, unknown) == ""  # not confident: nothing posted, a 🔍 instead
    chatter = await desk.post(HELP, ASKER, "Thanks everyone!")
    elsewhere = await desk.post(PLAIN, ASKER, WIFI.question)
    last = await desk.post(HELP, BYSTANDER, WIFI.question)  # the sentinel: handled after the two above
    assert WIFI.fact in await desk.answered(HELP, last)
    assert desk.replies(HELP, chatter) == [] and desk.replies(PLAIN, elsewhere) == []
    assert not any(a.get("timestamp") in (chatter["ts"], elsewhere["ts"]) for m, a, _ in desk.fake.calls[mark:]
                   if m == "reactions.add")

    helped = await desk.scenario.command("/bitrag", "help", BYSTANDER, HELP)
    assert "This channel is a help channel" in helped
    await desk.harness.event({"type": "app_home_opened", "user": BYSTANDER, "channel": "DHOME", "tab": "home",
                              "event_ts": desk.fake.next_ts()})
    await wait_for(lambda: BYSTANDER in desk.fake.homes)
    assert f"<#{HELP}>" in json.dumps(desk.fake.homes[BYSTANDER])
    assert "no longer answers" in await desk.set_help(HELP, ADMIN, on=False)
    again = await desk.post(HELP, ASKER, WIFI.question)
    last = await desk.post(PLAIN, ASKER, "<@UBOT> sentinel")
    await desk.harness.event({**last, "type": "app_mention"})
    await wait_for(lambda: desk.fake.finished(mark, last["ts"]) > 0)
    assert desk.replies(HELP, again) == []


@pytest.mark.parametrize(("channel", "secret", "allowed"), [
    (HELP, LEGAL_DOC, False),  # a private channel's document, asked where everyone reads
    (MIXED, WIFI, False),  # a workspace document, asked where a guest reads
    (MIXED, PARTNER, True),  # the control: that channel's own
    (LEGAL, WIFI, True),  # the control: a private channel of full members reads the workspace's
    (LEGAL, LEGAL_DOC, True),
    (HELP, WIFI, True),
])
async def test_a_help_channel_answers_only_from_what_everyone_there_may_read(desk: Desk, channel: str,
                                                                             secret: Secret, allowed: bool) -> None:
    await desk.set_help(channel, ADMIN)
    answer = await desk.answered(channel, await desk.post(channel, ASKER, secret.question))
    assert (secret.fact in answer) == allowed and (secret.name in answer) == allowed


async def test_a_connect_channel_is_never_a_help_channel(desk: Desk) -> None:
    refused = await desk.set_help(CONNECT, ADMIN)
    assert "shared with other organisations" in refused
    desk.harness.adapter.flow.help_channels.set("slack", TEAM, CONNECT, ADMIN, True)  # set before it was shared
    question = await desk.post(CONNECT, ASKER, WIFI.question)
    assert await desk.answered(CONNECT, question) == ""  # looked, posted nothing
    assert not any(a.get("channel") == CONNECT for m, a, _ in desk.fake.calls if m.startswith("chat."))


async def test_solved_threads_become_knowledge_of_their_audience(desk: Desk) -> None:
    root = await desk.post(HELP, ASKER, "Where are the spare office keys kept?")
    answer = desk.fake.add_message(HELP, "The spare keys are in the red box behind reception, code 5150.",
                                   user=HELPER, thread_ts=root["ts"])
    await desk.react(HELP, answer, BYSTANDER)  # neither the asker nor an admin: ignored…
    await desk.react(HELP, answer, ASKER)  # …the asker: filed (the control, same path)
    await wait_for(lambda: desk.filed(TEAM))
    assert desk.filed(TEAM) == [f"slack-solved-{HELP}-{root['ts'].replace('.', '-')}.md"]
    [document] = [d for d in await desk.service.sources(TEAM) if d.source.startswith("slack-solved")]
    assert document.origin.owner == ASKER and document.link.startswith(f"https://fake.slack.com/archives/{HELP}")
    sent, _ = await desk.scenario.ask(PLAIN, BYSTANDER, "Where are the spare office keys kept?")
    assert "red box behind reception" in sent and "slack-solved" in sent  # cited, linked to the thread
    await desk.react(HELP, answer, ASKER, removed=True)
    await wait_for(lambda: not desk.filed(TEAM))

    await desk.react(HELP, answer, ADMIN)  # an admin may file it too
    await wait_for(lambda: desk.filed(TEAM))
    deleted = desk.harness.user_message("", channel=HELP, user=ASKER, subtype="message_deleted",
                                        deleted_ts=root["ts"], previous_message={**root, "reply_count": 1})
    await desk.harness.event({**deleted, "type": "message", "channel_type": "channel"})
    await wait_for(lambda: not desk.filed(TEAM))  # the thread's first message deleted: forgotten


async def test_solved_threads_keep_the_audience_of_their_place(desk: Desk) -> None:
    private_root = await desk.post(LEGAL, ASKER, "Who signs the Brennan papers?")
    desk.fake.add_message(LEGAL, "Marta Reyes signs the Brennan papers.", user=HELPER, thread_ts=private_root["ts"])
    await desk.react(LEGAL, private_root, ASKER)
    await wait_for(lambda: desk.filed(f"{TEAM}:{LEGAL}"))
    outside, _ = await desk.scenario.ask(PLAIN, BYSTANDER, "Who signs the Brennan papers?")
    inside, _ = await desk.scenario.ask(LEGAL, HELPER, "Who signs the Brennan papers?")
    assert "Marta Reyes" not in outside and "Marta Reyes" in inside  # negative, and its control

    guest_root = await desk.post(MIXED, GUEST, "When is the partner summit?")
    desk.fake.add_message(MIXED, "The partner summit is on 4 June in Porto.", user=HELPER,
                          thread_ts=guest_root["ts"])
    await desk.react(MIXED, guest_root, GUEST)  # a guest's reaction: filed for that channel, never the workspace
    await wait_for(lambda: desk.filed(f"{TEAM}:{MIXED}"))
    assert desk.filed(TEAM) == []
    outside, _ = await desk.scenario.ask(PLAIN, BYSTANDER, "When is the partner summit?")
    inside, _ = await desk.scenario.ask(MIXED, GUEST, "When is the partner summit?")
    assert "4 June" not in outside and "4 June" in inside

    shared_root = desk.harness.user_message("Which port does the partner VPN use?", channel=CONNECT, user=ASKER)
    desk.fake.add_message(CONNECT, "The partner VPN uses port 4443.", user=HELPER, thread_ts=shared_root["ts"])
    mark = desk.mark()
    await desk.react(CONNECT, shared_root, ASKER)
    await wait_for(lambda: "shared with other organisations" in desk.sent(mark))
    assert all(not d.source.startswith("slack-solved") or CONNECT not in d.source
               for d in desk.service.registry.documents([TEAM, f"{TEAM}:{CONNECT}"]))
    posted = {m for m, _, _ in desk.fake.calls[mark:] if m.startswith("chat.")}
    assert posted <= {"chat.postEphemeral", "chat.getPermalink"}  # the refusal to the reactor alone


# --- Discord ---------------------------------------------------------------------------------------------------

class DiscordDesk:
    def __init__(self, running: Any, channels: dict[str, int]) -> None:
        self.running, self.fake, self.channels = running, running.fake, channels
        self.service = running.service

    async def set_help(self, channel: str, user: int, on: bool = True) -> dict[str, Any]:
        callbacks = len(self.fake.callbacks)
        await self.fake.interaction("help-channel", [{"name": "enabled", "type": 5, "value": on}], GUILD_A,
                                    self.channels[channel], user, permissions=MANAGE_GUILD if user == D_ADMIN else None)
        await wait_for(lambda: len(self.fake.callbacks) > callbacks)
        return self.fake.callbacks[callbacks]["data"]

    async def answered(self, message: dict[str, Any]) -> str:
        """The answer in the thread on (or of) `message` once finished, or "" once bitrag reacted 🔍."""
        thread = int(message["id"])

        def done() -> bool:
            looked = any(m == int(message["id"]) for _, m, _ in self.fake.reactions)
            return looked or any("\n-# " in m["content"] for m in self.fake.bot_messages(thread))

        await wait_for(done)
        return "\n".join(m["content"] for m in self.fake.bot_messages(thread))

    def filed(self, audience: str) -> list[str]:
        return [d.source for d in self.service.registry.documents([audience])
                if d.source.startswith("discord-solved")]


D_ASKER, D_HELPER, D_BYSTANDER, D_ADMIN = (600000000000000201, 600000000000000202, 600000000000000203,
                                           600000000000000204)


@pytest_asyncio.fixture
async def discord_desk(fake_discord, make_settings, embedder) -> AsyncIterator[DiscordDesk]:
    from tests.test_access_discord import World
    from tests.test_discord import start_bot, stop_bot

    channels = {"general": CHANNEL_A, "help": fake_discord.add_channel(GUILD_A, "help"),
                "legal": fake_discord.add_channel(GUILD_A, "legal", private=True),
                "questions": fake_discord.add_channel(GUILD_A, "questions", kind=15)}
    running = await start_bot(fake_discord, make_settings, embedder, discord_guild_ids=str(GUILD_A))
    world = World(running, 0, 0, 0)
    await world.upload(channels["general"], D_ASKER, WIFI.name, WIFI.text.encode())
    await world.upload(channels["legal"], D_ASKER, LEGAL_DOC.name, LEGAL_DOC.text.encode())
    yield DiscordDesk(running, channels)
    await stop_bot(running)


async def test_discord_help_channels_and_forums_answer_and_solved_threads_are_kept(discord_desk: DiscordDesk) -> None:
    desk, fake = discord_desk, discord_desk.fake
    refused = await desk.set_help("help", D_BYSTANDER)
    assert refused["flags"] & 64 and "Only admins" in refused["content"]
    assert "now answers questions" in (await desk.set_help("help", D_ADMIN))["content"]

    question = await fake.message(desk.channels["help"], D_ASKER, WIFI.question, guild=GUILD_A)
    answer = await desk.answered(question)
    assert WIFI.fact in answer and WIFI.name in answer  # answered in a thread on the question, no mention
    legal = await fake.message(desk.channels["help"], D_ASKER, LEGAL_DOC.question, guild=GUILD_A)
    assert await desk.answered(legal) == ""  # a private channel's document: not here (🔍 instead)
    await desk.set_help("legal", D_ADMIN)
    inside = await fake.message(desk.channels["legal"], D_ASKER, LEGAL_DOC.question, guild=GUILD_A)
    assert LEGAL_DOC.fact in await desk.answered(inside)  # the control: where its readers ask

    await desk.set_help("questions", D_ADMIN)  # a forum: each new post is a question
    post = await fake.forum_post(desk.channels["questions"], GUILD_A, D_BYSTANDER, "wifi?", WIFI.question)
    assert WIFI.fact in await desk.answered(post)

    # Solved: a helper answers in the thread, the asker reacts ✅ on it; a bystander's ✅ is ignored.
    thread = int(question["id"])
    reply = await fake.message(thread, D_HELPER, "The spare keys are in the red box behind reception, code 5150.",
                               guild=GUILD_A)
    await fake.react(reply, D_BYSTANDER, guild=GUILD_A)
    await fake.react(reply, D_ASKER, guild=GUILD_A)
    await wait_for(lambda: desk.filed(str(GUILD_A)))
    assert desk.filed(str(GUILD_A)) == [f"discord-solved-{thread}.md"]
    [document] = [d for d in await desk.service.sources(str(GUILD_A)) if d.source.startswith("discord-solved")]
    assert document.origin.owner == str(D_ASKER) and document.link.endswith(f"/{desk.channels['help']}/{thread}")
    await fake.react(reply, D_ASKER, removed=True, guild=GUILD_A)
    await wait_for(lambda: not desk.filed(str(GUILD_A)))
    await fake.react(reply, D_ASKER, guild=GUILD_A)
    await wait_for(lambda: desk.filed(str(GUILD_A)))
    await fake.delete(question, GUILD_A)  # the thread's first message deleted: forgotten
    await wait_for(lambda: not desk.filed(str(GUILD_A)))


# --- knowledge gaps that close -------------------------------------------------------------------------------

def home_of(desk: Desk, user: str) -> str:
    return json.dumps(desk.fake.homes.get(user, {}), ensure_ascii=False)


async def open_home(desk: Desk, user: str) -> str:
    before = sum(1 for m, a, _ in desk.fake.calls if m == "views.publish" and a["user_id"] == user)
    await desk.harness.event({"type": "app_home_opened", "user": user, "channel": "DHOME", "tab": "home",
                              "event_ts": desk.fake.next_ts()})
    await wait_for(lambda: sum(1 for m, a, _ in desk.fake.calls if m == "views.publish"
                               and a["user_id"] == user) > before)
    return home_of(desk, user)


async def test_admins_close_knowledge_gaps_from_app_home(desk: Desk) -> None:
    question = "What is the dress code for the summer party?"
    asked, _ = await desk.scenario.ask(HELP, ASKER, question)
    assert "I don't know" in asked  # a gap
    secret = "Who is the judge in the Osprey arbitration?"
    await desk.scenario.ask(LEGAL, ASKER, secret)  # a gap in a private channel
    assert "Knowledge gaps" not in await open_home(desk, BYSTANDER)  # not an admin: no gaps at all
    home = await open_home(desk, ADMIN)  # an admin who is a member of #legal sees both
    assert question in home and secret in home
    desk.fake.users["UADMIN2"] = {"is_admin": True}  # an admin outside #legal: not the private one (negative)…
    other = await open_home(desk, "UADMIN2")
    assert question in other and secret not in other  # …while the public one is there (its control)

    button = next(b["accessory"] for b in desk.fake.homes[ADMIN]["blocks"]
                  if b.get("accessory", {}).get("action_id") == "bitrag_gap" and question in json.dumps(b))
    payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": ADMIN}, "api_app_id": "A1",
               "token": "legacy", "trigger_id": "1.2.3", "container": {"type": "view", "view_id": "V1"},
               "actions": [{**button, "block_id": "b1", "action_ts": "1"}]}
    from tests.test_slack_ai import interact

    await interact(desk.harness, payload)
    await wait_for(lambda: desk.fake.modals)
    modal = desk.fake.modals[-1]
    assert question in json.dumps(modal) and modal["private_metadata"] == button["value"]
    from slack_sdk.models.views import View

    for view in (desk.fake.homes[ADMIN], modal):  # what Slack would accept (slack_sdk's Block Kit validation)
        View(**view).validate_json()
    submission = {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": ADMIN}, "api_app_id": "A1",
                  "token": "legacy", "trigger_id": "1.2.4",
                  "view": {**modal, "id": "VMODAL", "state": {"values": {"answer": {"text": {
                      "type": "plain_text_input", "value": "Smart casual; bring a jacket for the roof terrace."}}}}}}
    await interact(desk.harness, submission)
    await wait_for(lambda: any("added" in json.dumps(m) for m in desk.fake.messages.get(ADMIN, [])))
    answered, _ = await desk.scenario.ask(HELP, BYSTANDER, question)
    assert "Smart casual" in answered and "answer-" in answered  # closed: the next asker there is answered
    assert [d.audience for d in await desk.service.sources([TEAM]) if d.source.startswith("answer-")] == [TEAM]
