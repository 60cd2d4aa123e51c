"""Crash safety: `bitrag ingest` is killed with SIGKILL (with its Milvus Lite child) while a large document is
being written; after a restart that document is wholly absent, the others are intact, and re-ingest completes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.settings import Settings
from bot.wiring import open_service
from rag.embed import LocalEncoder
from rag.models import SourceFile
from tests.conftest import ROOT, SAMPLE_DOCS


def pending_documents(registry: Path) -> int:
    if not registry.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{registry}?mode=ro", uri=True, timeout=0.1) as db:
            return db.execute("SELECT COUNT(*) FROM documents WHERE state = 'pending'").fetchone()[0]
    except sqlite3.Error:  # the table is not created yet, or the writer holds a lock for a moment
        return 0


def large_document(path: Path, sections: int) -> Path:
    path.write_text("# Large handbook\n\n" + "".join(
        f"## Section {i}\n\nSection {i} says that item {i} costs {i * 7} credits and ships in {i % 30} days.\n\n"
        for i in range(sections)))
    return path


async def test_kill_9_mid_ingest_leaves_the_document_wholly_absent_and_others_intact(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path) -> None:
    settings = make_settings(chunk_tokens=32, chunk_overlap=0)
    service = await open_service(settings, embedder)
    assert not (await service.ingest([SourceFile.local(SAMPLE_DOCS / "expense-policy.md")], "local")).failed
    intact = await service.store.count("local")
    await service.close()
    big = large_document(tmp_path / "large-handbook.md", sections=2500)

    registry = Path(settings.registry_url.removeprefix("sqlite:///"))
    env = {**os.environ, "MILVUS_URI": settings.milvus_uri, "REGISTRY_URL": settings.registry_url, "LLM": "extractive",
           "CHUNK_TOKENS": "32", "CHUNK_OVERLAP": "0", "DEFAULT_TENANT": "local", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "ingest", str(big)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    caught_pending = False
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        if pending_documents(registry):
            caught_pending = True
            break
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)  # the bot and its milvus-lite server, like a power cut
    process.wait()
    assert caught_pending, "the ingest finished before it could be interrupted"

    service = await open_service(settings, embedder)  # restart: recover() runs on open
    try:
        assert [d.source for d in await service.sources("local")] == ["expense-policy.md"]
        assert await service.store.count("local") == intact  # no orphan chunk of the killed document
        answer = await service.ask("What is the hotel limit per night in Paris?", "local")
        assert answer.sources[0].source == "expense-policy.md"

        report = await service.ingest([SourceFile.local(big)], "local")
        assert report.results[0].status == "added" and report.results[0].chunks > 1000
        assert await service.store.count("local") == intact + report.results[0].chunks
        answer = await service.ask("How many credits does item 1234 cost?", "local")
        assert answer.sources and answer.sources[0].source == "large-handbook.md"
    finally:
        await service.close()
