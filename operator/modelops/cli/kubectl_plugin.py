"""`kubectl modelops VERB NAME`: the on-call view of modelops resources."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelops.api.v1alpha1 import DRIFT_MONITOR, MODEL_DEPLOYMENT, RETRAIN_POLICY
from modelops.cli import status_view


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl modelops", description="Inspect and steer modelops resources.")
    parser.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    parser.add_argument("--kubeconfig", help="path to a kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    status = sub.add_parser("status", help="phase, versions, last analysis with values, conditions, history")
    status.add_argument("name", help="ModelDeployment name")
    status.add_argument("-o", "--output", choices=["text", "json"], default="text")
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


def rollout_patch(verb: str, nonce: str) -> dict[str, Any]:
    """The spec.rollout change a verb makes; nonces are new values, so every request acts once."""
    if verb == "pause":
        return {"paused": True}
    if verb == "resume":
        return {"paused": False, "resume": nonce}
    return {verb: nonce}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modelops.kube import client as kube

    api = kube.load(args.kubeconfig, args.context)
    namespace = args.namespace or kube.current_namespace()
    info = {"drift": DRIFT_MONITOR, "retrain": RETRAIN_POLICY}.get(args.verb, MODEL_DEPLOYMENT)
    resources = kube.CustomResources(api, info)
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
