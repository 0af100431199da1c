"""`modelops drift evaluate`: compare two baseline documents exactly as a DriftMonitor would.

Answers "would this traffic count as drift, and which features?" offline: the reference is
a baseline as `modelops train` writes it, the current data is the same format (for example
histograms exported from Prometheus). Exit code: 0 no drift, 1 drift, 2 usage error or nothing
valid to compare, 3 insufficient data, 4 some features errored (the verdict on the others is in
the output; `--allow-errors` makes it the exit code). A script that treats anything but 0 as
"look at it" never takes a partial comparison for a clean one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelops.analysis.drift import DriftEvaluation, FeatureResult, Observations, Settings, evaluate, to_status
from modelops.analysis.drift_documents import MAX_FILE_BYTES, check_size, loads
from modelops.cli.status_view import table

EXIT_CLEAN, EXIT_DRIFT, EXIT_BAD_INPUT, EXIT_INSUFFICIENT, EXIT_FEATURE_ERRORS = 0, 1, 2, 3, 4
CHUNK_BYTES = 2**20
EXITS = (
    "Exit 0 no drift, 1 drift, 2 usage error or nothing valid to compare, 3 insufficient data, "
    "4 some features errored (unless --allow-errors)."
)


def add_parser(sub: Any) -> None:
    drift = sub.add_parser("drift", help="drift statistics offline, as the DriftMonitor computes them")
    commands = drift.add_subparsers(dest="drift_command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "evaluate",
        help="test current histograms against a reference baseline",
        description="Test every feature (and the predictions) of CURRENT against REFERENCE and print the "
        "table worst first. " + EXITS,
    )
    p.add_argument("--reference", type=Path, required=True, help="baseline JSON (as written by `modelops train`)")
    p.add_argument("--current", type=Path, required=True, help="current histograms, same format")
    p.add_argument("--alpha", type=_fraction, default=0.05, help="significance after correction (default 0.05)")
    p.add_argument("--correction", choices=["bh", "bonferroni", "none"], default="bh", help="default bh")
    p.add_argument(
        "--psi-floor", type=_non_negative, default=0.1, help="PSI a drifting feature must reach (default 0.1)"
    )
    p.add_argument("--min-samples", type=_positive, default=200, help="observations below which a feature is untested")
    p.add_argument("--drift-share", type=_fraction, default=0.5, help="share of features that makes drift")
    p.add_argument("--no-predictions", action="store_true", help="do not test the prediction distribution")
    p.add_argument(
        "--allow-errors",
        action="store_true",
        help="exit with the verdict on the valid features (0, 1 or 3) even when others errored; errors still listed",
    )
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _load(path: Path) -> Observations:
    """Read at most MAX_FILE_BYTES (checked by size first, so a huge file is never read)."""
    try:
        check_size(path.stat().st_size, MAX_FILE_BYTES)
        return loads(_read(path, MAX_FILE_BYTES + 1), max_bytes=MAX_FILE_BYTES)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from error
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def _read(path: Path, limit: int) -> bytes:
    """At most `limit` bytes, a chunk at a time: read(limit) would allocate all of it at once, and a
    pipe or a growing file has no size to trust."""
    chunks: list[bytes] = []
    total = 0
    with path.open("rb") as file:
        while total < limit and (chunk := file.read(min(CHUNK_BYTES, limit - total))):
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _result(f: FeatureResult, min_samples: int) -> str:
    if f.error is not None:
        return f"error: {f.error}"
    if f.insufficient_data:
        return f"insufficient data (fewer than {min_samples})"
    return "DRIFTED" if f.drifted else "ok"


def summary(evaluation: DriftEvaluation, drift_share: float) -> str:
    insufficient = sum(f.insufficient_data for f in evaluation.features)
    errors = len(evaluation.errors)
    extra = "".join(
        f", {n} {what}" for n, what in ((insufficient, "with insufficient data"), (errors, "with errors")) if n
    )
    if evaluation.insufficient_data:
        nothing = errors == len(evaluation.features)
        return f"no feature could be tested{extra}: {'bad input' if nothing else 'insufficient data'}"
    share = evaluation.drift_share or 0.0
    verdict = "DRIFTED" if evaluation.drifted(drift_share) else "not drifted"
    return (
        f"{evaluation.drifted_count} of {evaluation.tested} tested features drifted (share {share:.2f}, "
        f"threshold {drift_share:g}){extra}: {verdict} at this evaluation"
    )


def run(args: argparse.Namespace) -> int:
    try:
        reference, current = _load(args.reference), _load(args.current)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = Settings(
        alpha=args.alpha,
        correction=args.correction,
        psi_floor=args.psi_floor,
        min_samples=args.min_samples,
        predictions=not args.no_predictions,
    )
    evaluation = evaluate(reference, current, settings)
    if args.output == "json":
        features = [
            {"type": f.type, **s.model_dump(mode="json", by_alias=True)}
            for f, s in zip(evaluation.features, to_status(evaluation), strict=True)
        ]
        used = {
            "alpha": settings.alpha,
            "correction": settings.correction,
            "psiFloor": settings.psi_floor,
            "minSamples": settings.min_samples,
            "driftShare": args.drift_share,
            "predictions": settings.predictions,
        }
        document = {
            "drifted": evaluation.drifted(args.drift_share),
            "driftShare": evaluation.drift_share,
            "tested": evaluation.tested,
            "driftedFeatures": evaluation.drifted_count,
            "insufficientData": evaluation.insufficient_data,
            "worstFeature": evaluation.worst_feature,
            "settings": used,
            "errors": [{"feature": f.name, "error": f.error} for f in evaluation.errors],
            "features": features,
        }
        print(json.dumps(document, indent=2))
    else:
        rows = [
            (
                f.name,
                f.type or "-",
                f.test or "-",
                "-" if f.error else f.samples,
                _number(f.p_value, ".3g"),
                _number(f.adjusted_p_value, ".3g"),
                _number(f.psi, ".3f"),
                _number(f.js, ".3f"),
                _number(f.ks, ".3f"),
                _result(f, settings.min_samples),
            )
            for f in evaluation.features
        ]
        print(table(("FEATURE", "TYPE", "TEST", "SAMPLES", "P", "ADJ P", "PSI", "JS", "KS", "RESULT"), rows))
        print(summary(evaluation, args.drift_share))
    return exit_code(evaluation, args.drift_share, allow_errors=args.allow_errors)


def exit_code(evaluation: DriftEvaluation, drift_share: float, *, allow_errors: bool = False) -> int:
    """Errors outrank the verdict unless allowed: a verdict on some features says nothing of the rest."""
    errors = len(evaluation.errors)
    if errors == len(evaluation.features):  # every feature errored (or there was none): nothing valid
        return EXIT_BAD_INPUT
    if errors and not allow_errors:
        return EXIT_FEATURE_ERRORS
    if evaluation.insufficient_data:
        return EXIT_INSUFFICIENT
    return EXIT_DRIFT if evaluation.drifted(drift_share) else EXIT_CLEAN
