#!/usr/bin/env python3
"""Peak memory and time of `modelops drift evaluate` on documents at and far beyond the limits.

    .venv/bin/python bench/drift_documents.py [--features 70000] [--output FILE]

Each case runs `modelops drift evaluate` in a fresh process (started by a small wrapper that
reports its child's peak RSS from getrusage, so one case's peak cannot hide another's) on
documents written to a temporary directory:

  small        10 numeric features, both sides valid (what the interpreter and numpy cost)
  at-limits    1,000 numeric features of 64 edges, pretty-printed (the largest valid document)
  over-size    --features numeric features (70,000: ~100 MB pretty-printed): refused by size
  over-count   11,000 compact features (under the size limit): refused while parsing

Goal: a refused document costs no more memory than a valid one at the limits (before the
limits were enforced, 70,000 features took 463 MB of RSS and were evaluated). Results: a
table on stdout and bench/results/drift-documents-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TIMEOUT_S = 300.0
# The wrapper: run the command, print its peak RSS in KiB (Linux) and its exit code.
WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
)


def numeric(name: str, edges: int, total: int = 10_000) -> dict[str, Any]:
    per = total // (edges + 1)
    return {"name": name, "edges": [i + 0.123456789 for i in range(edges)], "counts": [per] * (edges + 1)}


def write(path: Path, features: list[dict[str, Any]], indent: int | None) -> Path:
    path.write_text(json.dumps({"features": features}, indent=indent))
    return path


def measure(reference: Path, current: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "modelops.cli.main", "drift", "evaluate"]
    command += ["--reference", str(reference), "--current", str(current), "-o", "json"]
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, timeout=TIMEOUT_S, check=True
    )
    seconds = time.monotonic() - started
    peak_kib, code = (int(x) for x in out.stdout.split())
    return {"peak_rss_mb": round(peak_kib / 1024, 1), "exit": code, "seconds": round(seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=70_000, help="features of the over-size document")
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/drift-documents-<date>.json)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small = write(root / "small.json", [numeric(f"f{i}", 12) for i in range(10)], None)
        limits = write(root / "limits.json", [numeric(f"f{i}", 64) for i in range(1000)], 2)
        huge = write(root / "huge.json", [numeric(f"f{i}", 12) for i in range(args.features)], 10)
        many = write(root / "many.json", [numeric(f"f{i}", 12) for i in range(11_000)], None)
        cases = {
            "small": (small, small),
            "at-limits": (limits, limits),
            "over-size": (small, huge),
            "over-count": (small, many),
        }
        print(f"{'case':<12} {'size MB':>9} {'exit':>5} {'peak RSS MB':>12} {'seconds':>8}")
        for name, (reference, current) in cases.items():
            figures = {"bytes": current.stat().st_size, **measure(reference, current)}
            results[name] = figures
            print(
                f"{name:<12} {figures['bytes'] / 1e6:>9.1f} {figures['exit']:>5} "
                f"{figures['peak_rss_mb']:>12.1f} {figures['seconds']:>8.2f}"
            )
    refused = max(results["over-size"]["peak_rss_mb"], results["over-count"]["peak_rss_mb"])
    met = refused <= results["at-limits"]["peak_rss_mb"]
    print(f"goal: a refused document costs no more than one at the limits: {'met' if met else 'MISSED'}")
    today = dt.date.today().isoformat()
    out = args.output or RESULTS / f"drift-documents-{today}.json"
    document = {"date": today, "machine": platform.platform(), "python": platform.python_version(), "cases": results}
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
