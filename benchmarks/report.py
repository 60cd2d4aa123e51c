"""Regenerates the tables of benchmarks/README.md from benchmarks/results/*.json (between the marker lines), so
the published numbers are exactly the measured ones, each with the command, machine and date that produced it.

    python -m benchmarks.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def provenance(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (f"_`{result['command']}` — {result['date']}, {m['cpu_cores']} CPU cores, {m['platform']}, "
            f"Python {m['python']}_")


def quality(result: dict[str, Any]) -> list[str]:
    precise = result["runs"]["precise"]["modes"]
    rows = [("float32 (FLAT, IP)", precise["float32"]), ("binary, Hamming only", precise["binary"]),
            ("binary + asymmetric rescoring", result["runs"]["asymmetric"]["modes"]["default"]),
            ("binary + precise rescoring (default)", precise["default"])]
    lines = [f"### Quality: {result['dataset']} ({result['docs']} docs, {result['queries']} queries)", "",
             "| mode | NDCG@10 | of float32 | Recall@100 | P@5 | R@5 | NDCG@5 | RAM B/vector | p50 ms | p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    base = precise["float32"]["ndcg@10"]
    for name, m in rows:
        lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['ndcg@10'] / base:.1%} | {m['recall@100']:.4f} | "
                     f"{m['p@5']:.4f} | {m['r@5']:.4f} | {m['ndcg@5']:.4f} | {m['bytes_per_vector']} | "
                     f"{m['search_ms_p50']} | {m['search_ms_p99']} |")
    return [*lines, "", provenance(result)]


def scale(result: dict[str, Any]) -> list[str]:
    lines = ["### Scale: Milvus Lite, binary (BIN_FLAT, HAMMING) vs float32 (FLAT, IP), synthetic vectors", "",
             "| mode | dim | N | insert rows/s | server RSS growth MiB | disk MiB | raw vectors MiB | search p50 ms |"
             " p99 ms |", "|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(result["points"], key=lambda p: (p["dim"], p["n"], p["mode"])):
        lines.append(f"| {p['mode']} | {p['dim']} | {p['n']:,} | {p['insert_rows_per_s']:,} | "
                     f"{p['server_rss_growth_bytes'] / 2**20:,.0f} | {p['disk_bytes'] / 2**20:,.0f} | "
                     f"{p['raw_vector_bytes'] / 2**20:,.0f} | {p['search_ms_p50']} | {p['search_ms_p99']} |")
    lines += ["", "| dim | N | RAM float32/binary | disk float32/binary | search p50 float32/binary |",
              "|---|---|---|---|---|"]
    for r in result["ratios"]:
        lines.append(f"| {r['dim']} | {r['n']:,} | {r['memory_float32_over_binary']}× | "
                     f"{r['disk_float32_over_binary']}× | {r['search_p50_float32_over_binary']}× |")
    return [*lines, "", "![latency and memory vs N](results/scale.png)", "", provenance(result)]


def latency(ask: dict[str, Any] | None, slack: dict[str, Any] | None) -> list[str]:
    lines = ["### Latency", "", "| what | p50 ms | p99 ms | breakdown (p50) |", "|---|---|---|---|"]
    if ask:
        stages = ", ".join(f"{k} {v}" for k, v in ask["stage_ms_p50"].items())
        lines.append(f"| `ask`, no LLM, {ask['chunks']} chunks, {ask['asks']} asks | {ask['total_ms']['p50']} | "
                     f"{ask['total_ms']['p99']} | {stages} |")
    if slack:
        lines.append(f"| Slack `/ask` ack, {slack['requests']} signed requests | {slack['ack_ms']['p50']} | "
                     f"{slack['ack_ms']['p99']} | max {slack['ack_ms']['max']} |")
    lines.append("")
    lines += [provenance(r) for r in (ask, slack) if r]
    return lines


def main() -> None:
    sections: list[str] = []
    for part in (quality(q) if (q := load("quality-scifact")) else [],
                 latency(load("ask-latency-extractive"), load("slack-ack-latency")),
                 scale(s) if (s := load("scale")) else []):
        sections += [*part, ""]
    text = README.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    README.write_text(head + BEGIN + "\n" + "\n".join(sections) + END + tail)
    print(f"updated {README}")


if __name__ == "__main__":
    main()
