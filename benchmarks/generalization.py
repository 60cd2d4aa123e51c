"""Does the rescoring generalize beyond the collection it was designed on? Retention on two more test sets.

    python -m benchmarks.generalization [--max-docs 4000] [--max-queries 500] [--scifact DIR]

1. SciFact's *train* queries (809), which no setting was tuned on (defaults were chosen on the test split).
2. A collection from another domain, built here from the Python standard library's own docstrings (parsed with
   `ast`, nothing imported): each documented function or class is a document ("qualified name: docstring without
   its summary line"), and the summary line is the query whose one relevant document it came from. Short,
   technical, very different from scientific abstracts; every documented definition is in the corpus, so most
   documents are distractors.
Both run through `rag.evaluation.evaluate` (the code `bitrag eval` runs) with the default settings.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import random
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, SCIFACT, save
from bot.settings import get_settings
from rag.embed import LocalEmbedder
from rag.evaluation import evaluate, load_beir

SKIP_PARTS = {"test", "tests", "idlelib", "tkinter", "turtledemo", "site-packages", "lib2to3", "ensurepip"}


def docstring_pairs() -> list[tuple[str, str, str]]:
    """(id, summary, rest) for every documented definition whose summary and body are both substantial."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    pairs = []
    for path in sorted(stdlib.rglob("*.py")):
        if SKIP_PARTS & set(path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        module = ".".join(path.relative_to(stdlib).with_suffix("").parts)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            doc = ast.get_docstring(node) or ""
            summary, _, rest = doc.strip().partition("\n\n")
            summary, rest = " ".join(summary.split()), " ".join(rest.split())
            if len(summary.split()) >= 5 and len(rest.split()) >= 8:
                pairs.append((f"{module}.{node.name}", summary, rest))
    unique = {}
    for ident, summary, rest in pairs:  # the same summary twice would make a query ambiguous
        unique.setdefault(summary.lower(), (ident, summary, rest))
    return sorted(unique.values())


def write_beir(folder: Path, max_docs: int, max_queries: int) -> Path:
    pairs = docstring_pairs()
    random.Random(5).shuffle(pairs)
    pairs = pairs[:max_docs]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for ident, _, rest in pairs:
            corpus.write(json.dumps({"_id": ident, "title": ident, "text": rest}) + "\n")
    asked = pairs[:max_queries]
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for i, (_, summary, _) in enumerate(asked):
            queries.write(json.dumps({"_id": f"q{i}", "text": summary}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{i}\t{ident}\t1\n" for i, (ident, _, _) in enumerate(asked)))
    return folder


async def run(args: argparse.Namespace) -> dict[str, Any]:
    embedder = LocalEmbedder("all-MiniLM-L6-v2")
    settings = get_settings()
    cache = ROOT / "data" / "cache" / "embeddings"
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bitrag-general-") as tmp:
            folder = write_beir(Path(tmp) / "python-docstrings", args.max_docs, args.max_queries)
            datasets = {"python-docstrings": load_beir(folder)}
            if args.scifact.exists():
                datasets["scifact-train"] = load_beir(args.scifact, split="train")
            for name, data in datasets.items():
                result = await evaluate(data, embedder, settings, cache)
                print(name, json.dumps(result), flush=True)
                results[name] = result
    finally:
        await embedder.aclose()
    return {"rescore": settings.rescore, "oversample": settings.oversample, "datasets": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-docs", type=int, default=4000)
    parser.add_argument("--max-queries", type=int, default=500)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    result = asyncio.run(run(parser.parse_args()))
    print(f"written to {save('generalization', result)}")


if __name__ == "__main__":
    main()
