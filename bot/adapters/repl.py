"""The terminal chat: the smallest implementation of the chat contract (`bot.chat.Surface`), over the same flows as
Slack and Discord. Everything printed is the operator's alone, so nothing here is ever "private"."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.text import Text

from bot.access import Kind, Person, Room
from bot.chat import ChatFlow
from bot.core import HELP, BotCore, parse_command, split_paths
from bot.render import print_view, render
from bot.terms import Turn
from bot.views import AnswerView, MessageView, View

PROMPT = "you> "
GREETING = ("bitrag chat: ask a question about your documents. Commands: /ingest PATH, /sources, /forget DOC, "
            "/share DOC KB, /audit, /help, /quit.")


class Terminal:
    """`Surface`: views are printed; a message in progress is a rich `Live` region."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.address: dict[str, Any] = {}

    async def send(self, view: View, private: bool = False) -> None:
        print_view(self.console, view)

    async def open(self, waiting: str, private: bool = False, answer: bool = False) -> Growing:
        return Growing(self.console, answer)


class Growing:
    """`Reply`: the answer (Markdown) or progress (plain text) redrawn in place, then the final view."""

    message = None

    def __init__(self, console: Console, answer: bool) -> None:
        self.console, self.answer = console, answer
        self.live = Live(Text(""), console=console, refresh_per_second=8, transient=False)
        self.live.start()

    async def show(self, text: str) -> None:
        self.live.update(Markdown(text) if self.answer else Text(text))

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        self.live.update(render(view))
        self.live.stop()
        self.console.print()


async def _read_line() -> str | None:
    """`input()` in a thread, so answers keep streaming while the loop waits; None at end of input."""
    try:
        return await asyncio.to_thread(input, PROMPT)
    except EOFError:
        return None


async def run_repl(core: BotCore, tenant: str, user: str, console: Console) -> None:
    settings = core.service.settings
    flow = ChatFlow(core, core.feedback, None, settings, "terminal", HELP)  # type: ignore[arg-type]
    person, room = Person("terminal", tenant, user, admin=True), Room(Kind.LOCAL, "terminal")
    here, terminal = flow.here(person, room), Terminal(console)
    console.print(GREETING, style="dim")
    history: list[Turn] = []
    while (line := await _read_line()) is not None:
        command = parse_command(line)
        if command.name == "unknown" and command.argument in ("quit", "exit", "q"):
            break
        if command.name == "ask" and command.argument:
            view = await flow.answer(terminal, here, command.argument, history)
            if isinstance(view, AnswerView):
                history += [Turn("user", command.argument), Turn("assistant", view.body)]
        elif command.name == "ingest":
            await terminal.send(await core.ingest_paths(here, split_paths(command.argument)))
        elif command.name == "share":  # locally, to another knowledge base by name
            reference, _, audience = command.argument.rpartition(" ")
            await terminal.send(await core.share(here, reference, audience))
        elif command.name == "audit":
            await terminal.send(await core.audit(here, command.argument or None))
        elif command.name in ("sources", "forget", "help"):
            await flow.command(terminal, person, room, command.name, command.argument)
        elif command.name == "unknown":
            await terminal.send(MessageView(f"Unknown command /{command.argument}: try /help.", "error"))
