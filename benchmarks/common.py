"""Helpers shared by the benchmark scripts: where results go and what machine made them."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"  # BEIR SciFact, beside the checkout


def machine() -> dict[str, Any]:
    return {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def save(name: str, payload: dict[str, Any]) -> Path:
    """Write `results/<name>.json` with the command that produced it, the machine and the date."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "date": dt.date.today().isoformat(),
              "machine": machine(), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
