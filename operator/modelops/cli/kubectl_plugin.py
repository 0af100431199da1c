"""`kubectl modelops VERB NAME`: the on-call view of modelops resources."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from modelops.api.durations import parse_duration
from modelops.api.v1alpha1 import DRIFT_MONITOR, MODEL_DEPLOYMENT, RETRAIN_POLICY
from modelops.cli import status_view

if TYPE_CHECKING:
    from modelops.kube.client import CustomResources

# `status --watch` stops by itself after this long unless told otherwise (Ctrl-C stops it sooner)
WATCH_TIMEOUT = "30m"
WATCH_TIMEOUT_MAX = 24 * 3600.0
# one watch request at most this long; the loop resumes from the last resourceVersion
WATCH_REQUEST_SECONDS = 60
CLEAR = "\x1b[H\x1b[2J"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl modelops", description="Inspect and steer modelops resources.")
    parser.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    parser.add_argument("--kubeconfig", help="path to a kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = sub.add_parser("list", help="every ModelDeployment: phase, versions, canary weight, pods, ready")
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    listing.add_argument("-o", "--output", choices=["text", "json"], default="text")
    status = sub.add_parser("status", help="phase, versions, last analysis with values, conditions, history")
    status.add_argument("name", help="ModelDeployment name")
    status.add_argument("-o", "--output", choices=["text", "json"], default="text")
    status.add_argument("-w", "--watch", action="store_true", help="print again whenever it changes (Ctrl-C stops)")
    status.add_argument(
        "--timeout",
        default=WATCH_TIMEOUT,
        type=_watch_timeout,
        help=f"with --watch: stop after this long, e.g. 90s, 10m, 2h (default {WATCH_TIMEOUT}, at most 24h)",
    )
    drift = sub.add_parser("drift", help="a DriftMonitor's per-feature table: tests, p-values, PSI, verdict")
    drift.add_argument("name", help="DriftMonitor name")
    drift.add_argument("-o", "--output", choices=["text", "json"], default="text")
    for verb, text in ACTIONS.items():
        action = sub.add_parser(verb, help=text)
        action.add_argument("name", help="ModelDeployment name")
    hist = sub.add_parser("history", help="rollouts, each traced to its retraining run and that run's trigger")
    hist.add_argument("name", help="ModelDeployment name")
    retrain = sub.add_parser("retrain", help="request a retraining run now (spec.triggers.manual of a RetrainPolicy)")
    retrain.add_argument("name", help="RetrainPolicy name")
    return parser


# verb -> what it does; each sets a declarative field of spec.rollout that the operator acknowledges
ACTIONS = {
    "promote": "promote the canary now, skipping the remaining steps (spec.rollout.promote)",
    "abort": "abort the rollout: all traffic back to stable (spec.rollout.abort)",
    "pause": "hold the rollout at its current step (spec.rollout.paused=true)",
    "resume": "continue a paused rollout, or past a pause step without duration (spec.rollout.resume)",
    "retry": "roll out again a version that was rolled back (spec.rollout.retry)",
}


def _watch_timeout(text: str) -> float:
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 10m, 2h)") from error
    if not 0 < seconds <= WATCH_TIMEOUT_MAX:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 and at most 24h")
    return seconds


Events = Callable[[str | None, int], Iterator[tuple[str, dict[str, Any]]]]


def watch_frames(
    first: dict[str, Any],
    events: Events,
    render: Callable[[dict[str, Any]], str],
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """The rendered view of `first`, then again each time an event changes what it shows (not on
    every resourceVersion: a status write that changes nothing visible prints nothing). Ends
    after `timeout` seconds, or once the object is deleted (with a last line saying so).

    `events(resource_version, seconds)` is one bounded watch from that version (None: start
    from the current object); a watch the server ends is resumed from the last version seen, one
    that reports an ERROR (410: that version is too old) from the current object."""
    shown = render(first)
    yield shown
    version = first.get("metadata", {}).get("resourceVersion")
    deadline = clock() + timeout
    requests = 0
    while (left := deadline - clock()) > 0:
        requests += 1
        if requests > 10 * (int(timeout) // WATCH_REQUEST_SECONDS + 2):
            return  # bounded even if a server answered every watch at once with nothing
        started = clock()
        for kind, obj in events(version, int(min(left, WATCH_REQUEST_SECONDS)) or 1):
            if kind == "DELETED":
                meta = obj.get("metadata", {})
                yield f"{obj.get('kind', 'object')} {meta.get('namespace')}/{meta.get('name')} was deleted"
                return
            if kind == "ERROR":  # a Status in the stream, e.g. 410 Gone: start again from the object as it is
                version = None
                break
            version = obj.get("metadata", {}).get("resourceVersion") or version
            text = render(obj)
            if text != shown:
                shown = text
                yield text
            if clock() >= deadline:
                return
        if clock() - started < 1:  # ended at once (an ERROR, a proxy closing it): do not spin
            sleep(min(1.0, max(0.0, deadline - clock())))


def _watch(
    resources: CustomResources,
    namespace: str,
    first: dict[str, Any],
    render: Callable[[dict[str, Any]], str],
    *,
    timeout: float,
    out: TextIO,
    lines: bool = False,
) -> int:
    """Print each frame: under a header (the screen cleared first on a terminal), or as bare
    lines with `lines` (JSON Lines for scripts)."""
    name = first["metadata"]["name"]

    def events(version: str | None, seconds: int) -> Iterator[tuple[str, dict[str, Any]]]:
        return resources.watch(namespace, name, resource_version=version, timeout_seconds=seconds)

    clear = out.isatty()
    try:
        for n, frame in enumerate(watch_frames(first, events, render, timeout=timeout)):
            stamp = datetime.now(UTC).strftime("%H:%M:%SZ")
            header = f"{stamp}  watching {namespace}/{name} (Ctrl-C to stop)"
            if lines:
                out.write(f"{frame}\n")
            elif clear:
                out.write(f"{CLEAR}{header}\n\n{frame}\n")
            else:
                out.write(f"{'' if n == 0 else chr(10)}--- {header}\n{frame}\n")
            out.flush()
    except KeyboardInterrupt:
        out.write("\n")
        return 130
    return 0


def _status_json(obj: dict[str, Any]) -> str:
    """One line per change with --watch -o json (JSON Lines), for scripts."""
    return json.dumps(obj.get("status") or {}, sort_keys=True)


def list_command(resources: CustomResources, namespace: str | None, output: str, out: TextIO) -> int:
    """`kubectl modelops list [-A]`: every ModelDeployment of a namespace (or all), one line each."""
    objs = resources.list(namespace)
    now = datetime.now(UTC)
    if output == "json":
        rows = [status_view.model_deployment_row(o, now) for o in objs]
        out.write(json.dumps(sorted(rows, key=lambda r: (r["namespace"], r["name"])), indent=2) + "\n")
    elif not objs:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No ModelDeployments found in {where}.", file=sys.stderr)
    else:
        out.write(status_view.model_deployment_list(objs, now, all_namespaces=namespace is None) + "\n")
    return 0


def rollout_patch(verb: str, nonce: str) -> dict[str, Any]:
    """The spec.rollout change a verb makes; nonces are new values, so every request acts once."""
    if verb == "pause":
        return {"paused": True}
    if verb == "resume":
        return {"paused": False, "resume": nonce}
    return {verb: nonce}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:  # Ctrl-C while waiting for the API server: no traceback
        print(file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from modelops.kube import client as kube

    api = kube.load(args.kubeconfig, args.context)
    namespace = args.namespace or kube.current_namespace()
    info = {"drift": DRIFT_MONITOR, "retrain": RETRAIN_POLICY}.get(args.verb, MODEL_DEPLOYMENT)
    resources = kube.CustomResources(api, info)
    if args.verb == "list":
        return list_command(resources, None if args.all_namespaces else namespace, args.output, sys.stdout)
    try:
        obj = resources.get(namespace, args.name)
    except kube.NotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    nonce = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    if args.verb == "retrain":
        resources.patch_spec(namespace, args.name, {"triggers": {"manual": nonce}})
        print(
            f"retrainpolicy.modelops.dev/{args.name}: run requested (spec.triggers.manual={nonce}); "
            f"watch with: kubectl get rp {args.name} -n {namespace} -w"
        )
        return 0
    if args.verb in ACTIONS:
        change = rollout_patch(args.verb, nonce)
        resources.patch_spec(namespace, args.name, {"rollout": change})
        print(
            f"modeldeployment.modelops.dev/{args.name}: {args.verb} requested ({json.dumps(change)}); "
            f"watch with: kubectl get md {args.name} -n {namespace} -w"
        )
        return 0
    if args.verb == "status" and args.watch:
        render = _status_json if args.output == "json" else status_view.model_deployment
        json_lines = args.output == "json"
        return _watch(resources, namespace, obj, render, timeout=args.timeout, out=sys.stdout, lines=json_lines)
    if getattr(args, "output", "text") == "json":
        print(json.dumps(obj.get("status") or {}, indent=2, sort_keys=True))
    elif args.verb == "drift":
        print(status_view.drift_monitor(obj))
    elif args.verb == "history":
        ref = ((obj.get("spec") or {}).get("modelFrom") or {}).get("retrainPolicyRef") or {}
        policy = None
        if ref.get("name"):
            try:
                policy = kube.CustomResources(api, RETRAIN_POLICY).get(namespace, ref["name"])
            except kube.NotFoundError:
                policy = None
        print(status_view.history(obj, policy))
    else:
        print(status_view.model_deployment(obj))
    return 0


if __name__ == "__main__":
    sys.exit(main())
