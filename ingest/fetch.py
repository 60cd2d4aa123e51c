"""`/ingest <url>`: a web page or a linked document fetched with aiohttp, politely and within limits.

A chat bot that fetches any URL a user pastes is a server-side request forgery tool unless it is careful, so:
only http(s); hosts that resolve to private, loopback or link-local addresses are refused (cloud metadata
endpoints, the cluster's own services) unless `URL_ALLOW_PRIVATE` allows them — checked for every hop of a
redirect and by the resolver every connection uses, so DNS rebinding is covered too; robots.txt is obeyed for our
user agent; the body is capped at MAX_FILE_MB and the whole fetch at URL_TIMEOUT_S; only content types bitrag can
read are kept.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.robotparser
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from ingest.formats import kind_of
from ingest.names import safe_name
from rag.errors import FetchError
from rag.models import SourceFile
from rag.settings import Network, private_networks

MAX_REDIRECTS = 5
USER_AGENT = "bitrag/0.1 (document indexer; +https://github.com/bitrag/bitrag)"
CONTENT_TYPES = {
    "text/html": ".html", "application/xhtml+xml": ".html", "text/plain": ".txt", "text/markdown": ".md",
    "text/csv": ".csv", "application/json": ".json", "application/pdf": ".pdf", "application/epub+zip": ".epub",
    "application/rtf": ".rtf", "text/rtf": ".rtf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.text": ".odt",
}


@dataclass(frozen=True)
class AddressPolicy:
    """Where `ingest <url>` may connect: public addresses, plus what `URL_ALLOW_PRIVATE` opens — `true` for
    everything, or a comma-separated list of networks/addresses (an intranet wiki: `10.20.0.0/16,10.0.0.7`)."""

    allow_all: bool = False
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, value: str) -> AddressPolicy:
        allow_all, networks = private_networks(value)
        return cls(allow_all, networks)

    def check(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if self.allow_all or address.is_global or any(address in network for network in self.networks):
            return
        raise FetchError(f"{host} is a private or local address ({address}); bitrag does not fetch those unless "
                         "URL_ALLOW_PRIVATE allows it. Upload the file instead.")


class CheckedResolver(aiohttp.ThreadedResolver):
    """DNS answers outside the policy end the fetch: the check sits where every connection is made, so a name that
    resolves (or re-resolves, DNS rebinding) into the network is caught."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__()
        self._policy = policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[aiohttp.abc.ResolveResult]:
        try:
            answers = await super().resolve(host, port, family)
        except OSError:
            raise FetchError(f"{host} could not be found (DNS): check the link.") from None
        for answer in answers:
            self._policy.check(host, ipaddress.ip_address(answer["host"]))
        return answers


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


class UrlFetcher:
    def __init__(self, max_bytes: int, timeout_s: float, policy: AddressPolicy) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.policy = policy

    async def fetch(self, url: str, folder: Path) -> SourceFile:
        """Download `url` into `folder`; the document is keyed by its URL, so fetching it again updates it."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url, folder)
        except TimeoutError:
            raise FetchError(f"{url} did not answer within {self.timeout_s:g} s (URL_TIMEOUT_S).") from None
        except aiohttp.ClientError as exc:
            raise FetchError(f"{url} could not be fetched ({type(exc).__name__}: {exc}).") from None

    async def _fetch(self, url: str, folder: Path) -> SourceFile:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url!r} is not a web address: use an http:// or https:// link.")
        self._check_literal(parts.hostname)
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(self.policy))
        async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}, connector=connector) as session:
            if not await self._robots_allow(session, url):
                raise FetchError(f"{parts.hostname}'s robots.txt does not allow bots to fetch {url}: download it "
                                 "yourself and upload the file.")
            async with await self._follow(session, url) as response:
                if response.status != 200:
                    raise FetchError(f"{url} answered HTTP {response.status}; check the link.")
                content_type = response.content_type.lower()
                suffix = CONTENT_TYPES.get(content_type)
                if suffix is None:
                    raise FetchError(f"{url} is {content_type or 'of no declared type'}, which bitrag does not read: "
                                     "link to a web page, PDF, Office or text document.")
                declared = response.content_length
                if declared is not None and declared > self.max_bytes:
                    raise self._too_large(url)
                target = folder / self._file_name(parts.path, parts.hostname, suffix)
                size = 0
                with target.open("wb") as sink:
                    async for block in response.content.iter_chunked(1 << 16):
                        size += len(block)
                        if size > self.max_bytes:
                            raise self._too_large(url)
                        sink.write(block)
        return SourceFile(path=target, name=target.name, key=url, link=url)

    async def _follow(self, session: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
        """GET with redirects followed here, so that every hop's host is checked like the first."""
        for _ in range(MAX_REDIRECTS + 1):
            response = await session.get(url, allow_redirects=False)
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            response.release()
            url = str(response.url.join(URL(location)))
            target = urlsplit(url)
            if target.scheme not in ("http", "https") or not target.hostname:
                raise FetchError(f"The link redirects to {url!r}, which is not a web address.")
            self._check_literal(target.hostname)
        raise FetchError(f"{url} redirects more than {MAX_REDIRECTS} times.")

    def _check_literal(self, host: str) -> None:
        """An address written as an IP skips DNS, so the resolver cannot check it: check it here."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name: `CheckedResolver` checks what it resolves to
        self.policy.check(host, address)

    def _too_large(self, url: str) -> FetchError:
        return FetchError(f"{url} is larger than {self.max_bytes / 2**20:g} MB (MAX_FILE_MB).")

    @staticmethod
    def _file_name(path: str, host: str, suffix: str) -> str:
        """`/docs/guide` → `guide.html`, `/a/report.pdf` → `report.pdf`, `/` → `example.com.html`: what citations
        show, with an extension that matches what the server sent."""
        name = safe_name(Path(path).name or host)
        return name if kind_of(Path(name)) == kind_of(Path(f"x{suffix}")) else f"{name}{suffix}"

    async def _robots_allow(self, session: aiohttp.ClientSession, url: str) -> bool:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        try:
            async with await self._follow(session, robots_url) as response:
                if response.status >= 400:
                    return True  # no robots.txt: everything is allowed
                rules = (await response.content.read(512 * 1024)).decode("utf-8", errors="replace")
        except aiohttp.ClientError:
            return True
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(rules.splitlines())
        return parser.can_fetch(USER_AGENT, url)
