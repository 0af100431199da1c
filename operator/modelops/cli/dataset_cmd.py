"""`modelops dataset`: write synthetic fraud-like data (with optional drift) to CSV or NPZ."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from modelops.train.dataset import DatasetError, Drift, generate, parse_pairs


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dataset",
        help="write synthetic fraud-like data with drift knobs (CSV or NPZ)",
        description="Generate the synthetic dataset the examples, tests and demo train on. Shifts are in "
        "standard deviations; NAME=VALUE options repeat or take comma-separated pairs.",
    )
    p.add_argument("--rows", type=int, default=20000, help="rows (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--n-numeric", type=int, default=8, help="numeric features (default: %(default)s)")
    p.add_argument("--mean-shift", action="append", default=[], metavar="NAME=SD", help="shift a feature's mean")
    p.add_argument("--scale", action="append", default=[], metavar="NAME=FACTOR", help="scale a feature's spread")
    p.add_argument(
        "--country-weight", action="append", default=[], metavar="CC=FACTOR", help="multiply a country's frequency"
    )
    p.add_argument("--concept", type=float, default=0.0, help="concept drift, 0 (none) to 1 (all new relation)")
    p.add_argument("--out", type=Path, required=True, help="data.csv or data.npz")
    p.set_defaults(func=run)


def _pairs(values: list[str], what: str) -> dict[str, float]:
    merged: dict[str, float] = {}
    for value in values:
        merged.update(parse_pairs(value, what))
    return merged


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    try:
        if out.suffix.lower() not in (".csv", ".npz"):
            raise DatasetError(f"{out}: the output must end in .csv or .npz")
        if args.rows < 1 or args.n_numeric < 1:
            raise DatasetError("--rows and --n-numeric must be at least 1")
        drift = Drift(
            mean_shift=_pairs(args.mean_shift, "--mean-shift"),
            scale=_pairs(args.scale, "--scale"),
            country_weights=_pairs(args.country_weight, "--country-weight"),
            concept=args.concept,
        )
        data = generate(args.rows, seed=args.seed, n_numeric=args.n_numeric, drift=drift)
        temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            (data.write_csv if out.suffix.lower() == ".csv" else data.write_npz)(temporary)
            temporary.replace(out)
        finally:
            temporary.unlink(missing_ok=True)
    except (ValueError, OSError) as error:
        print(f"modelops dataset: error: {error}", file=sys.stderr)
        return 1
    summary = {
        "path": str(out),
        "rows": data.rows,
        "features": data.feature_names,
        "positiveRate": float(np.mean(data.labels)),
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0
