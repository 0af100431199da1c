"""Build the krew archive of the kubectl plugin, byte for byte reproducible.

    python plugins/krew/package.py [OUT_DIR]    # prints the archive's path and sha256

A zip with stored (uncompressed) members, fixed timestamps and modes, so the same sources
give the same bytes on any machine: the sha256 in modelops.yaml is checked against a fresh
build by tests/plugins/test_krew.py. Upload the archive as the release asset the manifest's
`uri` names.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = "v0.1.0"  # the chart's appVersion and the Python package's version, with a v
ARCHIVE = f"kubectl-modelops_{VERSION}.zip"
MEMBERS = {"kubectl-modelops": 0o755}  # archive name -> mode; all from this folder
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ARCHIVE
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, mode in sorted(MEMBERS.items()):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.create_system = 3  # Unix, so that the mode below is honoured on extraction
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, (HERE / name).read_bytes())
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    built = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "dist")
    print(built, sha256(built))
