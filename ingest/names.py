"""File names from outside (chat uploads, archive members, URLs) made safe to write and to show."""

from __future__ import annotations

import re
from pathlib import Path


def safe_name(name: str) -> str:
    """A file name that cannot leave the download folder (no path parts, no control or shell characters)."""
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^\w.\- ]+", "_", base, flags=re.UNICODE).strip(" .") or "file"
    return cleaned[-200:]
