from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelops.cli.main import main
from modelops.runtime import fetch as fetch_module
from modelops.runtime.fetch import ChecksumMismatch, FetchError, fetch

PAYLOAD = b"model bytes " * 1000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.npz").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_file_uri(tmp_path: Path) -> None:
    source = tmp_path / "src" / "model.npz"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    fetched = fetch(f"file://{source}", tmp_path / "dest", sha256=SHA)
    assert fetched.path.read_bytes() == PAYLOAD and fetched.verified and fetched.size == len(PAYLOAD)


def test_pvc_uri_reads_the_mounted_claim_and_cannot_escape_it(tmp_path: Path) -> None:
    (tmp_path / "pvc" / "models" / "fraud").mkdir(parents=True)
    (tmp_path / "pvc" / "models" / "fraud" / "model.npz").write_bytes(PAYLOAD)
    fetched = fetch("pvc://models/fraud/model.npz", tmp_path / "dest", sha256=SHA, pvc_root=tmp_path / "pvc")
    assert fetched.path.read_bytes() == PAYLOAD
    with pytest.raises(FetchError, match="escapes the claim"):
        fetch("pvc://models/../../etc/passwd", tmp_path / "dest", pvc_root=tmp_path / "pvc")


def test_pvc_uri_with_the_claim_mounted_at_claim_dir(tmp_path: Path) -> None:
    (tmp_path / "mnt" / "fraud").mkdir(parents=True)
    (tmp_path / "mnt" / "fraud" / "model.npz").write_bytes(PAYLOAD)
    fetched = fetch("pvc://models/fraud/model.npz", tmp_path / "dest", claim_dir=tmp_path / "mnt")
    assert fetched.path.read_bytes() == PAYLOAD and not fetched.verified and fetched.sha256 == SHA
    with pytest.raises(FetchError, match="escapes the claim"):
        fetch("pvc://models/../x/model.npz", tmp_path / "dest", claim_dir=tmp_path / "mnt")


def test_a_missing_source_fails_at_once_without_wait(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="cannot read"):
        fetch("pvc://models/v1/model.npz", tmp_path / "dest", claim_dir=tmp_path)
    assert list((tmp_path / "dest").iterdir()) == []


def test_wait_until_a_job_writes_the_source(tmp_path: Path) -> None:
    source = tmp_path / "claim" / "v1" / "model.npz"
    said: list[str] = []

    def writer() -> None:  # as a Job should: a temporary name, renamed into place when complete
        source.parent.mkdir(parents=True)
        temporary = source.with_name(".model.npz.partial")
        temporary.write_bytes(PAYLOAD)
        temporary.replace(source)

    timer = threading.Timer(0.3, writer)
    timer.start()
    try:
        fetched = fetch(
            "pvc://models/v1/model.npz",
            tmp_path / "dest",
            claim_dir=tmp_path / "claim",
            wait=10,
            poll=0.05,
            say=said.append,
        )
    finally:
        timer.cancel()
    assert fetched.path.read_bytes() == PAYLOAD
    assert "does not exist yet" in said[0] and "NotReady" in said[0] and "appeared after" in said[-1]


def test_wait_gives_up_after_its_timeout(tmp_path: Path) -> None:
    said: list[str] = []
    with pytest.raises(FetchError, match="still does not exist after waiting"):
        fetch("pvc://models/v1/model.npz", tmp_path / "dest", claim_dir=tmp_path, wait=0.2, poll=0.05, say=said.append)
    assert len(said) == 1  # said once, not once per poll
    (tmp_path / "v1" / "model.npz").mkdir(parents=True)
    with pytest.raises(FetchError, match="not a regular file"):
        fetch("pvc://models/v1/model.npz", tmp_path / "dest", claim_dir=tmp_path, wait=1, say=said.append)


def test_cli_waits_and_reports_the_unverified_checksum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "claim").mkdir()
    (tmp_path / "claim" / "model.npz").write_bytes(PAYLOAD)
    args = ["fetch-model", "--uri", "pvc://c/model.npz", "--dest", str(tmp_path / "d")]
    assert main([*args, "--claim-dir", str(tmp_path / "claim"), "--wait"]) == 0
    out = capsys.readouterr()
    assert SHA in out.out and "unverified" in out.err
    assert main([*args, "--claim-dir", str(tmp_path / "none"), "--wait", "--wait-timeout", "0.1"]) == 1
    assert "still does not exist" in capsys.readouterr().err


def test_http_uri(tmp_path: Path, http_root: str) -> None:
    fetched = fetch(f"{http_root}/model.npz", tmp_path / "dest", sha256=SHA)
    assert fetched.path.read_bytes() == PAYLOAD
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{http_root}/missing.npz", tmp_path / "dest", retries=1)


def test_mismatch_leaves_nothing_and_exits_2(
    tmp_path: Path, http_root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ChecksumMismatch, match=f"expected {'0' * 64}, got {SHA}"):
        fetch(f"{http_root}/model.npz", dest, sha256="0" * 64)
    assert list(dest.iterdir()) == []
    code = main(["fetch-model", "--uri", f"{http_root}/model.npz", "--sha256", "0" * 64, "--dest", str(dest)])
    assert code == 2 and "sha256 mismatch" in capsys.readouterr().err
    assert list(dest.iterdir()) == []


def test_cli_success_prints_json(tmp_path: Path, http_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fetch-model", "--uri", f"{http_root}/model.npz", "--sha256", SHA, "--dest", str(tmp_path)])
    assert code == 0 and f'"sha256": "{SHA}"' in capsys.readouterr().out


@pytest.mark.parametrize("uri", ["ftp://host/m.npz", "s3://bucket/m.npz", "file:///"])
def test_unsupported_or_nameless(uri: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError):
        fetch(uri, tmp_path)


@pytest.fixture
def failing_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering every GET with 503, recording each one."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_a_failing_download_is_retried_up_to_4_times(tmp_path: Path, failing_server: tuple[str, list[str]]) -> None:
    """The docs: "retried up to 4 times": one attempt and 4 retries, backing off 1, 2, 4, 8 s between them."""
    url, seen = failing_server
    waits: list[float] = []
    with pytest.raises(FetchError, match="after 5 attempt"):
        fetch(f"{url}/model.npz", tmp_path / "dest", sleep=waits.append)
    assert len(seen) == 5 and waits == [1, 2, 4, 8]  # no wait after the last attempt


@pytest.mark.parametrize("bad", ["abc", "0" * 63, "g" * 64, "0" * 65, " " + "0" * 64])
def test_a_malformed_sha256_is_refused_before_any_download(
    bad: str, tmp_path: Path, failing_server: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, seen = failing_server
    with pytest.raises(FetchError, match="64 hex digits"):
        fetch(f"{url}/model.npz", tmp_path / "dest", sha256=bad)
    code = main(["fetch-model", "--uri", f"{url}/model.npz", "--sha256", bad, "--dest", str(tmp_path / "dest")])
    assert code == 3 and "64 hex digits" in capsys.readouterr().err
    assert seen == [] and not (tmp_path / "dest").exists()  # nothing fetched, nothing created


def test_a_file_created_between_two_looks_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait once asked is_file() (no) then exists() (yes: created in between) and called a model
    a Job had just written "not a regular file"; one stat per look cannot see two states."""
    source = tmp_path / "claim" / "model.npz"
    source.parent.mkdir()
    looks = 0
    real_stat = Path.stat

    def stat_then_create(self: Path, *args: Any, **kwargs: Any) -> Any:
        nonlocal looks
        if self == source:
            looks += 1
            if looks == 1:
                source.write_bytes(PAYLOAD)  # appears right after the first look
                raise FileNotFoundError(source)
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat_then_create)
    said: list[str] = []
    fetch_module._wait_for("pvc://models/model.npz", source, wait=5, poll=0.01, say=said.append)
    assert looks >= 2 and "appeared after" in said[-1]
