from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.cli.main import main
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


def test_http_uri(tmp_path: Path, http_root: str) -> None:
    fetched = fetch(f"{http_root}/model.npz", tmp_path / "dest", sha256=SHA)
    assert fetched.path.read_bytes() == PAYLOAD
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{http_root}/missing.npz", tmp_path / "dest", attempts=2)


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
