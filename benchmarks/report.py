"""Regenerates the tables of benchmarks/README.md from benchmarks/results/*.json (between the marker lines), so
the published numbers are exactly the measured ones, each with the command, machine and date that produced it.

    python -m benchmarks.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS
from rag.settings import RagSettings

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# Configurations named in result files recorded before RETRIEVAL=hybrid became the default (stop 35).
LABELS = {"1-bit dense (default)": "1-bit dense (`RETRIEVAL=dense`)", "1-bit hybrid": "1-bit hybrid (default)"}


def provenance(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (f"_`{result['command']}` — {result['date']}, {m['cpu_cores']} CPU cores, {m['platform']}, "
            f"Python {m['python']}_")


def quality(result: dict[str, Any]) -> list[str]:
    precise = result["runs"]["precise"]["modes"]
    # Marked by today's default (the run may predate it; each row's figures are its own mode's).
    default = _default_mode(precise)
    rows = [("float32 dense (FLAT, IP)", precise["float32"]), ("binary, Hamming only", precise["binary"]),
            ("binary + asymmetric rescoring", result["runs"]["asymmetric"]["modes"]["rescored"]),
            ("binary + precise rescoring (`RETRIEVAL=dense`)" + (" — default" if default == "rescored" else ""),
             precise["rescored"])]
    if "hybrid" in precise:
        rows += [("BM25 alone, registry index" if "bm25-milvus" in precise else "BM25 alone (Milvus)", precise["bm25"]),
                 ("binary + precise rescoring + BM25 (`RETRIEVAL=hybrid`)" + (" — default" if default == "hybrid"
                                                                            else ""), precise["hybrid"])]
    if "hybrid-milvus" in precise:
        rows += [("BM25 alone, Milvus (`KEYWORD_INDEX=milvus`)", precise["bm25-milvus"]),
                 ("hybrid with Milvus's BM25", precise["hybrid-milvus"])]
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


def generalization(result: dict[str, Any]) -> list[str]:
    lines = ["### Generalization: data no rescoring setting was chosen on", "",
             "(The hybrid fusion weight *was* chosen on these two collections, by `benchmarks/fusion.py`.)", "",
             "| collection | docs | queries | float32 dense NDCG@10 | binary | binary + precise rescoring | BM25 | "
             "hybrid | BM25, Milvus | hybrid, Milvus | default / float32 |", "|---" * 11 + "|"]
    for name, r in result["datasets"].items():
        m = r["modes"]
        keyword = [f"{m[k]['ndcg@10']:.4f}" if k in m else "—" for k in ("bm25", "hybrid", "bm25-milvus",
                                                                          "hybrid-milvus")]
        lines.append(f"| {name} | {r['docs']:,} | {r['queries']} | {m['float32']['ndcg@10']:.4f} | "
                     f"{m['binary']['ndcg@10']:.4f} | {m['rescored']['ndcg@10']:.4f} | {' | '.join(keyword)} | "
                     f"{m[_default_mode(m)]['ndcg@10'] / m['float32']['ndcg@10']:.2%} |")
    return [*lines, "", provenance(result)]


def _default_mode(modes: dict[str, Any]) -> str:
    """The mode `bitrag ask` uses with today's default settings, among those a result file holds."""
    return "hybrid" if RagSettings.model_fields["retrieval"].default == "hybrid" and "hybrid" in modes else "rescored"


def keywords(result: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    lines = ["### Keyword search at scale: the registry's BM25 index (`benchmarks/keywords.py`)", "",
             "Recombined real text, one tenant; SciFact's 300 test questions, top 100 each. Disk is the SQLite file "
             "(registry rows included); RSS growth is this process's, the OS page cache not counted. Small documents' "
             "rows are merged into segments as they are written; \"longest merge\" is the longest transaction a merge "
             "held the registry (other registry users wait for it).", "",
             "| chunks | chunks per document | posting rows | write chunks/s | of it analysis | of it merging | "
             "longest merge s | search p50 ms | p99 ms | disk B/chunk | RSS growth MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['chunks']:,} | {r['chunks_per_document']:,} | {r['posting_rows']:,} | "
                     f"{r['write_chunks_per_s']:,} | {r['analyze_share']:.0%} | {r.get('merge_share', 0):.0%} | "
                     f"{r.get('merge_s_max', 0)} | {r['search_ms_p50']} | {r['search_ms_p99']} | "
                     f"{r['file_bytes_per_chunk']:,} | {r['rss_growth_mb']} |")
    lines += ["", provenance(result)]
    if before:
        lines += ["", "Before segments (one row per term and document, never merged):", "",
                  "| chunks | chunks per document | posting rows | write chunks/s | search p50 ms | p99 ms | "
                  "disk B/chunk |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['chunks']:,} | {r['chunks_per_document']:,} | {r['posting_rows']:,} | "
                  f"{r['write_chunks_per_s']:,} | {r['search_ms_p50']} | {r['search_ms_p99']} | "
                  f"{r['file_bytes_per_chunk']:,} |" for r in before["runs"]]
        lines += ["", provenance(before)]
    return lines


def korean(result: dict[str, Any]) -> list[str]:
    lines = [f"### Korean: {result['answerable']} answerable and {result['unanswerable']} unanswerable Korean "
             f"questions ({result['model']})", "",
             "| ranking | NDCG@10 (chunks) | right document first |", "|---|---|---|"]
    for name, r in result["retrieval"].items():
        lines.append(f"| {name} | {r['ndcg@10']:.4f} | {r['right_document_first']:.1%} |")
    lines += ["", "| extractive answers | first quoted sentence is the answer | answerable refused | "
              "unanswerable refused |", "|---|---|---|---|"]
    for label, part in (("", result), ("fresh set, ", result.get("fresh set", {}))):
        for name, r in part.items():
            if name.startswith("extractive"):
                lines.append(f"| {label}{name.removeprefix('extractive, ')} | {r['first_sentence_is_the_answer']:.1%} "
                             f"| {r['answerable_refused']:.1%} | {r['unanswerable_refused']:.1%} |")
    if fresh := result.get("fresh set"):
        lines += ["", f"Fresh set ({fresh['answerable']} answerable, {fresh['unanswerable']} unanswerable, written "
                  "afterwards and used to choose nothing), retrieval:", "",
                  "| ranking | NDCG@10 (chunks) | right document first |", "|---|---|---|"]
        lines += [f"| {name} | {r['ndcg@10']:.4f} | {r['right_document_first']:.1%} |"
                  for name, r in fresh["retrieval"].items()]
    return [*lines, "", provenance(result)]


def hybrid_curve(runs: dict[str, dict[str, Any]]) -> list[str]:
    """Hybrid retrieval end to end from 100k to 10M chunks (`e2e.py --retrieval hybrid` at each size)."""
    lines = ["### Hybrid retrieval end to end, 100k → 1M → 10M chunks (`benchmarks/e2e.py --retrieval hybrid`)", "",
             "Instant LLM, batching on (wait 0 ms); each size one run on a collection filled for it. Goals: 1M "
             "≤ 50 ms p50 for one asker and ≥ 100 asks/s at 50; 10M ≤ 150 ms p50 for one asker.", "",
             "| chunks | one asker p50 ms | p99 ms | search / rescore ms (mean) | asks/s at 10 | asks/s at 50 | "
             "p50 ms at 50 | Milvus Lite RSS | bitrag RSS | disk |", "|---" * 10 + "|"]
    for result in runs.values():
        levels = {level["concurrency"]: level for name, configuration in result["batching"].items()
                  if name.startswith("on") for level in configuration}
        one, memory = levels[1], result["memory"]
        lines.append(f"| {result['chunks_in_collection']:,} | **{one['total_ms_p50']}** | {one['total_ms_p99']} | "
                     f"{one['stage_ms_mean']['search']} / {one['stage_ms_mean']['rescore']} | "
                     f"{levels[10]['asks_per_s'] if 10 in levels else '—'} | "
                     f"**{levels[50]['asks_per_s'] if 50 in levels else '—'}** | "
                     f"{levels[50]['total_ms_p50'] if 50 in levels else '—'} | "
                     f"{memory['milvus_lite_rss_bytes'] / 2**30:.2f} GiB | "
                     f"{memory['bitrag_rss_bytes'] / 2**30:.2f} GiB | {memory['disk_bytes'] / 2**30:.1f} GiB |")
    return [*lines, "", *(provenance(r) for r in runs.values())]


def upgrade(result: dict[str, Any]) -> list[str]:
    b, d, a = (result[k] for k in ("retrieval_before", "retrieval_while_indexing", "retrieval_after"))
    return ["### Turning hybrid on for a knowledge base written under dense (`benchmarks/upgrade.py`)", "",
            f"{result['chunks']:,} chunks in {result['documents']:,} documents of {result['chunks_per_document']}; "
            "a serving bitrag indexes them in the background from their stored text "
            "(`RagService.index_missing_keywords`) while SciFact questions are retrieved one after another.", "",
            "| indexing s | chunks/s | registry growth B/chunk | retrieval p50 / p99 ms before | while indexing | "
            "after |", "|---|---|---|---|---|---|",
            f"| {result['indexing_s']} | **{result['indexing_chunks_per_s']:,}** | "
            f"{result['registry_growth_bytes_per_chunk']:,} | {b['p50_ms']} / {b['p99_ms']} | "
            f"**{d['p50_ms']}** / {d['p99_ms']} ({d['questions']} questions) | {a['p50_ms']} / {a['p99_ms']} |",
            "", provenance(result)]


def fusion(result: dict[str, Any]) -> list[str]:
    sets = list(result["datasets"])
    lines = ["### Fusing 1-bit dense and BM25 (`benchmarks/fusion.py`)", "",
             f"NDCG@10 on the same {result['candidates']} + {result['candidates']} candidates per query; chosen by "
             f"the mean over the tuning collections: **{result['chosen']}**.", "",
             "| fusion | " + " | ".join(sets) + " | tuning mean |", "|---|" + "---|" * (len(sets) + 1)]
    for variant, mean in result["tuning_mean"].items():
        lines.append(f"| {variant} | " + " | ".join(f"{result['datasets'][d][variant]:.4f}" for d in sets)
                     + f" | {mean:.4f} |")
    return [*lines, "", provenance(result)]


def memory(result: dict[str, Any]) -> list[str]:
    lines = ["### Memory per chunk of the whole process: where the chunk text lives, float32 vs 1-bit", "",
             f"Real text (SciFact sentences recombined, {result['chunk_chars_mean']} characters per chunk on average, "
             "`benchmarks/memory.py`), Milvus Lite and a SQLite registry per configuration, written as ingestion "
             "writes them, then opened afresh and searched as `ask` retrieves (50 candidates, the text of the 5 "
             "kept). RSS = the milvus-lite server's over an empty one's plus bitrag's own growth; disk = database "
             "and registry.", "",
             "| chunks | configuration | RSS B/chunk | float32's / this | disk B/chunk | insert rows/s | "
             "search p50 ms |", "|---|---|---|---|---|---|---|"]
    for row in result["summary"]:
        for name, c in row.items():
            if name == "n":
                continue
            name = LABELS.get(name, name)
            lines.append(f"| {row['n']:,} | {name} | {c['rss_per_chunk']:,} | {c['float32_over_this']}× | "
                         f"{c['disk_per_chunk']:,} | {c['insert_rows_per_s']:,} | {c['search_ms_p50']} |")
    return [*lines, "", provenance(result)]


def memory_text_in_milvus(result: dict[str, Any]) -> list[str]:
    lines = ["### Memory per chunk before schema 2 (chunk text in Milvus): float32 vs 1-bit vs 1-bit + Milvus BM25",
             "",
             f"Real text ({result['chunk_chars_mean']} characters per chunk on average, the `benchmarks/memory.py` of "
             "that day), Milvus Lite only. Index RAM = the server's RSS growth minus that of the same rows with an "
             "8-bit vector (the text and metadata every configuration then kept in Milvus).", "",
             "| chunks | configuration | index RAM B/chunk | of float32's | whole RSS B/chunk | disk B/chunk | "
             "insert rows/s | search p50 ms |", "|---|---|---|---|---|---|---|---|"]
    for row in result["summary"]:
        for name, share in row["index_ram_of_float32"].items():
            c = row[name]
            lines.append(f"| {row['n']:,} | {name} | {c['index_ram_per_chunk']:,} | {share:.0%} | "
                         f"{c['rss_per_chunk']:,} | {c['disk_per_chunk']:,} | {c['insert_rows_per_s']:,} | "
                         f"{c['search_ms_p50']} |")
        lines.append(f"| {row['n']:,} | text and metadata only (baseline) | — | — | "
                     f"{row['text_only_rss_per_chunk']:,} | — | — | — |")
    return [*lines, "", provenance(result)]


def extractive(result: dict[str, Any]) -> list[str]:
    runs = result["retrieval"]
    questions = next(iter(runs.values()))["questions"]
    lines = [f"### Offline answers: is the first quoted sentence the answer? ({questions} questions over "
             "`examples/docs`)", "", "| retrieval | ranker | first sentence is the answer | extract p50 ms |",
             "|---|---|---|---|"]
    for retrieval, run in runs.items():
        for name, rate in run["first_sentence_is_the_answer"].items():
            lines.append(f"| {retrieval} | {name} | {rate:.1%} | {run['extract_ms_p50'][name]} |")
    return [*lines, "", provenance(result)]


def server(result: dict[str, Any]) -> list[str]:
    synthetic = result["synthetic"]
    lines = [f"### Milvus server ({result['server']}): BIN_IVF_FLAT nprobe sweep vs BIN_FLAT", "",
             f"Synthetic clustered vectors: {synthetic['n']:,} × {synthetic['dim']}-d, nlist {synthetic['nlist']}, "
             f"{synthetic['queries']} queries; insert {synthetic['insert_rows_per_s']:,} rows/s, flush + index "
             f"{synthetic['flush_and_index_s']} s, server RSS {synthetic['server_rss_bytes'] / 2**20:,.0f} MiB. "
             "Recall is tie-aware against exact Hamming search.", "",
             "| index | nprobe | recall@10 | top-10 p50 ms | p99 ms | recall@50 | top-50 p50 ms | p99 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for p in [*synthetic["bin_ivf_flat"], {"nprobe": "—", **synthetic["bin_flat"]}]:
        index = "BIN_FLAT" if p["nprobe"] == "—" else "BIN_IVF_FLAT"
        lines.append(f"| {index} | {p['nprobe']} | {p['top10_recall']:.3f} | {p['top10_ms_p50']} | "
                     f"{p['top10_ms_p99']} | {p['top50_recall']:.3f} | {p['top50_ms_p50']} | {p['top50_ms_p99']} |")
    if result.get("scifact"):
        lines += ["", "Real text, SciFact through `bitrag eval` on the server (default = precise rescoring):", "",
                  "| index | nprobe / nlist | binary NDCG@10 | default NDCG@10 | of float32 | default p50 ms |",
                  "|---|---|---|---|---|---|"]
        for r in result["scifact"]:
            probe = f"{r['nprobe']} / {r['nlist']}" if r["nprobe"] else "—"
            lines.append(f"| {r['index']} | {probe} | {r['binary_ndcg@10']:.4f} | {r['default_ndcg@10']:.4f} | "
                         f"{r['retention_ndcg10']:.1%} | {r['default_ms_p50']} |")
    return [*lines, "", provenance(result)]


def ingest(result: dict[str, Any]) -> list[str]:
    layout = "one abstract per file" if result.get("layout") == "files" else "mixed formats"
    layout += f", {result['label']}" if "label" in result else ""
    lines = [f"### Ingestion ({layout}): {result['documents']} documents, {result['chunks']:,} chunks of SciFact "
             "text", "",
             f"End to end **{result['ingest_chunks_per_s']} chunks/s**; the encoder alone on the same chunk texts "
             f"{result['encoder_chunks_per_s']} chunks/s: **{result['ratio_ingest_over_encoder']:.0%}** of it. "
             "Where the time went: " + ", ".join(f"{k} {v:.1%}" for k, v in result["stage_share"].items()) + ".",
             "", "| format | files | chunks | pages | read ms | split ms | parse chunks/s | parse pages/s |",
             "|---|---|---|---|---|---|---|---|"]
    for fmt, r in result["formats"].items():
        lines.append(f"| {fmt} | {r['files']} | {r['chunks']} | {r.get('pages', '—')} | {r['read_ms']:.0f} | "
                     f"{r['split_ms']:.0f} | {r['parse_chunks_per_s']} | {r.get('parse_pages_per_s', '—')} |")
    return [*lines, "", provenance(result)]


def formats(result: dict[str, Any]) -> list[str]:
    lines = [f"### Reading speed per format ({result['docs_per_format']} generated files each, SciFact text)", "",
             "Readers, sandbox and chunker; no embedding. A page is a real page (PDF, scans, slides, images) or "
             "3,000 characters of extracted text.", "",
             "| format | files | pages | chunks | pages/s | chunks/s |", "|---|---|---|---|---|---|"]
    for fmt, r in result["formats"].items():
        lines.append(f"| {fmt} | {r['files']} | {r['pages']} | {r['chunks']} | {r['pages_per_s']} | "
                     f"{r['chunks_per_s']} |")
    lines += ["", "PDF text extraction, pypdf (bitrag's reader) vs PyMuPDF on the same generated PDFs:", "",
              "| library | pages | ms/page | word similarity to the typeset text (mean / min) |", "|---|---|---|---|"]
    for name, r in result["pdf_libraries"].items():
        if "error" in r:
            lines.append(f"| {name} | — | — | {r['error']} |")
        else:
            lines.append(f"| {name} | {r['pages']} | {r['ms_per_page']} | {r['word_similarity_mean']:.4f} / "
                         f"{r['word_similarity_min']:.4f} |")
    return [*lines, "", provenance(result)]


def runtime_of(encoder_id: str) -> str:
    """`…/all-MiniLM-L6-v2+onnx-int8.2` → onnx-int8 (recipe 2); without a runtime part it is torch's."""
    return encoder_id.partition("+")[2].rsplit(".", 1)[0] if "+" in encoder_id else "torch"


def e2e(result: dict[str, Any]) -> list[str]:
    lines = [f"### Many askers at once: `ask` end to end, {result['chunks_in_collection']:,} chunks, "
             f"{result['milvus']}, {result['llm']}", "",
             f"Retrieval: {result.get('retrieval', 'dense')}. One run, one collection; micro-batching off (one "
             "forward pass and one search per question) and on (`ASK_BATCH_WAIT_MS` as named; "
             f"batches of at most {result.get('ask_batch_max', '—')}); answers written by at most "
             f"{result.get('llm_concurrency', '—')} at once. Stage columns are mean ms per question; `queue` is time "
             "spent waiting for a batch to start or an LLM slot; loop lag is how late the event loop woke a 5 ms "
             "sleep. CPU is per question: bitrag's process (every thread) / Milvus Lite's process.", "",
             "| encoder | batching | concurrency | asks/s | p50 ms | p99 ms | loop lag p99 | mean batch | queue "
             "| embed | search | rescore | generate | CPU ms |", "|---" * 14 + "|"]
    # Several runtimes (`--runtimes`) answer on the same collection in one run; otherwise the configured one.
    for encoder, configurations in (result.get("encoders") or {"configured": result["batching"]}).items():
        for name, levels in configurations.items():
            for level in levels:
                s, cpu = level["stage_ms_mean"], level.get("cpu_ms_per_ask", {})
                lines.append(f"| {runtime_of(encoder) if 'encoders' in result else encoder} | {name} | "
                             f"{level['concurrency']} | **{level['asks_per_s']}** | {level['total_ms_p50']} | "
                             f"{level['total_ms_p99']} | {level['loop_lag_ms_p99']} | {level['mean_batch'] or '—'} | "
                             f"{s['queue']} | {s['embed']} | {s['search']} | {s['rescore']} | {s['generate']} | "
                             f"{cpu.get('bitrag', '—')} / {cpu.get('milvus', '—')} |")
    if memory := result.get("memory"):
        n = result["chunks_in_collection"]
        held = "the model; the filler of an earlier run, so no sentence bank" if isinstance(
            result.get("filler_insert_rows_per_s"), str) else "the model, the benchmark's sentence bank"
        lines += ["", f"Held after answering: Milvus Lite {memory['milvus_lite_rss_bytes'] / 2**30:.2f} GiB RSS "
                  f"({memory['milvus_lite_rss_bytes'] / n:.0f} B per chunk), bitrag's process "
                  f"{memory['bitrag_rss_bytes'] / 2**30:.2f} GiB ({held}); disk "
                  f"{memory['disk_bytes'] / 2**30:.1f} GiB ({memory['disk_bytes'] / n:,.0f} B per chunk). "
                  f"Rescoring: {result.get('rescore', '—')}."]
    return [*lines, "", provenance(result)]


def encoders(speed: dict[str, Any] | None, quality: dict[str, Any] | None) -> list[str]:
    """Encoder runtimes: speed (a quiet machine) and NDCG@10 (any machine) come from two runs of the same script."""
    if not speed and not quality:
        return []
    lines = ["### Encoder runtimes (`EMBED_RUNTIME`): torch, ONNX Runtime float32, ONNX Runtime int8", ""]
    if speed:
        lines += ["Speed, all runtimes in one run. Build: the ONNX export, once; load: a fresh process importing the "
                  "embedder and loading the model; questions: SciFact queries; ingestion: `benchmarks/ingest.py` "
                  "end to end (and the encoder alone on the same chunks).", "",
                  "| runtime | build s | load s | question ms (batch 1, p50) | 50 questions ms | ingest mixed "
                  "chunks/s (encoder) | ingest one file each chunks/s (encoder) |", "|---|---|---|---|---|---|---|"]
        for name, r in speed["runtimes"].items():
            q, m, f = r["questions"], r["ingest_mixed"], r["ingest_files"]
            lines.append(f"| {name} | {r['build_s'] or '—'} | {r['load_s']} | {q['batch1_ms_p50']} | "
                         f"{q['batch50_ms_median']} | **{m['ingest_chunks_per_s']}** ({m['encoder_chunks_per_s']}) | "
                         f"**{f['ingest_chunks_per_s']}** ({f['encoder_chunks_per_s']}) |")
        lines += ["", provenance(speed), ""]
    if quality:
        lines += ["NDCG@10 through `rag.evaluation.evaluate` (1-bit search + precise rescoring = the default dense "
                  "retrieval; float32 exact search and hybrid beside it). \"(torch documents)\": the collection "
                  "embedded by torch, the questions by the runtime named — an upgraded install that keeps its "
                  "collection.", "", "| runtime | collection | float32 | 1-bit + rescoring | hybrid |",
                  "|---|---|---|---|---|"]
        for name, r in quality["runtimes"].items():
            for collection, score in r.get("ndcg@10", {}).items():
                lines.append(f"| {name} | {collection} | {score.get('float32', '—')} | **{score['rescored']}** | "
                             f"{score.get('hybrid', '—')} |")
        lines += ["", provenance(quality)]
    return lines


def main() -> None:
    sections: list[str] = []
    for part in (quality(q) if (q := load("quality-scifact")) else [],
                 generalization(g) if (g := load("generalization")) else [],
                 fusion(f) if (f := load("fusion")) else [],
                 keywords(k, load("keywords-rows-per-document")) if (k := load("keywords")) else [],
                 korean(k) if (k := load("korean")) else [],
                 hybrid_curve(c) if (c := {n: r for n in ("e2e-hybrid-100k", "e2e-hybrid", "e2e-hybrid-10m")
                                          if (r := load(n))}) else [],
                 upgrade(u) if (u := load("upgrade")) else [],
                 memory(m) if (m := load("memory")) else [],
                 memory_text_in_milvus(m) if (m := load("memory-text-in-milvus")) else [],
                 extractive(x) if (x := load("extractive")) else [],
                 latency(load("ask-latency-extractive"), load("slack-ack-latency")),
                 *(e2e(e) for name in ("e2e-dense", "e2e-dense-300k", "e2e-hybrid", "e2e-dense-same-collection",
                                       "e2e-encoders", "e2e-dense-schema2", "e2e-dense-asymmetric", "e2e-dense-10m",
                                       "e2e-hybrid-100k", "e2e-hybrid-10m", "e2e-dense-10m-same")
                   if (e := load(name)) and "batching" in e),
                 *(ingest(i) for name in ("ingest", "ingest-files", "ingest-files-before") if (i := load(name))),
                 encoders(load("encoders-speed"), load("encoders-quality")),
                 formats(f) if (f := load("formats")) else [],
                 scale(s) if (s := load("scale")) else [],
                 server(v) if (v := load("server-ivf")) else []):
        sections += [*part, ""]
    text = README.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    README.write_text(head + BEGIN + "\n" + "\n".join(sections) + END + tail)
    print(f"updated {README}")


if __name__ == "__main__":
    main()
