"""`bitrag doctor`: checks every part the configuration names, each on its own, and says what to fix.

Unlike the other commands it does not stop at the first failure: a new deployment usually has several things to
fix at once, and seeing all of them saves round trips.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.settings import Settings
from bot.wiring import quiet_third_party_warnings
from ingest import ocr
from rag.analyze import model_covers
from rag.database import dialect_of, sqlite_path
from rag.embed import Embedder, LocalEncoder, create_embedder
from rag.errors import BitragError
from rag.generate import create_generator
from rag.registry import Registry
from rag.reindex import missing_note
from rag.store import MilvusStore


@dataclass
class Check:
    part: str
    ok: bool
    detail: str


async def _check(part: str, probe: Callable[[], Awaitable[str]]) -> Check:
    try:
        return Check(part, True, await probe())
    except BitragError as exc:
        return Check(part, False, str(exc))
    except Exception as exc:  # an unexpected failure is still a finding, not a crash of the doctor
        return Check(part, False, f"{type(exc).__name__}: {str(exc)[:300]}")


def _registry_exists(settings: Settings) -> bool:
    """False for a SQLite registry whose file is not there yet (a check creates nothing); True otherwise."""
    if dialect_of(settings.registry_url) != "sqlite":
        return True
    path = sqlite_path(settings.registry_url)
    return path == ":memory:" or Path(path).exists()


async def _ready_chunks(settings: Settings) -> int | None:
    """The chunks of the registry's ready documents; None where no registry exists yet (a check creates nothing) or
    it cannot be read (the registry's own check says why)."""
    if not _registry_exists(settings):
        return None
    try:
        registry = await asyncio.to_thread(Registry, settings.registry_url)
    except Exception:  # reported by the registry check
        return None
    try:
        return await asyncio.to_thread(registry.ready_chunk_count)
    finally:
        registry.close()


async def _all_held(settings: Settings, where: str, collection: str, held: int) -> None:
    """Fail the Milvus check when the collection holds fewer chunks than the registry's ready documents have."""
    if (ready := await _ready_chunks(settings)) and (missing := missing_note(collection, held, ready)):
        raise BitragError(f"{where}: {missing}")


async def diagnose(settings: Settings) -> list[Check]:
    quiet_third_party_warnings()
    embedder: Embedder | None = None

    async def embeddings() -> str:
        nonlocal embedder
        embedder = await create_embedder(settings)
        await embedder.embed(["bitrag doctor"])
        runs_on = (f", {embedder.runtime} on {embedder.device} in {embedder.precision}"
                   if isinstance(embedder, LocalEncoder) else "")
        languages = ("many languages" if model_covers(embedder.model_id, "hangul") else
                     "Latin-script languages only: Korean, Chinese and Japanese text is found by its words alone")
        return (f"{embedder.model_id}, {embedder.dim} dimensions ({embedder.dim // 8} bytes per binary vector)"
                f"{runs_on}; reads {languages}")

    async def home() -> str:
        return home_line(settings)

    async def milvus() -> str:
        if settings.milvus_is_lite:
            database = Path(settings.milvus_uri).expanduser()
            if not database.exists():  # a check creates nothing: the first start makes the file and its folder
                await _all_held(settings, f"lite at {database}", settings.milvus_collection, 0)
                return f"lite at {database}: not created yet (the first `bitrag run` or `ingest` creates it)"
            if _serving(settings):
                return f"lite at {database}: open in the running bitrag, which CLI commands go through"
        if embedder is None:
            raise BitragError("not checked: the embedding model is needed to check the collection")
        store = MilvusStore(settings.model_copy(update={"milvus_startup_wait_s": 0}))  # say it now, not in a minute
        try:
            await store.open(embedder.model_id, embedder.dim)
            chunks = await store.count()
            where = settings.milvus_uri.split("@")[-1]
            keywords = f"; {store.keyword_note}" if settings.keyword_index == "milvus" else ""
            text = ("; it keeps chunk text in Milvus's RAM (made before the registry held it): `bitrag reindex` "
                    "moves it to disk" if store.text_to_move else "")
            await _all_held(settings, f"{store.mode} at {where}", store.collection, chunks)
            return f"{store.mode} at {where}, collection {store.collection}: {chunks} chunks{keywords}{text}"
        finally:
            await store.close()

    async def registry() -> str:
        if not _registry_exists(settings):
            return f"{sqlite_path(settings.registry_url)}: not created yet (the first start creates it)"
        db = await asyncio.to_thread(Registry, settings.registry_url)
        try:
            leftovers = len(await asyncio.to_thread(db.abandoned))
        finally:
            db.close()
        return "ok" + (f"; {leftovers} unfinished document(s), cleaned up at the next start" if leftovers else "")

    async def llm() -> str:
        generator = create_generator(settings)
        if generator is None:
            return "none configured: answers are extractive (set GROQ_API_KEY for written answers)"
        try:
            await generator.ping()
        finally:
            await generator.aclose()
        return f"{generator.mode} answered"

    async def formats() -> str:
        return optional_formats(settings)

    checks = [await _check("home", home), await _check("embeddings", embeddings), await _check("milvus", milvus),
              await _check("registry", registry), await _check("llm", llm), await _check("formats", formats)]
    if settings.slack_configured:
        checks.append(await _check("slack", lambda: _slack(settings)))
    if settings.discord_configured:
        checks.append(await _check("discord", lambda: _discord(settings)))
    if embedder is not None:
        await embedder.aclose()
    return checks


def home_line(settings: Settings) -> str:
    """Where this bitrag keeps its data, whichever folder it runs from, and where its settings came from."""
    home = settings.bitrag_home
    parts = [f"{home}" + ("" if home.exists() else " (not created yet: the first start creates it, private to you)")]
    parts.append("settings from ./.env and the environment" if Path(".env").is_file()
                 else "settings from the environment (no ./.env here)")
    earlier = Path("data/bitrag.db").absolute()
    if earlier.exists() and Path(settings.milvus_uri).expanduser().absolute() != earlier:
        parts.append(f"an earlier bitrag kept a knowledge base in {earlier.parent}: set BITRAG_HOME={earlier.parent} "
                     "to keep using it")
    return "; ".join(parts)


def _serving(settings: Settings) -> bool:
    from bot.control import answers, socket_path

    return answers(socket_path(settings))


def optional_formats(settings: Settings) -> str:
    """What the optional readers can do here; a missing one is not a failure, it says what to install."""
    audio = "audio transcribed by Groq" if settings.groq_api_key else "audio off (set GROQ_API_KEY)"
    return "; ".join([
        f"OCR with Tesseract ({settings.ocr_languages})" if ocr.available()
        else "no OCR of images and scans (install tesseract-ocr)",
        audio + ("" if shutil.which("ffmpeg") else ", long non-WAV recordings need ffmpeg")])


async def _slack(settings: Settings) -> str:
    from bot.adapters.slack.facts import SlackFacts, make_client

    facts = SlackFacts(make_client(settings), frozenset())
    identity = await facts.verify()
    missing = await facts.missing_scopes()
    readers = (f"cannot tell who reads a conversation — add {', '.join(missing)} and reinstall the app; until "
               "then answers go privately to the asker" if missing else "reads who is in each conversation")
    return f"token of {identity.get('user')} in workspace {identity.get('team')}; {readers}"


async def _discord(settings: Settings) -> str:
    from bot.adapters.discord.bot import BitragDiscord
    from bot.adapters.discord.serve import login

    client = BitragDiscord(None, settings, None)  # type: ignore[arg-type]  # login only: no core needed
    try:
        await login(client)
        return f"token of {client.user}"
    finally:
        await client.close()
