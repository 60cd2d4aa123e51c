"""The `bitrag` command line: ingest, ask, sources, forget, share, audit, insights, eval, serve, run, chat, doctor."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.commands import Command, login_name
from bot.settings import Settings, get_settings
from rag.errors import BitragError

if TYPE_CHECKING:  # the heavy modules load when a command needs them: `--help` and the socket path stay fast
    from bot.core import BotCore

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="bitrag: answers from your team's documents, with citations, on a 1-bit vector index.")
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

TenantOption = Annotated[str | None, typer.Option("--tenant", "-t", help="Knowledge base (default DEFAULT_TENANT)")]
SpaceOption = Annotated[str | None, typer.Option("--tenant", "-t", help="Only this workspace, server or knowledge base "
                                                 "(and its conversations)")]


def _configured() -> Settings:
    """The settings, with logging set up; a bad configuration ends the command with exit code 2 and the reasons."""
    from bot.logs import configure_logging

    try:
        settings = get_settings()
    except BitragError as exc:
        errors.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _run(work: Callable[[BotCore, Settings], Awaitable[T]], settings: Settings | None = None) -> T:
    """Open the service, run `work`, close; BitragErrors end the command with their message (exit code 1)."""
    settings = settings or _configured()
    if errors.is_terminal:  # ~2 s of loading: say what happens (a line, not a spinner: progress bars may be live)
        errors.print("Opening the knowledge base…", style="dim", markup=False)
    from bot.core import BotCore
    from bot.feedback import FeedbackStore
    from bot.ratelimit import RateLimiter
    from bot.wiring import open_service

    async def main() -> T:
        service = await open_service(settings)
        feedback = FeedbackStore(settings.feedback_url, settings.feedback_retention_days)
        try:
            limiter = RateLimiter(settings.rate_limit_user_per_min, settings.rate_limit_tenant_per_min)
            return await work(BotCore(service, limiter, feedback), settings)
        finally:
            feedback.close()
            await service.close()

    try:
        return asyncio.run(main())
    except BitragError as exc:
        errors.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        errors.print("Stopped.")
        raise typer.Exit(130) from None


def chunk_bars() -> tuple[Progress, Callable[[str, int, int], None]]:
    """Progress bars on stderr, one per named task ("file.pdf", "copy"), counting chunks; and their callback."""
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"),
                    TimeElapsedColumn(), console=errors, transient=True)
    tasks: dict[str, int] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bars.add_task(name, total=total)
        bars.update(tasks[name], completed=done, total=total)

    return bars, progress


def _dispatch(command: Command) -> None:
    """Run a knowledge-base command in the bitrag serving BITRAG_HOME when one runs (it holds Milvus Lite open),
    else here; end with the command's exit code."""
    from bot.commands import execute
    from bot.control import send

    settings = _configured()
    bars, progress = chunk_bars()
    with bars:
        code = send(settings, command, console, errors, progress)
        if code is None:
            # A command someone waits for does not wait a minute for a Milvus server that is down.
            waiting = settings.model_copy(update={"milvus_startup_wait_s": min(settings.milvus_startup_wait_s, 5.0)})
            code = _run(lambda core, s: execute(core, s, command, login_name(), console, errors, progress), waiting)
    if code:
        raise typer.Exit(code)


@app.command()
def ingest(paths: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or http(s) URLs")],
           tenant: TenantOption = None) -> None:
    """Add documents to a knowledge base. Unchanged files are skipped; changed files replace their old version.
    Exit code 1 when a file failed or a path does not exist (the others are still added)."""
    from ingest.fetch import is_url

    # Absolute paths: the command may run in a bitrag started from another folder.
    named = [p if is_url(p) else str(Path(p).expanduser().absolute()) for p in paths]
    _dispatch(Command("ingest", {"paths": named, "tenant": tenant}))


@app.command()
def ask(question: Annotated[str, typer.Argument(help="The question")], tenant: TenantOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
        top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, max=50)] = None) -> None:
    """Answer a question from the documents, with numbered citations."""
    _dispatch(Command("ask", {"question": question, "tenant": tenant, "json": as_json, "top_k": top_k}))


@app.command()
def sources(tenant: TenantOption = None) -> None:
    """List the documents of a knowledge base."""
    _dispatch(Command("sources", {"tenant": tenant}))


@app.command()
def stats(tenant: TenantOption = None) -> None:
    """What the index holds and what its 1-bit vectors cost next to float32."""
    _dispatch(Command("stats", {"tenant": tenant}))


@app.command()
def forget(document: Annotated[str, typer.Argument(help="File name, document id or id prefix")],
           tenant: TenantOption = None) -> None:
    """Remove a document and all its chunks."""
    _dispatch(Command("forget", {"document": document, "tenant": tenant}))


@app.command()
def share(document: Annotated[str, typer.Argument(help="File name, document id or id prefix")],
          audience: Annotated[str, typer.Argument(help="The audience key to move it to, e.g. a Slack team id")],
          tenant: TenantOption = None) -> None:
    """Change who can read a document: move it to another audience (e.g. from a channel to its workspace)."""
    _dispatch(Command("share", {"document": document, "audience": audience, "tenant": tenant}))


@app.command()
def audit(tenant: SpaceOption = None) -> None:
    """Who added, replaced, shared or forgot which document, where and when (newest first)."""
    _dispatch(Command("audit", {"tenant": tenant}))


@app.command()
def insights(tenant: SpaceOption = None) -> None:
    """What to document next: questions answered "I don't know", 👎 answers and their sources, the most asked
    topics (from the stored answers, FEEDBACK_URL)."""
    _dispatch(Command("insights", {"tenant": tenant}))


@app.command()
def reindex() -> None:
    """Move chunk text out of an older collection into the registry, put documents added before the keyword index
    into it, and rebuild the Milvus collection from the registry with the current schema, without re-embedding (also
    after moving MILVUS_URI to a server, or losing Milvus's data). Stop bitrag first."""

    async def work(core: BotCore, settings: Settings) -> str:
        bars, progress = chunk_bars()
        with bars:
            chunks = await core.service.reindex(progress)
        return f"Rebuilt {core.service.store.collection}: {chunks:,} chunks; {await core.service.retrieval_note()}."

    console.print(_run(work), markup=False)


@app.command("eval")
def evaluate_command(dataset: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")],
                     as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
                     oversample: Annotated[int | None, typer.Option(min=1, max=100)] = None,
                     max_docs: Annotated[int | None, typer.Option(min=10)] = None,
                     max_queries: Annotated[int | None, typer.Option(min=1)] = None,
                     split: Annotated[str, typer.Option(help="qrels/<split>.tsv to score")] = "test",
                     milvus_uri: Annotated[str | None, typer.Option(help="Milvus server (default: temporary Lite)")]
                     = None) -> None:
    """Retrieval quality of float32 vs binary vs default rescoring on a BEIR collection."""
    from rag.embed import create_embedder
    from rag.evaluation import evaluate, load_beir

    overrides: dict[str, object] = {}
    if oversample:
        overrides["oversample"] = oversample
    if milvus_uri:
        overrides["milvus_uri"] = milvus_uri
    try:
        settings = get_settings(**overrides)
        data = load_beir(dataset, split=split, max_docs=max_docs, max_queries=max_queries)
    except (BitragError, OSError) as exc:
        errors.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None

    cache = settings.bitrag_home / "cache" / "embeddings"
    errors.print(f"Evaluating on {len(data.doc_ids):,} documents and {len(data.query_ids):,} questions: loading the "
                 f"model, then encoding (kept in {cache} for the next run), then searching each mode.", markup=False,
                 highlight=False)

    async def main() -> dict:
        embedder = await create_embedder(settings)
        bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=errors, transient=True)
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bars.add_task(label, total=total)
            bars.update(tasks[label], completed=done)

        try:
            with bars:
                return await evaluate(data, embedder, settings, cache, progress)
        finally:
            await embedder.aclose()

    result = asyncio.run(main())
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    from rich.table import Table

    table = Table("mode", "NDCG@10", "Recall@100", "P@5", "R@5", "NDCG@5", "bytes/vector", "p50 ms", "p99 ms",
                  title=f"{result['dataset']}: {result['docs']} docs, {result['queries']} queries, {result['model']}")
    for mode, m in result["modes"].items():
        label = f"default (= {m['is']})" if mode == "default" else mode
        table.add_row(label, *(f"{m[k]:.4f}" for k in ("ndcg@10", "recall@100", "p@5", "r@5", "ndcg@5")),
                      str(m["bytes_per_vector"]), f"{m['search_ms_p50']:.1f}", f"{m['search_ms_p99']:.1f}")
    console.print(table)
    console.print(f"default / float32 NDCG@10: {result['retention_ndcg10']:.4f}; {result['keyword_search']}")


@app.command()
def serve(platform: Annotated[str, typer.Argument(help="slack or discord")],
          port: Annotated[int | None, typer.Option(help="HTTP port (Slack HTTP mode)")] = None) -> None:
    """Run a chat adapter until interrupted."""
    if platform not in ("slack", "discord"):
        errors.print(f"Unknown platform {platform!r}: use slack or discord.", style="red", markup=False)
        raise typer.Exit(2)
    if platform == "discord":
        _run(lambda core, s: _beside(core, s, _serve_discord(core, s)))
    else:
        _run(lambda core, s: _beside(core, s, _serve_slack(core, s, port or s.slack_port)))


async def _beside(core: BotCore, settings: Settings, serving: Awaitable[None]) -> None:
    """Run `serving` with what every serving bitrag offers beside it: /metrics and /healthz on METRICS_PORT (0
    turns them off), the control socket that runs CLI commands in this process (`bot/control.py`), and the keyword
    indexing of documents hybrid retrieval cannot find by keywords yet (`RagService.index_missing_keywords`)."""
    from bot.control import ControlServer
    from bot.metrics import start_metrics_server

    runner = None
    if settings.metrics_port:
        try:
            runner, _ = await start_metrics_server(settings.metrics_port, settings.metrics_address)
        except OSError as exc:
            logging.getLogger(__name__).warning("No /metrics: port %d is not free (%s); set METRICS_PORT",
                                                settings.metrics_port, exc.strerror)
    control = ControlServer(core, settings)
    await control.start()
    indexing = asyncio.create_task(_index_missing_keywords(core))
    try:
        await serving
    finally:
        indexing.cancel()
        await control.close()
        if runner is not None:
            await runner.cleanup()


async def _index_missing_keywords(core: BotCore) -> None:
    try:
        await core.service.index_missing_keywords()
    except Exception as exc:  # serving goes on; what was indexed stays, the rest waits for the next start
        logging.getLogger(__name__).warning("Keyword indexing stopped (%s); the next start or `bitrag reindex` goes "
                                            "on where it stopped", exc)


async def _serve_discord(core: BotCore, settings: Settings) -> None:
    from bot.adapters.discord.bot import BitragDiscord
    from bot.adapters.discord.serve import serve as serve_discord

    await serve_discord(BitragDiscord(core, settings, core.feedback))


async def _serve_slack(core: BotCore, settings: Settings, port: int) -> None:
    from bot.adapters.slack.app import SlackAdapter
    from bot.adapters.slack.serve import serve as serve_slack

    await serve_slack(SlackAdapter(core, settings, core.feedback), port)


@app.command()
def doctor() -> None:
    """Check the configuration and every service it names (model, Milvus, registry, LLM, Slack, Discord)."""
    from bot.doctor import diagnose

    try:
        settings = get_settings()
    except BitragError as exc:
        errors.print(f"✗ settings: {exc}", style="red", markup=False)
        raise typer.Exit(1) from None
    console.print("✓ settings: loaded", markup=False)
    checks = asyncio.run(diagnose(settings))
    for check in checks:
        console.print(f"{'✓' if check.ok else '✗'} {check.part}: {check.detail}", style=None if check.ok else "red",
                      markup=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command()
def run() -> None:
    """What `make run` starts: the web UI, plus the Slack and Discord adapters whose credentials are configured."""
    _serve_web(with_chat_adapters=True)


@app.command()
def web() -> None:
    """The web UI alone (WEB_ADDRESS, WEB_PORT), with /metrics and /healthz on METRICS_PORT."""
    _serve_web(with_chat_adapters=False)


def _serve_web(with_chat_adapters: bool) -> None:
    """The bot core on the web runtime's loop, chat adapters and /metrics on that loop too, the web UI in front."""
    from bot.adapters.web.runtime import WebRuntime
    from bot.adapters.web.serve import serve_web, web_url
    from bot.adapters.web.signin import check_exposure

    settings = _configured()
    try:
        check_exposure(settings)  # before anything starts: no web UI open to the network without sign-in
        check_port_free(settings.web_address, settings.web_port)
        runtime = WebRuntime(settings)
    except BitragError as exc:
        errors.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    adapters: dict[str, Awaitable[None]] = {}
    if with_chat_adapters and settings.slack_configured:
        adapters["Slack"] = _serve_slack(runtime.core, settings, settings.slack_port)
    if with_chat_adapters and settings.discord_configured:
        adapters["Discord"] = _serve_discord(runtime.core, settings)
    background = runtime.submit(_beside(runtime.core, settings, _until_cancelled(*adapters.values())))
    background.add_done_callback(_report_adapter_failure)
    console.print(f"bitrag is running ({' + '.join(['web UI', *adapters])}): open {web_url(runtime)} — Ctrl-C "
                  "stops it.", markup=False, highlight=False)
    try:
        serve_web(runtime)
    finally:
        background.cancel()
        runtime.close()


def check_port_free(address: str, port: int) -> None:
    """Say a busy WEB_PORT before printing "open http://…" (Streamlit would only fail after it)."""
    import socket

    from rag.errors import ConfigError

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit's server binds
        try:
            probe.bind((address, port))
        except OSError as exc:
            raise ConfigError(f"WEB_PORT={port} on {address} is in use ({exc.strerror}): another bitrag or program "
                              "listens there. Stop it, or set WEB_PORT to a free port.") from None


async def _until_cancelled(*adapters: Awaitable[None]) -> None:
    await asyncio.gather(*adapters, asyncio.Event().wait())


def _report_adapter_failure(future: Future[None]) -> None:
    """A chat adapter that stops (a refused token, say) is reported; the web UI keeps running."""
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        errors.print(f"A chat adapter stopped: {exc}", style="red", markup=False)


@app.command()
def chat(tenant: TenantOption = None) -> None:
    """An interactive chat in the terminal, through the same bot core as Slack and Discord."""
    from bot.adapters.repl import run_repl

    _run(lambda core, s: run_repl(core, tenant or s.default_tenant, login_name(), console))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
