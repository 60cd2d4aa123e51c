"""The control socket: CLI commands run inside a running bitrag, which holds the knowledge base open.

Milvus Lite allows one process per database file, so `bitrag ask` in a second terminal beside `bitrag run` used to
wait 11 s and fail with "try again in a moment", which never helped. Now a serving bitrag (`run`, `web`, `serve`)
listens on a Unix socket, `BITRAG_HOME/bitrag.sock`, and the CLI sends its command there when one answers: the
command runs in the serving process (`bot/commands.py`) and its output and exit code come back. Measured on this
2-core machine: `bitrag sources` beside a running bitrag 0.36 s, `ask` 0.47 s (the CLI loads neither the model
nor Milvus; `--help` alone is 0.35 s).

Who may connect: the socket is 0600 in a 0700 folder, and each connection's peer is checked (SO_PEERCRED) to be this
process's own user (or root): the same people who can open the database files directly, so the socket grants
nothing new. The command runs as that login name, an admin of the knowledge base, as it would run locally.

Protocol: one JSON request line; the server answers with progress lines (`{"progress": [name, done, total]}`) and
one final line `{"stdout": …, "stderr": …, "exit": code}`, rendered for the client's terminal width and colours.
A request for another knowledge base than the server's (another MILVUS_URI) is declined and the CLI runs itself.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import pwd
import socket
import struct
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bot.commands import COMMANDS, Command, Progress, execute

if TYPE_CHECKING:
    from bot.core import BotCore
    from bot.settings import Settings

log = logging.getLogger(__name__)
SOCKET_NAME = "bitrag.sock"
PROTOCOL = 1
REQUEST_TIMEOUT_S = 10  # a connected client sends its one-line request at once
MAX_PATH = 107  # sun_path holds 108 bytes with its NUL


def socket_path(settings: Settings) -> Path:
    return settings.bitrag_home / SOCKET_NAME


# --- the serving side -----------------------------------------------------------------------------------------------


class ControlServer:
    """Serves CLI commands for one bot core until closed."""

    def __init__(self, core: BotCore, settings: Settings) -> None:
        self.core, self.settings, self.path = core, settings, socket_path(settings)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> bool:
        """Listen; False (with a warning saying why) where the socket cannot be offered. Never raises: the bot
        serves its chat platforms and web UI with or without it."""
        path = self.path
        if len(os.fsencode(path)) > MAX_PATH:
            log.warning("No control socket: %s is longer than a Unix socket path may be; set BITRAG_HOME to a "
                        "shorter folder so CLI commands can run beside this bitrag", path)
            return False
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                if answers(path):
                    log.warning("No control socket: another bitrag already serves %s; CLI commands go to that one",
                                path)
                    return False
                path.unlink()  # left by a bitrag that did not stop cleanly
            old_mask = os.umask(0o177)  # created 0600: no window where another user could connect
            try:
                self._server = await asyncio.start_unix_server(self._serve, path=str(path))
            finally:
                os.umask(old_mask)
        except OSError as exc:
            log.warning("No control socket at %s (%s): CLI commands cannot run beside this bitrag", path, exc)
            return False
        return True

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        with suppress(Exception):
            await self._server.wait_closed()
        with suppress(OSError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            user = _peer_login(writer.get_extra_info("socket"))
            # Read the request first, even from a peer about to be refused: a client writes before it reads, and a
            # refusal sent before its write would meet a closed socket there (EPIPE) instead of being read.
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            if user is None:
                await _send(writer, {"stderr": "Refused: this bitrag serves its own user only.\n", "exit": 1})
                return
            request = json.loads(line or b"{}")
            reply = self._check(request)
            if reply is not None:
                await _send(writer, reply)
                return
            await _send(writer, await self._execute(request, user, writer))
        except (ConnectionError, json.JSONDecodeError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            pass  # the CLI went away (Ctrl-C): a started ingestion still finishes, crash-safe as ever
        except Exception:
            log.exception("A CLI command over the control socket failed")
            with suppress(Exception):
                await _send(writer, {"stderr": "The command failed inside bitrag; its log says why.\n", "exit": 1})
        finally:
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()

    def _check(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """A reply that declines the request, or None to run it."""
        if request.get("protocol") != PROTOCOL or request.get("command") not in COMMANDS:
            return {"declined": "protocol"}
        if request.get("milvus_uri") != self.settings.milvus_uri:  # another knowledge base: the CLI opens its own
            return {"declined": "knowledge base"}
        return None

    async def _execute(self, request: dict[str, Any], user: str, writer: asyncio.StreamWriter) -> dict[str, Any]:
        terminal = request.get("terminal") or {}
        out, err = (_console(io.StringIO(), terminal) for _ in range(2))
        loop = asyncio.get_running_loop()

        def progress(name: str, done: int, total: int) -> None:
            line = json.dumps({"progress": [name, done, total]}).encode() + b"\n"
            loop.call_soon_threadsafe(writer.write, line)  # called from the event loop or a worker thread

        command = Command(request["command"], request.get("args") or {})
        code = await execute(self.core, self.settings, command, user, out, err, progress)
        return {"stdout": out.file.getvalue(), "stderr": err.file.getvalue(), "exit": code}  # type: ignore[attr-defined]


def _console(file: io.StringIO, terminal: dict[str, Any]) -> Console:
    """A console that renders as the client's would: its width, and colours only where it shows them."""
    return Console(file=file, width=int(terminal.get("width") or 80), force_terminal=bool(terminal.get("tty")),
                   color_system=terminal.get("color_system"), highlight=True)


def _peer_login(sock: socket.socket | None) -> str | None:
    """The login name of the peer, when it is this process's user or root; None otherwise (refused)."""
    if sock is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    if uid not in (os.getuid(), 0):
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a container user without a passwd entry, as `login_name()` says locally
        return "local"


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
    await writer.drain()


def answers(path: Path) -> bool:
    """Whether a bitrag listens on the control socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


# --- the CLI side ---------------------------------------------------------------------------------------------------


def send(settings: Settings, command: Command, out: Console, err: Console, progress: Progress | None) -> int | None:
    """Run `command` in the bitrag serving this BITRAG_HOME and print its output; its exit code, or None when no
    bitrag answers there (or it serves another knowledge base): then the CLI runs the command itself."""
    path = socket_path(settings)
    if not path.exists() or len(os.fsencode(path)) > MAX_PATH:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(2.0)
        try:
            connection.connect(str(path))
        except OSError:  # left by a bitrag that stopped: nobody there
            return None
        connection.settimeout(None)  # an ingestion may take minutes; progress lines keep coming
        request = {"protocol": PROTOCOL, "command": command.name, "args": command.args,
                   "milvus_uri": settings.milvus_uri,
                   "terminal": {"width": out.width, "tty": out.is_terminal, "color_system": out.color_system}}
        connection.sendall(json.dumps(request).encode() + b"\n")
        for line in connection.makefile("rb"):
            message = json.loads(line)
            if "progress" in message:
                if progress is not None:
                    progress(*message["progress"])
                continue
            if "declined" in message:
                return None
            out.file.write(message.get("stdout", ""))
            err.file.write(message.get("stderr", ""))
            return int(message.get("exit", 1))
    except (OSError, json.JSONDecodeError) as exc:
        err.print(f"The running bitrag stopped answering ({exc}); run the command again.", style="red", markup=False)
        return 1
    finally:
        connection.close()
    err.print("The running bitrag closed the connection without an answer (it may be stopping); run the command "
              "again.", style="red", markup=False)
    return 1
