"""Fetching files from Slack for ingestion: type and size are checked from `files.info` before any download, the
download uses the bot token (url_private + Bearer), and the token is only ever sent over HTTPS to Slack's own file
host (`files.slack.com`; the host of SLACK_API_URL when that is overridden, so local fakes work). Files stored
outside Slack (Google Drive and other external or remote files) are refused: their link is not Slack's to vouch for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.terms import BitragError, DocumentParser, ParseError, SourceFile, kind_of, safe_name

FILE_ID = re.compile(r"\b(F[A-Z0-9]{6,})\b")
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_read=60)


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code (`not_in_channel`…), or the HTTP status when the answer was not JSON."""
    data = exc.response.data
    return str(data.get("error")) if isinstance(data, dict) else f"HTTP {exc.response.status_code}"


def file_id_from_url(url: str) -> str | None:
    """`https://team.slack.com/files/U1/F0ABC123/report.pdf` or a files-pri URL → `F0ABC123`."""
    match = FILE_ID.search(url)
    return match.group(1) if match else None


def is_slack_link(url: str) -> bool:
    """A link into Slack itself (a file's permalink or download URL), as opposed to a web page to fetch."""
    host = urlsplit(url).hostname or ""
    return host == "slack.com" or host.endswith((".slack.com", ".slack-edge.com"))


FILE_HOST = ("https", "files.slack.com")


def file_host(api_url: str | None) -> tuple[str, str]:
    """(scheme, host) the bot token may be sent to for downloads."""
    if not api_url:
        return FILE_HOST
    parts = urlsplit(api_url)
    return parts.scheme, parts.hostname or ""


class SlackFiles:
    def __init__(self, client: AsyncWebClient, token: str, parser: DocumentParser, max_bytes: int,
                 api_url: str | None = None) -> None:
        self._client = client
        self._token = token
        self._parser = parser
        self._max_bytes = max_bytes
        self._host = file_host(api_url)

    async def info(self, file: dict[str, Any], refresh: bool = False) -> dict[str, Any]:
        """Complete file metadata (events often carry only the id); `refresh` always asks `files.info`, for where
        the file is shared now."""
        if not refresh and file.get("url_private") and file.get("name") and "size" in file:
            return file
        try:
            return (await self._client.files_info(file=file["id"]))["file"]
        except SlackApiError as exc:
            error = slack_error(exc)
            raise BitragError(f"Slack would not give me file {file.get('id')} ({error}): make sure it was shared in "
                              "a channel I am in, and that the app has the files:read scope.") from None

    async def fetch(self, file: dict[str, Any], folder: Path) -> SourceFile:
        info = await self.info(file)
        name = str(info.get("name") or info.get("title") or info["id"])
        if info.get("is_external") or info.get("mode") in ("external", "snippet_external") or info.get("external_type"):
            raise ParseError(f"{name} is stored outside Slack ({info.get('external_type') or 'an external file'}): "
                             "download it and share the file itself with me.")
        self._parser.check(name, int(info.get("size") or 0))  # raises before downloading anything
        url = info.get("url_private_download") or info.get("url_private")
        if not url:
            raise ParseError(f"{name}: Slack gave no download link (a deleted file?).")
        parts = urlsplit(url)
        if (parts.scheme, parts.hostname) != self._host:
            raise ParseError(f"{name}: Slack's download link points outside its file host, so I will not send it "
                             "my token; share the file again, or ask an admin to check SLACK_API_URL.")
        path = folder / f"{info['id']}-{safe_name(name)}"
        await self._download(url, name, path)
        # Keyed by name: a new upload of "report.pdf" replaces the previous report.pdf of this workspace.
        return SourceFile(path=path, name=name, key=f"slack:{name}", link=info.get("permalink"))

    async def _download(self, url: str, name: str, path: Path) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        async with aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT) as session, session.get(url, headers=headers) as r:
            if r.status != 200:
                raise ParseError(f"{name}: the download from Slack failed (HTTP {r.status}); try sharing it again.")
            if r.content_type == "text/html" and kind_of(Path(name)) != "html":
                raise ParseError(f"{name}: Slack sent a login page instead of the file, so the bot token was not "
                                 "accepted for downloads: reinstall the app with the files:read scope.")
            size = 0
            with path.open("wb") as out:
                async for block in r.content.iter_chunked(1 << 16):
                    size += len(block)
                    if size > self._max_bytes:
                        raise ParseError(f"{name} is larger than the MAX_FILE_MB limit.")
                    out.write(block)
