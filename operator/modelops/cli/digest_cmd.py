"""`modelops digest PATH`: the digest `spec.model.sha256` pins and a signature signs, computed locally.

For a file it is the file's SHA-256; for a directory (what an s3:// prefix or a multi-file OCI
artifact is placed as) the directory digest of runtime/storage/directory.py. `--manifest F`
writes the directory's digest manifest, whose SHA-256 is that digest: `cosign sign-blob F`
signs the directory, and fetch-model verifies that signature against what it placed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "digest",
        help="print the sha256 of a model file or the directory digest of a model directory",
        description=(
            "Print the digest spec.model.sha256 pins: a file's sha256, or a directory's digest (sha256 over "
            "the sorted 'path NUL sha256 LF' lines of its regular files). --manifest writes those lines: "
            "`cosign sign-blob` of that file signs the directory."
        ),
    )
    p.add_argument("path", type=Path, help="a model file or directory")
    p.add_argument(
        "--manifest",
        help="write the directory's digest manifest to this file ('-' for stdout, then the digest goes to stderr)",
    )
    p.add_argument("--json", action="store_true", help="one JSON line: path, kind, sha256, files, bytes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelops.runtime.storage.directory import encode_manifest, file_sha256, manifest, size_of
    from modelops.runtime.storage.errors import FetchError

    path: Path = args.path
    lines = b""
    try:
        if path.is_dir():
            entries = manifest(path)
            lines = encode_manifest(entries)
            digest = hashlib.sha256(lines).hexdigest()
            kind, files, size = "directory", len(entries), size_of(path)
        elif path.is_file():
            if args.manifest:
                print(f"error: {path} is a file: a manifest is for a directory (sign the file itself)", file=sys.stderr)
                return 3
            digest, kind, files, size = file_sha256(path), "file", 1, path.stat().st_size
        else:
            print(f"error: {path}: no such file or directory", file=sys.stderr)
            return 1
    except (FetchError, OSError) as error:  # a symlink or a device inside the directory, an unreadable file
        print(f"error: {getattr(error, 'reason', 'Unreadable')}: {error}", file=sys.stderr)
        return 1
    out = sys.stdout
    if args.manifest == "-":
        sys.stdout.buffer.write(lines)
        sys.stdout.flush()
        out = sys.stderr
    elif args.manifest:
        Path(args.manifest).write_bytes(lines)
    if args.json:
        print(json.dumps({"path": str(path), "kind": kind, "sha256": digest, "files": files, "bytes": size}), file=out)
    else:
        print(digest, file=out)
    return 0
