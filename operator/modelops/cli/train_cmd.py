"""`modelops train`: fit the reference model and write model, baseline, metrics and result.

Flags fall back to the MODELOPS_* environment a RetrainPolicy injects into its Job (see
docs/trainer.md). The last stdout line is the result as one line of JSON; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from modelops.train import trainer
from modelops.train.dataset import LABEL


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train the reference model (logistic regression) and write its baseline",
        description="Train an L2-regularised logistic regression; write model.npz, baseline.json, "
        "metrics.json and result.json into the output directory and print the result as one JSON line.",
    )
    p.add_argument(
        "--data", help=f"file:///x.csv|.npz, a plain path, or synthetic://?rows=N&... (env {trainer.ENV_DATA})"
    )
    p.add_argument("--out", type=Path, help=f"output directory (env {trainer.ENV_OUTPUT}: file:///dir or a dir)")
    p.add_argument("--model", help=f"model name (env {trainer.ENV_MODEL}; default: model)")
    p.add_argument("--version", help=f"version to write (env {trainer.ENV_VERSION}; default: v1)")
    p.add_argument("--label", default=LABEL, help="label column, 0/1 (default: %(default)s)")
    p.add_argument("--seed", type=int, help=f"seed of the holdout split (env {trainer.ENV_SEED}; default: 0)")
    p.add_argument("--holdout", type=float, default=0.2, help="fraction of rows held out (default: %(default)s)")
    p.add_argument("--buckets", type=int, default=12, help="baseline buckets per feature (default: %(default)s)")
    p.add_argument(
        "--max-categories", type=int, default=20, help="categories kept in the baseline (default: %(default)s)"
    )
    p.add_argument("--max-onehot", type=int, default=50, help="categories one-hot encoded (default: %(default)s)")
    p.add_argument("--l2", type=float, default=1e-3, help="L2 penalty on the mean log loss (default: %(default)s)")
    p.add_argument("--trigger", help=f"what started the run, recorded in the result (env {trainer.ENV_TRIGGER})")
    p.add_argument(
        "--termination-log",
        help="file for the result as a termination message; '' disables "
        f"(default: {trainer.TERMINATION_LOG} when the kubelet mounted it)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    log_path = trainer.default_termination_log() if args.termination_log is None else args.termination_log or None
    termination_log = Path(log_path) if log_path else None
    flags = {k: v for k, v in vars(args).items() if k not in ("func", "command", "termination_log")}
    try:
        result = trainer.train(trainer.resolve(flags, os.environ))
        message = trainer.termination_message(result)
    except trainer.TrainError as error:
        print(f"modelops train: error: {error}", file=sys.stderr)
        trainer.write_termination_log(termination_log, trainer.termination_message({"error": str(error)[:3000]}))
        return 1
    except Exception as error:
        # a bug, not bad input: keep the traceback, but still tell the operator why the Job failed
        failure = f"unexpected {type(error).__name__}: {error}"[:3000]
        trainer.write_termination_log(termination_log, trainer.termination_message({"error": failure}))
        raise
    trainer.write_termination_log(termination_log, message)
    print(message, flush=True)
    return 0
