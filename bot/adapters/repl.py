"""The terminal chat adapter: a REPL over the bot core, with streamed answers and conversation history."""

from __future__ import annotations

import asyncio
from collections import deque

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown

from bot.core import BotCore, Conversation, parse_command, split_paths
from bot.render import print_view, render
from bot.terms import Turn
from bot.views import AnswerView, MessageView, View

PROMPT = "you> "
GREETING = ("bitrag chat: ask a question about your documents. Commands: /ingest PATH, /sources, /forget DOC, "
            "/share DOC KB, /audit, /help, /quit.")


async def _read_line() -> str | None:
    """`input()` in a thread, so answers keep streaming while the loop waits; None at end of input."""
    try:
        return await asyncio.to_thread(input, PROMPT)
    except EOFError:
        return None


async def answer_streaming(core: BotCore, conversation: Conversation, question: str, history: list[Turn],
                           console: Console) -> View:
    final: View = MessageView("No answer was produced.", "error")
    with Live(Markdown(""), console=console, refresh_per_second=8, transient=False) as live:
        async for item in core.ask_stream(conversation, question, history):
            if isinstance(item, str):
                live.update(Markdown(item))
            else:
                final = item
                live.update(render(item))
    console.print()
    return final


async def run_repl(core: BotCore, conversation: Conversation, console: Console, max_turns: int = 6) -> None:
    console.print(GREETING, style="dim")
    history: deque[Turn] = deque(maxlen=max_turns * 2)
    while (line := await _read_line()) is not None:
        command = parse_command(line)
        if not command.argument and command.name == "ask":
            continue
        if command.name == "unknown" and command.argument in ("quit", "exit", "q"):
            break
        if command.name == "ask":
            view = await answer_streaming(core, conversation, command.argument, list(history), console)
            if isinstance(view, AnswerView):
                history += [Turn("user", command.argument), Turn("assistant", view.body)]
            continue
        if command.name == "ingest":
            view = await core.ingest_paths(conversation, split_paths(command.argument))
        elif command.name == "sources":
            view = await core.sources(conversation)
        elif command.name == "forget":
            view = await core.forget(conversation, command.argument)
        elif command.name == "share":
            reference, _, audience = command.argument.rpartition(" ")
            view = await core.share(conversation, reference, audience)
        elif command.name == "audit":
            view = await core.audit(conversation, command.argument or None)
        elif command.name == "help":
            view = core.help()
        else:
            view = MessageView(f"Unknown command /{command.argument}: try /help.", "error")
        print_view(console, view)
