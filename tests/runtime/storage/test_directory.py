from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.runtime.storage import errors
from modelops.runtime.storage.directory import FileStaging, Staging, directory_digest, safe_relative

SEGMENT = st.sampled_from(["a", "b.txt", "..", ".", "", "/", "c d", "\\", "x\0y", "é"])


@given(st.lists(SEGMENT, min_size=1, max_size=6))
def test_a_name_is_refused_or_stays_inside(parts: list[str]) -> None:
    name = "/".join(parts)
    root = Path("/dest/root")
    try:
        relative = safe_relative(name, "test")
    except errors.PathEscapes:
        return
    resolved = Path(os.path.normpath(root.joinpath(*relative.parts)))
    assert resolved.is_relative_to(root) and resolved != root


def test_the_digest_is_the_documented_lines(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.bin").write_bytes(b"x")
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "empty-dir").mkdir()  # does not count
    lines = b"".join(
        f"{p}\0{hashlib.sha256(body).hexdigest()}\n".encode() for p, body in (("a.txt", b"a"), ("b/x.bin", b"x"))
    )
    assert directory_digest(tmp_path) == hashlib.sha256(lines).hexdigest()


def test_a_symlink_in_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(errors.PathEscapes, match="symlink"):
        directory_digest(tmp_path)


def test_staging_leaves_nothing_on_failure_and_replaces_on_commit(tmp_path: Path) -> None:
    def stage_and_verify() -> None:
        with Staging(tmp_path, "model") as staging:
            staging.path("a/b.txt", "test").write_bytes(b"b")
            staging.verify("0" * 64, "test")

    with pytest.raises(errors.DigestMismatch):
        stage_and_verify()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "old.txt").write_bytes(b"old")  # an earlier run's: replaced whole
    with Staging(tmp_path, "model") as staging:
        staging.path("new.txt", "test").write_bytes(b"new")
        with pytest.raises(errors.InvalidArtifact, match="given twice"):
            staging.path("new.txt", "test")
        staging.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["new.txt"]
    with FileStaging(tmp_path, "model") as staged:  # a file replaces a directory of the same name
        staged.partial.write_bytes(b"file")
        staged.commit()
    assert (tmp_path / "model").read_bytes() == b"file" and len(list(tmp_path.iterdir())) == 1
