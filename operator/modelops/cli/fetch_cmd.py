"""`modelops fetch-model`: the init container that fetches and verifies a model artifact."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any

URIS = "file:///path, http(s)://host/path, pvc://claim/path, s3://bucket/key, s3://bucket/prefix/, oci://reg/repo:tag"
TERMINATION_LOG = "/dev/termination-log"
TERMINATION_BYTES = 4096  # what the kubelet keeps


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
    p.add_argument(
        "--signature-uri",
        help="a cosign signature or bundle of the artifact (any scheme --uri takes; of a directory: of its "
        "digest manifest, `modelops digest DIR --manifest F`); verified before it is placed",
    )
    p.add_argument(
        "--public-key",
        type=Path,
        help="PEM public key (cosign.pub) that must have signed it; for an oci:// artifact without "
        "--signature-uri, the signature `cosign sign --key` stored in its registry",
    )
    p.add_argument(
        "--termination-log",
        type=Path,
        help="where to write `REASON: message` on failure, the JSON report on success (the pod's status shows "
        f"it; default {TERMINATION_LOG} when it exists, as the kubelet mounts it)",
    )
    p.set_defaults(func=run)


def _terminate(path: Path | None, text: str) -> None:
    """The pod's termination message; best effort (outside a pod there is no /dev/termination-log)."""
    if path is None:
        path = Path(TERMINATION_LOG)
        if not path.is_file():
            return
    with contextlib.suppress(OSError):
        path.write_text(text[:TERMINATION_BYTES])


def reason(error: Exception) -> str:
    """The machine reason of a failed fetch (runtime/storage/errors.py: one CamelCase word per failure)."""
    own = getattr(error, "reason", None)
    return own if isinstance(own, str) and own else "FetchFailed"


def run(args: argparse.Namespace) -> int:
    from modelops.runtime.fetch import FetchError, fetch
    from modelops.runtime.signature import PROVENANCE_FILE, SignatureMissing, fetch_signed

    signer: dict[str, str] = {}
    try:
        if args.signature_uri is not None and args.public_key is None:
            raise SignatureMissing("--signature-uri needs --public-key, the key that must have signed it")
        wait = (args.wait_timeout or math.inf) if args.wait else 0.0
        options = {
            "sha256": args.sha256,
            "pvc_root": args.pvc_root,
            "claim_dir": args.claim_dir,
            "timeout": args.timeout,
            "wait": wait,
        }
        if args.public_key is not None:
            fetched, verified = fetch_signed(
                args.uri, args.dest, signature_uri=args.signature_uri, public_key=args.public_key, **options
            )
            signer = {"signer": verified.signer, "signatureFormat": verified.format}
        else:
            fetched = fetch(args.uri, args.dest, **options)
    except FetchError as error:  # its reason (one CamelCase word) first, for a machine to match
        why = reason(error)
        _terminate(args.termination_log, f"{why}: {error}")
        print(f"error: {why}: {error}", file=sys.stderr)
        return error.exit_code
    if not fetched.verified:
        print(f"warning: {args.uri} has no expected sha256; fetched unverified ({fetched.sha256})", file=sys.stderr)
    report: dict[str, object] = {
        "path": str(fetched.path),
        "sha256": fetched.sha256,
        "bytes": fetched.size,
        "verified": fetched.verified,
        "kind": fetched.kind,
        **signer,
    }
    if fetched.resolved:  # an OCI reference: the manifest digest it resolved to
        report["resolved"] = fetched.resolved
    _terminate(args.termination_log, json.dumps(report))
    with contextlib.suppress(OSError):  # provenance for the server's modelops_model_info
        (args.dest / PROVENANCE_FILE).write_text(json.dumps(report))
    print(json.dumps(report))
    return 0
