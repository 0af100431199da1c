"""`modelops serve`: the reference model server (Open Inference Protocol v2 + modelops telemetry)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any


def _signer(model_dir: Path) -> str:
    """The signer fetch-model verified, from the provenance it left beside the model ("" if none)."""
    from modelops.runtime.signature import PROVENANCE_FILE

    try:
        report = json.loads((model_dir / PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return ""
    signer = report.get("signer") if isinstance(report, dict) else None
    return signer if isinstance(signer, str) else ""


def add_parser(sub: Any) -> None:
    env = os.environ.get
    p = sub.add_parser("serve", help="serve one model version over the Open Inference Protocol (KServe v2)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", type=Path, help="the model file")
    where.add_argument("--model-dir", type=Path, help="a directory holding exactly one model file")
    p.add_argument("--format", default="auto", choices=["auto", "numpy-linear", "sklearn", "onnx"])
    p.add_argument("--baseline", type=Path, help="training baseline JSON (default: baseline.json beside the model)")
    p.add_argument("--name", default=env("MODELOPS_MODEL_NAME"), help="model name (env MODELOPS_MODEL_NAME)")
    p.add_argument("--version", default=env("MODELOPS_MODEL_VERSION"), help="version (env MODELOPS_MODEL_VERSION)")
    p.add_argument("--variant", default=env("MODELOPS_VARIANT", "stable"), choices=["stable", "canary", "shadow"])
    p.add_argument("--uri", default=env("MODELOPS_MODEL_URI", ""), help="artifact URI, for modelops_model_info")
    p.add_argument("--sha256", default=env("MODELOPS_MODEL_SHA256", ""), help="verify the file before loading")
    p.add_argument(
        "--retrain-run",
        default=env("MODELOPS_RETRAIN_RUN", ""),
        help="the RetrainPolicy run that produced the version, for modelops_model_info (env MODELOPS_RETRAIN_RUN)",
    )
    p.add_argument("--host", default="0.0.0.0", help="address to bind")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024, help="larger bodies get 413")
    p.add_argument("--max-rows", type=int, default=10_000, help="rows per request; more get 413")
    p.add_argument("--no-telemetry", action="store_true", help="export no modelops metrics (benchmarks)")
    p.add_argument(
        "--decision-threshold",
        type=float,
        default=0.5,
        help="binary classifiers: a score at or above it is a positive prediction (label telemetry's tp/fp/tn/fn)",
    )
    p.add_argument(
        "--feedback-capacity",
        type=int,
        default=100_000,
        help="predictions remembered for labels sent to POST .../feedback (0: no ids assigned, no label telemetry)",
    )
    p.add_argument(
        "--feedback-max-bytes",
        type=int,
        default=32 * 1024 * 1024,
        help="memory cap of that record (estimated); the oldest predictions are forgotten first",
    )
    p.add_argument(
        "--allow-fault-injection",
        action="store_true",
        help="honour the x-modelops-fault request header (error, latency=S): for tests and game days only",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelops.models import ModelError
    from modelops.runtime.server import ServeOptions, artifact_root, find_model
    from modelops.runtime.server import run as serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0.0 <= args.decision_threshold <= 1.0 or args.feedback_capacity < 0 or args.feedback_max_bytes < 0:
        why = "--decision-threshold must be in [0, 1], --feedback-capacity and --feedback-max-bytes at least 0"
        print(f"error: {why}", file=sys.stderr)
        return 2
    if not args.name or not args.version:
        print("error: --name and --version (or MODELOPS_MODEL_NAME/VERSION) are required", file=sys.stderr)
        return 2
    try:
        model_path = args.model or find_model(args.model_dir)
    except (ModelError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    baseline = args.baseline
    if baseline is None and (model_path.parent / "baseline.json").is_file():
        baseline = model_path.parent / "baseline.json"
    options = ServeOptions(
        model_path=model_path,
        name=args.name,
        version=args.version,
        variant=args.variant,
        format=args.format,
        baseline_path=baseline,
        uri=args.uri,
        sha256=args.sha256,
        signer=_signer(args.model_dir or model_path.parent),  # fetch-model leaves it in --dest, above a directory
        retrain_run=args.retrain_run,
        max_body_bytes=args.max_body_bytes,
        max_rows=args.max_rows,
        telemetry=not args.no_telemetry,
        allow_fault_injection=args.allow_fault_injection,
        decision_threshold=args.decision_threshold,
        feedback_capacity=args.feedback_capacity,
        feedback_max_bytes=args.feedback_max_bytes,
        artifact_root=artifact_root(args.model_dir, model_path) if args.model_dir and not args.model else None,
    )
    serve(options, args.host, args.port)
    return 0
