"""Block Kit and mrkdwn for bot-core views.

Limits respected: 3,000 characters per section block, 50 blocks per message (answers spill into follow-up messages),
40,000 characters of fallback text. Code blocks are never cut open (`split_markdown`).
"""

from __future__ import annotations

import re
from typing import Any

from bot.safety import inert
from bot.streaming import split_markdown
from bot.views import AnswerView, DocumentsView, StatsView, View
from bot.views import listing as listing_of

SECTION_LIMIT = 3000
BLOCKS_PER_MESSAGE = 45  # 50 is Slack's limit; leave room for the sources, notice, footer and buttons
FEEDBACK_UP = "bitrag_feedback_up"
FEEDBACK_DOWN = "bitrag_feedback_down"
FEEDBACK = "bitrag_feedback"  # Slack's own feedback_buttons on streamed answers: values "up:<id>" / "down:<id>"

Message = tuple[str, list[dict[str, Any]]]  # (fallback text, blocks)


def escape(text: str) -> str:
    """Slack needs &, < and > escaped in mrkdwn text (they start links and mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Markdown (what LLMs write) → Slack mrkdwn; code blocks and inline code are left alone."""
    out = []
    for i, part in enumerate(re.split(r"(```.*?```)", markdown, flags=re.S)):
        if i % 2:
            out.append(part)
            continue
        text = escape(part)
        text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", text)
        text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: f"*{m.group(1) or m.group(2)}*", text)
        text = re.sub(r"^#{1,6}\s+(.+)$", r"*\1*", text, flags=re.M)
        text = re.sub(r"^(\s*)[-*]\s+", r"\1• ", text, flags=re.M)
        out.append(text)
    return "".join(out)


def section(text: str, verbatim: bool = False) -> dict[str, Any]:
    """`verbatim`: for model text — Slack then links nothing by itself (URLs, channel names, mentions); only the
    explicit `<url|label>` links `to_mrkdwn` made from a source's own URL stay links."""
    text_object = {"type": "mrkdwn", "text": text, **({"verbatim": True} if verbatim else {})}
    return {"type": "section", "text": text_object}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def source_lines(view: AnswerView) -> str:
    lines = [f"*{view.sources_title}*"]
    for s in view.sources:
        name = f"<{s.link}|{escape(s.name)}>" if s.link else f"`{escape(s.name)}`"
        where = f" · {escape(s.location)}" if s.location else ""
        lines.append(f"[{s.n}] {name}{where} · {s.score:.2f}")
    return "\n".join(lines)


def feedback_buttons(answer_id: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"feedback:{answer_id}", "elements": [
        {"type": "button", "action_id": FEEDBACK_UP, "value": answer_id, "text": {"type": "plain_text", "text": "👍"}},
        {"type": "button", "action_id": FEEDBACK_DOWN, "value": answer_id,
         "text": {"type": "plain_text", "text": "👎"}}]}


def feedback_actions(answer_id: str) -> dict[str, Any]:
    """Slack's own 👍/👎 for AI answers: a `feedback_buttons` element in a `context_actions` block."""
    def button(text: str, vote: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": text}, "value": f"{vote}:{answer_id}",
                "accessibility_label": f"Mark this answer as {'helpful' if vote == 'up' else 'not helpful'}"}

    return {"type": "context_actions", "block_id": f"feedback:{answer_id}", "elements": [
        {"type": "feedback_buttons", "action_id": FEEDBACK, "positive_button": button("👍", "up"),
         "negative_button": button("👎", "down")}]}


def answer_tail(view: AnswerView) -> list[dict[str, Any]]:
    """What follows an answer's text: notice, sources, mode and timings."""
    tail: list[dict[str, Any]] = []
    if view.notice:
        tail.append(context(f":warning: {escape(view.notice)}"))
    if view.sources:  # verbatim: a heading's text is never linked by Slack; only the source's own link is
        tail.append(section(source_lines(view)[:SECTION_LIMIT], verbatim=True))
    tail.append(context(f"{view.mode} · {view.timing_line}"))
    return tail


def answer_messages(view: AnswerView, header: str | None = None, answer_id: str | None = None) -> list[Message]:
    """The answer as one or more messages; sources, footer and vote buttons go on the last one."""
    blocks = [section(header)] if header else []
    blocks += [section(piece, verbatim=True) for piece in split_markdown(to_mrkdwn(view.body), SECTION_LIMIT)]
    tail = answer_tail(view)
    if answer_id:
        tail.append(feedback_buttons(answer_id))
    pages = [blocks[i:i + BLOCKS_PER_MESSAGE] for i in range(0, len(blocks), BLOCKS_PER_MESSAGE)] or [[]]
    pages[-1] += tail
    fallback = escape(view.body[:3900])  # the fallback `text` is mrkdwn too: nothing in it may link or mention
    return [(fallback if i == 0 else "(continued)", page) for i, page in enumerate(pages)]


def streaming_message(header: str | None, partial: str) -> Message:
    text = to_mrkdwn(partial)[-SECTION_LIMIT + 10:] + " …"
    return escape(partial[:3900]) or "…", ([section(header)] if header else []) + [section(text, verbatim=True)]


def view_message(view: View) -> Message:
    """Any view as one message; everything but an answer in verbatim sections (Slack links nothing by itself)."""
    if isinstance(view, AnswerView):
        return answer_messages(view)[0]
    shown = listing_of(view)
    title = (":warning: " if shown.error else "") + (f"*{escape(shown.title)}*" if shown.items else escape(shown.title))
    lines = [title] if shown.title else []
    return shown.title or shown.items[0], listing([*lines, *map(escape, shown.items)])


def listing(lines: list[str], most: int = 45) -> list[dict[str, Any]]:
    """Lines that name documents, in verbatim sections (Slack links nothing in them by itself)."""
    return [section(piece, verbatim=True) for piece in split_markdown("\n".join(lines), SECTION_LIMIT)][:most]


GAP = "bitrag_gap"  # "Answer it" on a knowledge gap in App Home (value: the stored answer's id)
GAP_MODAL = "bitrag_gap_answer"


def gap_blocks(gaps: list[tuple[str, int, str, str | None]]) -> list[dict[str, Any]]:
    """Admins' App Home: each (question, times asked, answer id, link to where it was asked) with "Answer it"."""
    blocks: list[dict[str, Any]] = [{"type": "divider"}, section("*Knowledge gaps* — questions the documents did not "
                                                                 "answer (or answered badly); your answer becomes "
                                                                 "a document where they were asked")]
    for question, count, answer_id, link in gaps[:10]:
        where = f" · <{link}|where it was asked>" if link else ""
        blocks.append({**section(f"{escape(inert(question))[:2500]} ×{count}{where}"), "accessory": {
            "type": "button", "action_id": GAP, "value": answer_id, "text": {"type": "plain_text",
                                                                              "text": "Answer it"}}})
    return blocks


def gap_modal(question: str, answer_id: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": GAP_MODAL, "private_metadata": answer_id,
            "title": {"type": "plain_text", "text": "Answer a question"}, "submit": {"type": "plain_text",
                                                                                     "text": "Save"},
            "blocks": [section(f"*{escape(inert(question))[:2900]}*", verbatim=True),
                       {"type": "input", "block_id": "answer", "label": {"type": "plain_text", "text": "Your answer"},
                        "element": {"type": "plain_text_input", "action_id": "text", "multiline": True}}]}


def home_view(documents: DocumentsView, stats: StatsView, recent: list[tuple[str, str | None]],
              help_channels: list[str] = (), gaps: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """The App Home tab: the documents this person may read and where each came from, how to add more, the
    help channels, the index's numbers, and their last questions linked to the answers."""
    listed = [f"• {escape(line)}" for line in documents.lines()] or ["No documents yet."]
    asked = [f"• <{link}|{escape(q[:150])}>" if link else f"• {escape(q[:150])}" for q, link in recent]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "bitrag: answers from your team's documents"}},
        section(f"*Documents you can ask about ({len(documents.documents)})*"),
        *listing(listed, 40),
        {"type": "divider"},
        section("*Add more:* share files in a message that mentions @bitrag or in a DM with me, use "
                "*Add to knowledge base* on any message (⋮ › More actions), or `/ingest <link>`. A document serves "
                "the place it was shared: a public channel's the whole workspace, a private one its members, a DM "
                "you alone."),
        context(" · ".join(f"{label}: {escape(value)}" for label, value in stats.lines[:3])),
    ]
    if help_channels:  # channel ids from bitrag's own settings: rendered as channel links
        blocks.insert(-1, section("*Help channels* — questions there are answered without a mention: "
                                  + ", ".join(f"<#{c}>" for c in help_channels[:50])))
    if asked:
        blocks += [{"type": "divider"}, section("*Your last questions*\n" + "\n".join(asked)[:SECTION_LIMIT])]
    return {"type": "home", "blocks": [*blocks, *gaps][:100]}
