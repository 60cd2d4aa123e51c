"""Durable ingestion jobs: an upload accepted in a chat survives a restart of the bot.

A job is recorded before any work starts (who asked, where to answer, which files), its files are downloaded into
the job's own folder under `UPLOADS_DIR` (not a temporary one), and the job is deleted only once its result was
posted. After a restart, `resume()` re-ingests jobs whose files had arrived and tells the users of the others
that their upload was interrupted, in the conversation they uploaded from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.access import Conversation, Kind, check_can_add_here
from bot.core import BotCore
from bot.views import IngestView, MessageView, View
from rag.errors import NotAllowedError
from rag.models import FileResult, Progress, SourceFile

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, conversation TEXT NOT NULL, names TEXT NOT NULL, reply TEXT NOT NULL,
    files TEXT, created_at REAL NOT NULL
);
"""


@dataclass
class Job:
    id: str
    conversation: Conversation
    names: list[str]
    reply: dict[str, Any]  # where the adapter posts the result (channel, thread…)
    folder: Path
    files: list[SourceFile] | None = None  # set once every file is downloaded


class JobStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.folder / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def accept(self, conversation: Conversation, names: list[str], reply: dict[str, Any]) -> Job:
        """Record an upload before anything is downloaded; its files go into the returned job's folder."""
        job_id = uuid.uuid4().hex[:16]
        job = Job(job_id, conversation, names, reply, self.folder / job_id)
        job.folder.mkdir()
        with self._lock:
            self._db.execute("INSERT INTO jobs (id, conversation, names, reply, created_at) VALUES (?, ?, ?, ?, ?)",
                             (job.id, json.dumps(_conversation_json(conversation)), json.dumps(names),
                              json.dumps(reply), time.time()))
        return job

    def downloaded(self, job: Job, files: list[SourceFile]) -> None:
        job.files = files
        manifest = [{"path": str(f.path), "name": f.name, "key": f.key, "link": f.link} for f in files]
        with self._lock:
            self._db.execute("UPDATE jobs SET files = ? WHERE id = ?", (json.dumps(manifest), job.id))

    def done(self, job: Job) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
        shutil.rmtree(job.folder, ignore_errors=True)

    def unfinished(self, platform: str) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT id, conversation, names, reply, files FROM jobs ORDER BY created_at")
            rows = rows.fetchall()
        jobs = []
        for job_id, conversation, names, reply, files in rows:
            recorded = json.loads(conversation)
            recorded["also_reads"] = tuple(recorded["also_reads"])
            job = Job(job_id, Conversation(**recorded), json.loads(names), json.loads(reply), self.folder / job_id)
            # A job recorded by a version without audiences has no kind: it is resumed as "unknown" (adding refused).
            if "kind" not in recorded:
                job.conversation = dataclasses.replace(job.conversation, kind=Kind.UNKNOWN)
            if job.reply.get("surface", job.conversation.platform) != platform:
                continue  # a web upload of someone signed in with Slack is the web UI's to resume
            if files is not None:
                job.files = [SourceFile(path=Path(f["path"]), name=f["name"], key=f["key"], link=f["link"])
                             for f in json.loads(files)]
            jobs.append(job)
        return jobs

    def close(self) -> None:
        self._db.close()


Fetch = Callable[[Path], Awaitable[tuple[list[SourceFile], list[FileResult]]]]


async def ingest_upload(core: BotCore, jobs: JobStore, conversation: Conversation, names: list[str],
                        reply: dict[str, Any], fetch: Fetch, progress: Progress | None = None) -> View:
    """An upload from start to end as a durable job: record it, let the adapter `fetch` its files into the job's
    folder (returning what arrived and what failed), ingest them, and drop the job once its result exists. Files
    that failed to download are listed first in the ingest report. Nothing is downloaded where nothing may be added."""
    try:
        check_can_add_here(conversation)
    except NotAllowedError as exc:
        return MessageView(str(exc), "error")
    job = jobs.accept(conversation, names, reply)
    try:
        fetched, failed = await fetch(job.folder)
        jobs.downloaded(job, fetched)
        view = await core.ingest(conversation, fetched, progress)
    finally:
        jobs.done(job)
    if isinstance(view, IngestView):
        view.report.results[:0] = failed
    return view


async def resume(core: BotCore, jobs: JobStore, platform: str, post: Callable[[Job, View], Awaitable[None]]) -> int:
    """Finish or report every job of `platform` a previous run left behind; returns how many there were."""
    pending = jobs.unfinished(platform)
    for job in pending:
        if job.files is not None and all(f.path.exists() for f in job.files):
            log.info("Resuming ingestion job %s (%s)", job.id, ", ".join(job.names))
            view = await core.ingest(job.conversation, job.files)
        else:
            view = MessageView(f"Your upload of {', '.join(job.names)} was interrupted by a restart of bitrag "
                               "before the files were downloaded. Please upload them again.", "error")
        try:
            await post(job, view)
        except Exception:
            log.exception("Could not report ingestion job %s to its conversation", job.id)
        jobs.done(job)
    return len(pending)


def _conversation_json(conversation: Conversation) -> dict[str, Any]:
    """Everything the core needs to finish the job as it was accepted: the audience, who uploaded, admin or not."""
    return {**dataclasses.asdict(conversation), "also_reads": list(conversation.also_reads),
            "kind": str(conversation.kind)}
