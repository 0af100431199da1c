"""`modelops`: one binary for the operator, the model server, its init container and the CRD generator.

Each command lives in its own module, imported only when that command runs (all of them only for
the full `--help`): `modelops serve`, `train` and `fetch-model` run in model pods and must not
import kopf and every controller, which only `modelops operator` needs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modelops import __version__

# command -> the module with its `add_parser(sub)` and `run(args)`, in `--help` order
COMMANDS = {
    "crds": "modelops.cli.crds_cmd",
    "operator": "modelops.cli.operator_cmd",
    "analyze": "modelops.cli.analyze_cmd",
    "drift": "modelops.cli.drift_cmd",
    "serve": "modelops.cli.serve_cmd",
    "fetch-model": "modelops.cli.fetch_cmd",
    "digest": "modelops.cli.digest_cmd",
    "train": "modelops.cli.train_cmd",
    "dataset": "modelops.cli.dataset_cmd",
}


def command(argv: Sequence[str]) -> str | None:
    """The command `argv` names: its first argument that is not an option (no global option takes a value)."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for `argv`: of the one command it names, or of every command when it names none."""
    parser = argparse.ArgumentParser(
        prog="modelops", description="Serve ML models on Kubernetes, roll them out safely, watch drift, retrain."
    )
    parser.add_argument("--version", action="version", version=f"modelops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = command(argv)
    for name, module in COMMANDS.items():
        if named in (None, name):
            importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments).parse_args(arguments)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
