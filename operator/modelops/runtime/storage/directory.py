"""Directory artifacts: the digest of a directory, names that cannot escape it, and atomic placement.

**The digest of a directory** is the SHA-256 of one line per regular file, sorted by path:
``<relative path, '/'-separated, UTF-8>\\0<sha256 of the file, 64 lowercase hex>\\n``. Only
the files' paths and contents count (not modes, times or empty directories), so the same model
has the same digest whether it came from S3, an OCI artifact or a local directory, and
``(cd DIR && find . -type f | sed 's|^./||' | LC_ALL=C sort | while read -r f; do printf '%s\\0%s\\n' "$f"
"$(sha256sum "$f" | cut -d' ' -f1)"; done) | sha256sum`` computes it with coreutils.

**Names** (an S3 key below the prefix, an OCI layer title, a tar member) are checked before
anything is written: relative, no ``..``, no empty or ``.`` segment, no backslash, no NUL;
otherwise PathEscapes. Symlinks and other non-regular files never enter a directory artifact.

**Placement**: everything is written into a temporary directory beside the destination and
renamed into place only once complete and verified; a failure removes it, so a model server
never sees a half-written or unverified model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import TracebackType

from modelops.runtime.storage.errors import DigestMismatch, InvalidArtifact, PathEscapes

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def safe_relative(name: str, what: str) -> PurePosixPath:
    """`name` as a relative path that stays inside its directory, else PathEscapes naming `what`."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise PathEscapes(
            f"{what}: {name!r} is not a plain relative path inside the artifact (absolute, '..', '.', '//' or '\\\\')"
        )
    return PurePosixPath(*parts)


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        for name in (*dirnames, *filenames):
            path = base / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise PathEscapes(f"{path.relative_to(root)}: a symlink; a model directory holds regular files only")
            if stat.S_ISREG(mode):
                yield path.relative_to(root).as_posix(), path
            elif not stat.S_ISDIR(mode):
                raise InvalidArtifact(f"{path.relative_to(root)}: not a regular file or directory")


def manifest(root: Path) -> list[tuple[str, str]]:
    """(relative path, sha256) of every regular file under `root`, sorted by path (as UTF-8 bytes)."""
    entries = [(rel, file_sha256(path)) for rel, path in _files(root)]
    return sorted(entries, key=lambda e: e[0].encode())


def encode_manifest(entries: list[tuple[str, str]]) -> bytes:
    """The digest manifest of `manifest()`'s entries: the "path\\0sha256\\n" lines. Its SHA-256 is the
    directory digest, so `cosign sign-blob` of it signs the directory (`modelops digest DIR --manifest F`)."""
    return b"".join(rel.encode() + b"\0" + sha.encode() + b"\n" for rel, sha in entries)


def manifest_bytes(root: Path) -> bytes:
    return encode_manifest(manifest(root))


def directory_digest(root: Path) -> str:
    """The digest of a directory (module docstring): sha256 over sorted "path\\0sha256\\n" lines."""
    return hashlib.sha256(manifest_bytes(root)).hexdigest()


def replace(source: Path, final: Path) -> Path:
    """Rename `source` (a file or a directory) to `final`, replacing whatever is there: a file, or a
    directory an earlier run of the init container placed (moved aside first, then removed)."""
    if final.is_symlink() or final.is_file():
        final.unlink()
    elif final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, old / "x")
        shutil.rmtree(old)
    os.replace(source, final)
    return final


def size_of(root: Path) -> int:
    return sum(path.stat().st_size for _rel, path in _files(root))


class Staging:
    """A temporary directory beside `dest/name`, renamed to it by `commit()`, removed on any failure.

    Used as a context manager: leaving the block without `commit()` (an exception) removes it.
    """

    def __init__(self, dest: Path, name: str) -> None:
        safe_relative(name, "destination name")
        if "/" in name:
            raise PathEscapes(f"destination name {name!r}: one path segment expected")
        dest.mkdir(parents=True, exist_ok=True)
        self.final = dest / name
        self.root = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=dest))
        self.committed = False

    def path(self, name: str, what: str) -> Path:
        """Where the artifact's file `name` goes (parents created); PathEscapes if it would leave the root."""
        target = self.root.joinpath(*safe_relative(name, what).parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as error:
            raise InvalidArtifact(f"{what}: {name!r} is below a name that is a file") from error
        if target.exists():
            raise InvalidArtifact(f"{what}: {name!r} is given twice (or is both a file and a directory)")
        return target

    def verify(self, expected: str | None, what: str) -> str:
        """The staged directory's digest; DigestMismatch if `expected` is given and differs."""
        actual = directory_digest(self.root)
        if expected and actual != expected.lower():
            raise DigestMismatch(f"{what}: directory digest mismatch: expected {expected.lower()}, got {actual}")
        return actual

    def commit(self) -> Path:
        """Rename the staged directory to its final name (replacing a previous one) and return that path."""
        replace(self.root, self.final)  # an earlier run of the init container's result is replaced whole
        self.committed = True
        return self.final

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self.committed:
            shutil.rmtree(self.root, ignore_errors=True)


class FileStaging:
    """A temporary file beside `dest/name`, renamed to it by `commit()`, removed on any failure."""

    def __init__(self, dest: Path, name: str) -> None:
        safe_relative(name, "destination name")
        if "/" in name:
            raise PathEscapes(f"destination name {name!r}: one path segment expected")
        dest.mkdir(parents=True, exist_ok=True)
        self.final = dest / name
        handle, partial = tempfile.mkstemp(prefix=f".{name}.partial-", dir=dest)
        os.close(handle)
        self.partial = Path(partial)
        self.committed = False

    def verify(self, expected: str | None, what: str) -> str:
        actual = file_sha256(self.partial)
        if expected and actual != expected.lower():
            size = self.partial.stat().st_size
            raise DigestMismatch(f"{what}: sha256 mismatch: expected {expected.lower()}, got {actual} ({size} bytes)")
        return actual

    def commit(self) -> Path:
        if self.final.is_dir() and not self.final.is_symlink():
            shutil.rmtree(self.final)
        os.replace(self.partial, self.final)
        self.committed = True
        return self.final

    def __enter__(self) -> FileStaging:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self.committed:
            self.partial.unlink(missing_ok=True)
