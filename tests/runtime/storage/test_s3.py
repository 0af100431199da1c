"""s3:// against moto's standalone S3 server on loopback: real HTTP, SigV4 checked against IAM users."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.cli.main import main
from modelops.runtime.fetch import fetch
from modelops.runtime.storage import errors
from modelops.runtime.storage.directory import directory_digest
from tests.runtime.storage.moto_s3 import S3Server, aws_env, free_port, moto_s3

boto3 = pytest.importorskip("boto3")

MODEL = b"npz bytes " * 5000
SKLEARN = {"sk/v2/model.joblib": b"joblib bytes" * 100, "sk/v2/feature_names.json": b'["a", "b"]'}
TRITON = {
    "triton/repo/densenet/config.pbtxt": b'name: "densenet"\nplatform: "onnxruntime_onnx"\n',
    "triton/repo/densenet/1/model.onnx": b"onnx bytes" * 300,
    "triton/repo/densenet/labels.txt": b"cat\ndog\n",
}
EVIL = {"evil/ok.txt": b"fine", "evil/../../escaped.txt": b"gotcha"}


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    objects = {"fraud/v1/model.npz": MODEL, **SKLEARN, **TRITON, **EVIL, "marker/": b""}
    with moto_s3(tmp_path_factory.mktemp("moto"), {"models": objects}) as server:
        yield server


@pytest.fixture
def as_reader(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in aws_env(tmp_path, s3_server.endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.reader[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.reader[1])
    return s3_server


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_one_object_with_its_sha256(as_reader: S3Server, tmp_path: Path) -> None:
    sha = hashlib.sha256(MODEL).hexdigest()
    fetched = fetch("s3://models/fraud/v1/model.npz", tmp_path / "dest", sha256=sha)
    assert fetched.path == tmp_path / "dest" / "model.npz" and fetched.path.read_bytes() == MODEL
    assert fetched.verified and fetched.kind == "file" and fetched.sha256 == sha


def test_an_sklearn_model_with_side_files_is_a_directory(as_reader: S3Server, tmp_path: Path) -> None:
    fetched = fetch("s3://models/sk/v2/", tmp_path / "dest")
    assert fetched.kind == "directory" and fetched.path == tmp_path / "dest" / "v2"
    assert {p.name: p.read_bytes() for p in fetched.path.iterdir()} == {
        k.rsplit("/", 1)[1]: v for k, v in SKLEARN.items()
    }
    # the documented definition, computed independently
    lines = sorted((k.removeprefix("sk/v2/"), hashlib.sha256(v).hexdigest()) for k, v in SKLEARN.items())
    expected = hashlib.sha256(b"".join(f"{p}\0{h}\n".encode() for p, h in lines)).hexdigest()
    assert fetched.sha256 == expected == directory_digest(fetched.path)
    assert _leftovers(tmp_path / "dest") == ["v2"]


def test_a_triton_model_repository_verified_by_its_directory_digest(
    as_reader: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = fetch("s3://models/triton/repo/", tmp_path / "a")
    assert (first.path / "densenet" / "1" / "model.onnx").read_bytes() == TRITON["triton/repo/densenet/1/model.onnx"]
    argv = ["fetch-model", "--uri", "s3://models/triton/repo/", "--dest", str(tmp_path / "b"), "--sha256", first.sha256]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sha256"] == first.sha256 and report["verified"] and report["kind"] == "directory"


def test_a_directory_digest_mismatch_leaves_nothing(as_reader: S3Server, tmp_path: Path) -> None:
    with pytest.raises(errors.DigestMismatch, match="directory digest mismatch"):
        fetch("s3://models/triton/repo/", tmp_path / "dest", sha256="0" * 64)
    assert _leftovers(tmp_path / "dest") == []


def test_an_object_digest_mismatch_leaves_nothing(as_reader: S3Server, tmp_path: Path) -> None:
    with pytest.raises(errors.DigestMismatch):
        fetch("s3://models/fraud/v1/model.npz", tmp_path / "dest", sha256="1" * 64)
    assert _leftovers(tmp_path / "dest") == []


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("s3://models/fraud/v9/model.npz", errors.NotFound),
        ("s3://models/fraud/v9/", errors.NotFound),
        ("s3://no-such-bucket/model.npz", errors.NotFound),
        ("s3://models/evil/", errors.PathEscapes),
    ],
)
def test_bad_keys(as_reader: S3Server, tmp_path: Path, uri: str, reason: type[errors.FetchError]) -> None:
    with pytest.raises(reason) as raised:
        fetch(uri, tmp_path / "dest")
    assert raised.value.reason == reason.reason
    assert _leftovers(tmp_path / "dest") == []


@pytest.mark.parametrize(
    ("who", "reason"),
    [("wrong-secret", errors.BadCredentials), ("unknown-key", errors.BadCredentials), ("nobody", errors.AccessDenied)],
)
def test_credentials(
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    reason: type[errors.FetchError],
) -> None:
    for name, value in aws_env(tmp_path, s3_server.endpoint).items():
        monkeypatch.setenv(name, value)
    key, secret = {
        "wrong-secret": (s3_server.reader[0], "not-the-secret"),
        "unknown-key": ("AKIAUNKNOWNUNKNOWN00", s3_server.reader[1]),
        "nobody": s3_server.nobody,
    }[who]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with pytest.raises(errors.FetchError) as raised:
        fetch("s3://models/fraud/v1/model.npz", tmp_path / "dest")
    assert type(raised.value) is reason, raised.value
    assert _leftovers(tmp_path / "dest") == []


def test_no_credentials_is_an_anonymous_request_and_denied(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws_env(tmp_path, s3_server.endpoint).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(errors.AccessDenied, match="anonymous"):
        fetch("s3://models/fraud/v1/model.npz", tmp_path / "dest")


def test_an_unreachable_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in aws_env(tmp_path, f"http://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    started = time.monotonic()
    with pytest.raises(errors.StoreUnreachable, match=r"s3://models/m\.npz: cannot connect"):
        fetch("s3://models/m.npz", tmp_path / "dest", timeout=2, retries=1)
    assert time.monotonic() - started < 30 and _leftovers(tmp_path / "dest") == []


def test_attempts_counts_the_first_request_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch's retries=4 means 5 attempts in all, as for http(s) (botocore's max_attempts made 6)."""
    from modelops.runtime.storage import s3

    for name, value in aws_env(tmp_path, f"http://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    sent: list[float] = []
    made = s3.client

    def counted(**kwargs: object) -> tuple[object, bool]:
        client, signed = made(**kwargs)  # type: ignore[arg-type]
        client.meta.events.register("before-send.s3", lambda **_: sent.append(time.monotonic()))
        return client, signed

    monkeypatch.setattr(s3, "client", counted)
    with pytest.raises(errors.StoreUnreachable):
        fetch("s3://models/m.npz", tmp_path / "dest", timeout=2)
    assert len(sent) == 5
