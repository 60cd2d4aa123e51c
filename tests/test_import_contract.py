"""The dependency direction, checked on the source: adapters → bot core → rag; ingest → rag; rag imports neither.

Every import statement counts, including those inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("bot", "rag", "ingest")
ENTRY_POINTS = {"bot/cli.py", "bot/doctor.py"}  # the command line starts and checks the adapters


def project_imports(path: Path) -> set[str]:
    """Dotted names of the project's modules that `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in PROJECT}


def sources(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    return files


def violations(folder: str, allowed: tuple[str, ...], skip: set[str] = frozenset()) -> list[str]:
    found = []
    for path in sources(folder):
        relative = path.relative_to(ROOT).as_posix()
        if relative in skip:
            continue
        for name in sorted(project_imports(path)):
            if not any(name == a or name.startswith(a + ".") for a in allowed):
                found.append(f"{relative} imports {name}")
    return found


def test_rag_imports_neither_bot_nor_ingest() -> None:
    assert violations("rag", ("rag",)) == []


def test_ingest_imports_only_rag() -> None:
    assert violations("ingest", ("ingest", "rag")) == []


def test_adapters_import_only_the_bot_core() -> None:
    assert violations("bot/adapters", ("bot",)) == []


def test_the_core_imports_no_adapter() -> None:
    core = [p for p in sources("bot") if "adapters" not in p.relative_to(ROOT).parts]
    found = [f"{p.relative_to(ROOT).as_posix()} imports {name}" for p in core
             if p.relative_to(ROOT).as_posix() not in ENTRY_POINTS
             for name in project_imports(p) if name.startswith("bot.adapters")]
    assert found == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The control: an import of the wrong layer, even inside a function, is found."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from bot.core import BotCore\n    import ingest.parser\n")
    assert project_imports(module) == {"bot.core", "ingest.parser"}


def import_cycles() -> list[list[str]]:
    """Groups of the project's modules that import each other, directly or through others (Tarjan's SCCs)."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for folder in PROJECT for p in sources(folder)}
    graph = {m: {i for i in project_imports(p) if i in modules and i != m} for m, p in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    """ingest.archives and ingest.readers imported each other; no two modules may (lazy imports count)."""
    assert import_cycles() == []
