"""The CLI beside a running bitrag: commands go through its control socket (`bot/control.py`) because Milvus Lite
lets one process open the database. The serving side runs here, in the test's process, on the real service; the
CLI is the real console script in a subprocess, as a second terminal would run it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bot.commands import login_name
from bot.control import ControlServer, socket_path
from bot.core import BotCore
from bot.feedback import FeedbackStore
from bot.settings import Settings
from bot.wiring import open_service
from rag.embed import LocalEncoder
from tests.conftest import ROOT, SAMPLE_DOCS


def cli_environment(settings: Settings) -> dict[str, str]:
    """The environment of a second terminal with the same configuration as the serving bitrag."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(PYTHONPATH=str(ROOT), BITRAG_HOME=str(settings.bitrag_home), MILVUS_URI=settings.milvus_uri,
               REGISTRY_URL=settings.registry_url, FEEDBACK_URL=settings.feedback_url, LLM="extractive",
               COLUMNS="200")
    return env


async def bitrag(args: list[str], env: dict[str, str], cwd: Path, **options: object) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, env=env, cwd=cwd,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                   **options)  # type: ignore[arg-type]
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest_asyncio.fixture
async def serving(make_settings: Callable[..., Settings], embedder: LocalEncoder,
                  tmp_path: Path) -> AsyncIterator[tuple[BotCore, Settings, ControlServer]]:
    """A bitrag holding Milvus Lite open, as `bitrag run` does, with its control socket (not started yet)."""
    settings = make_settings(bitrag_home=tmp_path / "home")
    service = await open_service(settings, embedder)
    feedback = FeedbackStore(settings.feedback_url)
    core = BotCore(service, feedback=feedback)
    control = ControlServer(core, settings)
    yield core, settings, control
    await control.close()
    feedback.close()
    await service.close()


async def test_commands_run_in_the_running_bitrag_and_fail_clearly_without_its_socket(
        serving: tuple[BotCore, Settings, ControlServer], tmp_path: Path) -> None:
    core, settings, control = serving
    env = cli_environment(settings)
    # The control first: with the bot holding the database and no socket, the CLI cannot open it, and says why
    # at once (it used to retry for 11 s and say "try again in a moment", which never helped).
    # Twice: milvus-lite deletes its own lock file when it fails to take it, so a second try used to open the
    # database beside the first process (rag/store.py `hold_lite_database`).
    for _ in range(2):
        code, out, err = await bitrag(["sources"], env, tmp_path)
        assert code == 1, out + err
        assert f"open in another process (pid {os.getpid()})" in " ".join(err.split())
        assert "try again in a moment" not in err.lower()

    assert await control.start()
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "parking.md").write_text("# Parking\n\nVisitors park on level -2, spaces 40 to 60.\n")
    code, out, err = await bitrag(["ingest", "parking.md", str(SAMPLE_DOCS / "expense-policy.md"), "--tenant", "acme"],
                                  env, folder)  # a relative path, resolved in the CLI's own folder
    assert code == 0, out + err
    assert "2 document(s) added or updated" in out
    assert {d.source for d in await core.service.sources(("acme",))} == {"parking.md", "expense-policy.md"}

    code, out, err = await bitrag(["ask", "Where do visitors park?", "--tenant", "acme", "--json"], env, folder)
    assert code == 0, err
    answer = json.loads(out)
    assert answer["sources"][0]["source"] == "parking.md" and "level -2" in answer["answer"]

    code, out, _ = await bitrag(["sources", "--tenant", "acme"], env, folder)
    assert code == 0 and "parking.md" in out and "expense-policy.md" in out
    code, out, _ = await bitrag(["insights", "--tenant", "acme"], env, folder)
    assert code == 0 and "(1 answers reviewed)" in out  # the CLI's answer is stored like a chat answer
    code, out, _ = await bitrag(["audit", "--tenant", "acme"], env, folder)
    assert code == 0 and " add · parking.md" in out
    assert login_name() in out  # recorded as the login name of whoever ran the CLI, as a local run records it

    # Failures keep their exit codes through the socket.
    code, out, err = await bitrag(["ingest", "/nope/missing.md", "--tenant", "acme"], env, folder)
    assert code == 1 and "no such file or folder" in out
    code, out, err = await bitrag(["forget", "nothere.md", "--tenant", "acme"], env, folder)
    assert code == 1 and "No document 'nothere.md'" in out + err
    code, out, err = await bitrag(["forget", "parking.md", "--tenant", "acme"], env, folder)
    assert code == 0 and "Forgot parking.md" in out
    assert {d.source for d in await core.service.sources(("acme",))} == {"expense-policy.md"}


async def test_a_cli_configured_for_another_knowledge_base_runs_on_its_own(
        serving: tuple[BotCore, Settings, ControlServer], tmp_path: Path) -> None:
    core, settings, control = serving
    assert await control.start()
    env = cli_environment(settings)
    code, out, err = await bitrag(["ingest", str(SAMPLE_DOCS / "office-and-wifi.txt")], env, tmp_path)
    assert code == 0, err  # the control: this one went to the running bitrag
    assert [d.source for d in await core.service.sources((settings.default_tenant,))] == ["office-and-wifi.txt"]

    other = {**env, "MILVUS_URI": str(tmp_path / "other.db"),
             "REGISTRY_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}"}
    code, out, err = await bitrag(["sources"], other, tmp_path)
    assert code == 0, err
    assert "No documents yet" in out  # its own (empty) knowledge base, not the server's


async def test_the_socket_is_its_owners_alone(serving: tuple[BotCore, Settings, ControlServer],
                                              make_settings: Callable[..., Settings]) -> None:
    core, settings, control = serving
    assert await control.start()
    assert stat.S_IMODE(socket_path(settings).stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.bitrag_home.stat().st_mode) == 0o700

    # Even with the socket and its folder opened to everyone, another user is refused by the peer check. The
    # system's python runs the probe (the virtualenv's may sit under a home other users cannot enter).
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None or os.getuid() != 0:
        pytest.skip("needs root and a system python3 to connect as another user")
    home = Path(tempfile.mkdtemp(prefix="bitrag-peer-"))  # short, outside pytest's private tmp folders
    try:
        opened = ControlServer(core, make_settings(bitrag_home=home))
        assert await opened.start()
        home.chmod(0o755)
        opened.path.chmod(0o666)
        probe = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                 "s.sendall(b'{}\\n'); print(s.makefile().readline())")
        try:
            for user, expected in ((0, '"declined"'), (65534, "serves its own user only")):
                process = await asyncio.create_subprocess_exec(
                    system_python, "-c", probe, str(opened.path), user=user, cwd="/",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(process.communicate(), 60)
                assert expected in out.decode(), (user, out, err)  # root: answered (a bad request); nobody: refused
        finally:
            await opened.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def test_a_stale_socket_is_replaced_and_a_live_one_is_left_alone(
        serving: tuple[BotCore, Settings, ControlServer]) -> None:
    core, settings, control = serving
    path = socket_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a file nobody listens on, as a killed bitrag leaves
    assert await control.start()
    second = ControlServer(core, settings)
    assert not await second.start()  # the first one answers: the second leaves its socket alone
    await second.close()
    assert path.exists()


@pytest.mark.parametrize("length", [120])
async def test_a_home_too_long_for_a_socket_is_reported_not_fatal(
        make_settings: Callable[..., Settings], embedder: LocalEncoder, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, length: int) -> None:
    settings = make_settings(bitrag_home=tmp_path / ("h" * length))
    service = await open_service(settings, embedder)
    try:
        control = ControlServer(BotCore(service), settings)
        assert not await control.start()
        assert "set BITRAG_HOME to a shorter folder" in caplog.text
    finally:
        await service.close()
