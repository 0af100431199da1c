"""`kubectl modelops VERB NAME`: the on-call view of modelops resources."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from modelops.api.v1alpha1 import MODEL_DEPLOYMENT
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modelops.kube import client as kube

    api = kube.load(args.kubeconfig, args.context)
    namespace = args.namespace or kube.current_namespace()
    resources = kube.CustomResources(api, MODEL_DEPLOYMENT)
    try:
        obj = resources.get(namespace, args.name)
    except kube.NotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(obj.get("status") or {}, indent=2, sort_keys=True))
    else:
        print(status_view.model_deployment(obj))
    return 0


if __name__ == "__main__":
    sys.exit(main())
