"""The CLI's knowledge-base commands (`ingest`, `ask`, `sources`, …), run wherever the knowledge base is open.

Milvus Lite lets one process at a time open its database file, so while `bitrag run` serves, a second process
cannot. A command therefore runs either in the CLI's own process (nothing else has the knowledge base open) or
inside the running bitrag, sent over its control socket (`bot/control.py`). Both run `execute` below, so a command
prints the same and ends with the same exit code on either path.

Exit codes: 0 done; 1 the command ran and something failed (the output says what: a file that did not ingest, a
path that does not exist, a document that is not there); 2 bad configuration or usage.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bot.render import print_view
from bot.views import AnswerView, IngestView, MessageView, View

if TYPE_CHECKING:
    from bot.core import BotCore, Conversation
    from bot.settings import Settings

Progress = Callable[[str, int, int], None]
COMMANDS = ("ingest", "ask", "sources", "stats", "forget", "share", "audit", "insights")


@dataclass(frozen=True)
class Command:
    """A command as JSON-safe data: what the CLI parsed, sent as is to a running bitrag."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


def login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "local"


def operator(tenant: str | None, settings: Settings, user: str) -> Conversation:
    """Whoever runs bitrag's own commands runs bitrag itself: an admin of the knowledge base they name, like the
    owner of its database files. What they add is recorded as theirs (their login name)."""
    from bot.core import Conversation

    return Conversation(tenant or settings.default_tenant, user=user, platform="cli", admin=True)


async def execute(core: BotCore, settings: Settings, command: Command, user: str, out: Console, err: Console,
                  progress: Progress | None = None) -> int:
    """Run one command, print what it shows on `out` / `err`, and return its exit code."""
    args = command.args
    tenant = args.get("tenant")
    here = operator(tenant, settings, user)
    if command.name == "ingest":
        view = await core.ingest_paths(here, args["paths"], progress)
        print_view(out, view)
        failed = isinstance(view, IngestView) and bool(view.report.failed)
        return 1 if failed or _is_error(view) else 0
    if command.name == "ask":
        view = await core.ask(here, args["question"], top_k=args.get("top_k"))
        if isinstance(view, MessageView):
            err.print(view.text, style="red", markup=False)
            return 1
        if isinstance(view, AnswerView) and core.feedback is not None:
            await core.feedback.record(view, here)  # stored like chat answers: Insights counts them
        if args.get("json") and isinstance(view, AnswerView) and view.answer is not None:
            out.file.write(json.dumps(view.answer.as_json(), ensure_ascii=False) + "\n")
        else:
            print_view(out, view)
        return 0
    views: dict[str, Callable[[], Any]] = {
        "sources": lambda: core.sources(here),
        "stats": lambda: core.stats(here),
        "forget": lambda: core.forget(here, args["document"]),
        "share": lambda: core.share(here, args["document"], args["audience"]),
        # audit and insights take the space to look at as a filter, seen by an admin of no particular space
        "audit": lambda: core.audit(operator(None, settings, user), tenant),
        "insights": lambda: core.insights(operator(None, settings, user), tenant),
    }
    if command.name not in views:
        err.print(f"Unknown command {command.name!r}: use one of {', '.join(COMMANDS)}.", style="red", markup=False)
        return 2
    shown: View = await views[command.name]()
    print_view(out, shown)
    return 1 if _is_error(shown) else 0


def _is_error(view: View) -> bool:
    return isinstance(view, MessageView) and view.level == "error"
