"""`modelops`: one binary for the operator, the model server, its init container and the CRD generator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from modelops import __version__
from modelops.cli import analyze_cmd, crds_cmd, dataset_cmd, drift_cmd, fetch_cmd, operator_cmd, serve_cmd, train_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelops", description="Serve ML models on Kubernetes, roll them out safely, watch drift, retrain."
    )
    parser.add_argument("--version", action="version", version=f"modelops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    crds_cmd.add_parser(sub)
    operator_cmd.add_parser(sub)
    analyze_cmd.add_parser(sub)
    drift_cmd.add_parser(sub)
    serve_cmd.add_parser(sub)
    fetch_cmd.add_parser(sub)
    train_cmd.add_parser(sub)
    dataset_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
