"""The `bitrag` console script, run as a user would (a subprocess, configured by environment variables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_DOCS

BITRAG = [sys.executable, "-m", "bot.cli"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BITRAG, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(PYTHONPATH=str(ROOT), BITRAG_HOME=str(tmp_path / "home"), MILVUS_URI=str(tmp_path / "kb.db"),
               REGISTRY_URL=f"sqlite:///{tmp_path / 'registry.sqlite3'}", LLM="extractive", COLUMNS="200")
    return env


@pytest.mark.slow
def test_ingest_ask_json_sources_forget(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "notes.bin"
    bad.write_bytes(b"\x00\x01")
    ingest = run(["ingest", str(SAMPLE_DOCS), str(bad), "--tenant", "acme"], cli_env, tmp_path)
    assert ingest.returncode == 1, ingest.stderr  # one file failed: the rest are added, and the exit code says so
    assert "7 document(s) added or updated" in ingest.stdout and "1 failed" in ingest.stdout
    assert "notes.bin: this file type is not supported" in ingest.stdout

    again = run(["ingest", str(SAMPLE_DOCS), "--tenant", "acme"], cli_env, tmp_path)
    assert again.returncode == 0 and "0 document(s) added or updated (0 chunks), 7 unchanged" in again.stdout
    missing = run(["ingest", str(tmp_path / "nope")], cli_env, tmp_path)
    assert missing.returncode == 1 and "no such file or folder" in missing.stdout

    asked = run(["ask", "When does Kestrel v2 ship?", "--tenant", "acme", "--json", "--top-k", "3"], cli_env, tmp_path)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)  # exactly one JSON object on stdout
    assert set(answer) == {"answer", "sources", "timings_ms", "mode"}
    assert answer["mode"] == "extractive" and "September 15" in answer["answer"]
    assert answer["sources"][0]["source"] == "roadmap-q3-2026.pptx" and answer["sources"][0]["n"] == 1
    assert set(answer["sources"][0]) == {"n", "source", "doc_id", "location", "score", "text"}
    assert set(answer["timings_ms"]) == {"queue", "embed", "search", "rescore", "generate"}

    forgot = run(["forget", "expense-policy.md", "--tenant", "acme"], cli_env, tmp_path)
    assert forgot.returncode == 0 and "Forgot expense-policy.md" in forgot.stdout
    listed = run(["sources", "--tenant", "acme"], cli_env, tmp_path).stdout
    assert "expense-policy.md" not in listed and "security-policy.pdf" in listed
    missing = run(["forget", "nope.md", "--tenant", "acme"], cli_env, tmp_path)
    assert missing.returncode == 1 and "No document 'nope.md'" in missing.stderr + missing.stdout

    shared = run(["share", "security-policy.pdf", "acme:handbook", "--tenant", "acme"], cli_env, tmp_path)
    assert shared.returncode == 0, shared.stderr + shared.stdout
    assert "security-policy.pdf" not in run(["sources", "--tenant", "acme"], cli_env, tmp_path).stdout
    moved = run(["ask", "How long must passwords be?", "--tenant", "acme:handbook", "--json"], cli_env, tmp_path)
    assert "14 characters" in json.loads(moved.stdout)["answer"]  # copied without re-embedding, still answers
    audit = run(["audit", "--tenant", "acme"], cli_env, tmp_path)
    assert audit.returncode == 0, audit.stderr
    lines = audit.stdout.splitlines()
    assert "share · security-policy.pdf" in lines[0] and "audience acme:handbook" in lines[0]  # newest first
    assert sum(" add · " in line for line in lines) == 7 and sum(" forget · " in line for line in lines) == 1


def test_a_wrong_setting_names_the_variable(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["sources"], {**cli_env, "RESCORE": "sometimes", "OVERSAMPLE": "0"}, tmp_path)
    assert result.returncode == 2
    assert "RESCORE" in result.stderr and "OVERSAMPLE" in result.stderr


def test_secret_values_are_not_echoed_in_setting_errors(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["sources"], {**cli_env, "GROQ_API_KEY": "gsk-very-secret", "TOP_K": "many"}, tmp_path)
    assert "TOP_K" in result.stderr and "gsk-very-secret" not in result.stderr + result.stdout


@pytest.mark.slow
def test_chat_repl_answers_and_runs_commands(cli_env: dict[str, str], tmp_path: Path) -> None:
    script = f"/ingest {SAMPLE_DOCS}\nWhen does Kestrel v2 ship?\nsources\n/forget roadmap-q3-2026.pptx\n/quit\n"
    result = subprocess.run([*BITRAG, "chat", "--tenant", "acme"], input=script, env=cli_env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "7 document(s) added or updated" in result.stdout
    assert "September 15" in result.stdout and "roadmap-q3-2026.pptx" in result.stdout
    assert "Forgot roadmap-q3-2026.pptx" in result.stdout


def test_doctor_checks_every_part_and_names_what_to_fix(cli_env: dict[str, str], tmp_path: Path) -> None:
    healthy = run(["doctor"], cli_env, tmp_path)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    for line in ("✓ settings", "✓ embeddings: sentence-transformers/all-MiniLM-L6-v2, 384 dimensions",
                 "onnx-int8 on cpu in int8", "reads Latin-script languages only: Korean, Chinese and Japanese",
                 "✓ milvus: lite", "✓ registry", "✓ llm: none configured", "✓ formats: ",
                 "audio off (set GROQ_API_KEY)"):
        assert line in healthy.stdout, healthy.stdout

    broken = {**cli_env, "MILVUS_URI": "http://127.0.0.1:9", "LLM": "groq", "GROQ_API_KEY": "gsk-doctor-secret-77",
              "GROQ_BASE_URL": "http://127.0.0.1:9", "LLM_MAX_RETRIES": "0"}
    sick = run(["doctor"], broken, tmp_path)
    assert sick.returncode == 1
    out = " ".join(sick.stdout.split())  # rich wraps long lines
    assert "✗ milvus: Milvus at http://127.0.0.1:9 did not answer" in out and "check that it is running" in out
    assert "✗ llm: Groq could not be reached" in out and "✓ registry" in out and "✓ embeddings" in out
    assert "gsk-doctor-secret-77" not in sick.stdout + sick.stderr


def test_json_logs_are_one_object_per_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    # An empty encoder cache: the one-time export's warning is among the records.
    env = {**cli_env, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "EMBED_CACHE_DIR": str(tmp_path / "encoders")}
    result = run(["ingest", str(SAMPLE_DOCS / "expense-policy.md")], env, tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not [line for line in result.stderr.splitlines() if line.startswith(("INFO ", "WARNING "))]


def test_a_busy_web_port_is_named_before_anything_says_open(cli_env: dict[str, str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(["web"], {**cli_env, "WEB_PORT": str(port), "METRICS_PORT": "0"}, tmp_path)
    assert result.returncode == 1
    assert f"WEB_PORT={port}" in result.stderr and "in use" in result.stderr
    assert "open http" not in result.stdout
