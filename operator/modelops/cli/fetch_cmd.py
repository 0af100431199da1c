"""`modelops fetch-model`: the init container that fetches and verifies a model artifact."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

URIS = "file:///path, http(s)://host/path, pvc://claim/path, s3://bucket/key, s3://bucket/prefix/, oci://reg/repo:tag"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fetch-model", help="fetch a model artifact, verify its sha256, place it atomically")
    p.add_argument(
        "--uri",
        required=True,
        help=f"{URIS} (a prefix or a multi-file OCI artifact is placed as a directory)",
    )
    p.add_argument(
        "--sha256",
        help="expected sha256, 64 hex digits (else exit 3, before fetching); a mismatch exits 2, leaving nothing",
    )
    p.add_argument("--dest", required=True, type=Path, help="directory to place the artifact in")
    p.add_argument("--pvc-root", type=Path, help="where claims are mounted (env MODELOPS_PVC_ROOT, default /mnt/pvc)")
    p.add_argument(
        "--claim-dir",
        type=Path,
        help="where the claim a pvc:// URI names is mounted (default: the pvc root / CLAIM)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="wait for a file:// or pvc:// source that does not exist yet (a Job may still be writing it)",
    )
    p.add_argument(
        "--wait-timeout",
        type=float,
        default=0.0,
        help="with --wait, give up after this many seconds (default 0: wait as long as it takes)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP attempt")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelops.runtime.fetch import FetchError, fetch

    try:
        wait = (args.wait_timeout or math.inf) if args.wait else 0.0
        fetched = fetch(
            args.uri,
            args.dest,
            sha256=args.sha256,
            pvc_root=args.pvc_root,
            claim_dir=args.claim_dir,
            timeout=args.timeout,
            wait=wait,
        )
    except FetchError as error:  # its reason (one CamelCase word) first, for a machine to match
        print(f"error: {error.reason}: {error}", file=sys.stderr)
        return error.exit_code
    if not fetched.verified:
        print(f"warning: {args.uri} has no expected sha256; fetched unverified ({fetched.sha256})", file=sys.stderr)
    report: dict[str, object] = {
        "path": str(fetched.path),
        "sha256": fetched.sha256,
        "bytes": fetched.size,
        "verified": fetched.verified,
        "kind": fetched.kind,
    }
    if fetched.resolved:  # an OCI reference: the manifest digest it resolved to
        report["resolved"] = fetched.resolved
    print(json.dumps(report))
    return 0
