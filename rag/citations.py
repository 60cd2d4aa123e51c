"""Citation markers in generated answers: `[2]`, `[1, 3]`, `[1][3]`.

A model can cite a number that was never retrieved (or be talked into it by a document): such markers are
removed. The remaining ones are renumbered 1..k in order of first appearance, so the sources list is short and
matches the text.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"\[(\s*\d+(?:\s*,\s*\d+)*\s*)\]")


def renumber(text: str, available: int) -> tuple[str, list[int]]:
    """Returns the cleaned text and, for each new number 1..k, the original 1-based source number it stands for."""
    order: list[int] = []

    def replace(match: re.Match[str]) -> str:
        kept = []
        for part in match.group(1).split(","):
            original = int(part)
            if 1 <= original <= available:
                if original not in order:
                    order.append(original)
                new = order.index(original) + 1
                if new not in kept:
                    kept.append(new)
        return "".join(f"[{n}]" for n in kept)

    cleaned = MARKER.sub(replace, text)
    cleaned = re.sub(r"(\[\d+\])(?:\1)+", r"\1", cleaned)  # "[1][1]" → "[1]"
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)  # "fact [9]." with [9] dropped → "fact."
    return cleaned.strip(), order
