"""`modelops crds`: print, write or check the CRDs generated from the API models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modelops.crdgen import render_all, write_all


def add_parser(sub: Any) -> None:
    p = sub.add_parser("crds", help="generate the CRDs from the API models")
    p.add_argument("--out", type=Path, action="append", help="write one file per CRD into DIR (repeatable)")
    p.add_argument("--check", type=Path, action="append", help="exit 1 if DIR differs from the models (repeatable)")
    p.set_defaults(func=run)


def stale(directory: Path) -> list[str]:
    """Files in `directory` that differ from (or are missing versus) the generated CRDs."""
    return [
        name
        for name, text in render_all().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def run(args: argparse.Namespace) -> int:
    if args.check:
        bad = [f"{d}/{name}" for d in args.check for name in stale(d)]
        for line in bad:
            print(f"out of date: {line} (run `make crds`)", file=sys.stderr)
        return 1 if bad else 0
    if args.out:
        for path in write_all(*args.out):
            print(f"wrote {path}")
        return 0
    sys.stdout.write("---\n".join(render_all().values()))
    return 0
