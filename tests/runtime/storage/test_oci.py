"""oci:// against CNCF distribution's registry on loopback, artifacts pushed by the real oras CLI."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.cli.main import main
from modelops.runtime.fetch import fetch
from modelops.runtime.storage import errors
from modelops.runtime.storage.directory import directory_digest
from modelops_devcluster.oci import Oras, RegistryServer
from modelops_devcluster.ports import free_port

pytestmark = pytest.mark.integration  # builds (or finds cached) registry and oras from the Go module proxy

MODEL = b"npz bytes " * 5000
SKLEARN = {"model.joblib": b"joblib bytes" * 100, "feature_names.json": b'["a", "b"]'}
TRITON = {
    "repo/densenet/config.pbtxt": b'name: "densenet"\nplatform: "onnxruntime_onnx"\n',
    "repo/densenet/1/model.onnx": b"onnx bytes" * 300,
    "repo/densenet/labels.txt": b"cat\ndog\n",
}
USERS = {"alice": "s3cret"}


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)


def _tar(members: list[tuple[str, bytes | str]]) -> bytes:
    """A tar.gz; a str body makes a symlink to it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            if isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryServer, dict[str, str]]]:
    """An anonymous registry holding every artifact the tests pull; the manifest digests oras reported."""
    work = tmp_path_factory.mktemp("artifacts")
    with RegistryServer() as registry:
        oras = Oras(registry)
        digests: dict[str, str] = {}
        (work / "file").mkdir()
        (work / "file" / "model.npz").write_bytes(MODEL)
        digests["fraud"] = oras.push("models/fraud:v1", ["model.npz"], cwd=work / "file")
        _write(work / "sk", SKLEARN)
        digests["sk"] = oras.push("models/sk:v2", sorted(SKLEARN), cwd=work / "sk")
        _write(work / "triton", TRITON)
        digests["triton"] = oras.push("models/triton:v1", ["repo"], cwd=work / "triton")  # a directory layer
        # names that would land outside the destination, pushed as users' tools could
        (work / "evil" / "inside").mkdir(parents=True)
        (work / "evil" / "escaped.txt").write_bytes(b"gotcha")
        no_check = ["--disable-path-validation"]
        digests["dotdot"] = oras.push(
            "models/dotdot:v1", ["../escaped.txt"], cwd=work / "evil" / "inside", extra=no_check
        )
        digests["absolute"] = oras.push("models/abs:v1", [str(work / "evil" / "escaped.txt")], cwd=work, extra=no_check)
        bundles: dict[str, list[tuple[str, bytes | str]]] = {
            "symlink": [("bundle/model.npz", MODEL), ("bundle/passwd", "/etc/passwd")],
            "tardotdot": [("bundle/model.npz", MODEL), ("bundle/../../escaped.txt", b"gotcha")],
        }
        for name, members in bundles.items():
            (work / name).mkdir()
            (work / name / "bundle").write_bytes(_tar(members))
            annotations = {"bundle": {"io.deis.oras.content.unpack": "true"}}
            (work / name / "annotations.json").write_text(json.dumps(annotations))
            layer = "bundle:application/vnd.oci.image.layer.v1.tar+gzip"
            extra = ["--annotation-file", "annotations.json"]
            digests[name] = oras.push(f"models/{name}:v1", [layer], cwd=work / name, extra=extra)
        yield registry, digests


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    work = tmp_path_factory.mktemp("private")
    with RegistryServer(users=USERS) as registry:
        (work / "model.npz").write_bytes(MODEL)
        Oras(registry, login=("alice", USERS["alice"])).push("models/fraud:v1", ["model.npz"], cwd=work)
        yield registry


@pytest.fixture(autouse=True)
def _no_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_one_file_by_tag_reports_the_resolved_manifest_digest(
    pushed: tuple[RegistryServer, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry, digests = pushed
    sha = hashlib.sha256(MODEL).hexdigest()
    argv = ["fetch-model", "--uri", f"oci://{registry.address}/models/fraud:v1", "--dest", str(tmp_path / "d")]
    assert main([*argv, "--sha256", sha]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "path": str(tmp_path / "d" / "model.npz"),
        "sha256": sha,
        "bytes": len(MODEL),
        "verified": True,
        "kind": "file",
        "resolved": digests["fraud"],
    }
    assert (tmp_path / "d" / "model.npz").read_bytes() == MODEL


def test_one_file_pinned_by_digest(pushed: tuple[RegistryServer, dict[str, str]], tmp_path: Path) -> None:
    registry, digests = pushed
    fetched = fetch(f"oci://{registry.address}/models/fraud@{digests['fraud']}", tmp_path / "d")
    assert fetched.resolved == digests["fraud"] and fetched.path.read_bytes() == MODEL
    tagged_and_pinned = fetch(f"oci://{registry.address}/models/fraud:v1@{digests['fraud']}", tmp_path / "e")
    assert tagged_and_pinned.resolved == digests["fraud"]


def test_an_sklearn_model_with_side_files(pushed: tuple[RegistryServer, dict[str, str]], tmp_path: Path) -> None:
    registry, digests = pushed
    fetched = fetch(f"oci://{registry.address}/models/sk:v2", tmp_path / "d")
    assert fetched.kind == "directory" and fetched.path == tmp_path / "d" / "sk"
    assert {p.name: p.read_bytes() for p in fetched.path.iterdir()} == SKLEARN
    lines = sorted((name, hashlib.sha256(body).hexdigest()) for name, body in SKLEARN.items())
    expected = hashlib.sha256(b"".join(f"{p}\0{h}\n".encode() for p, h in lines)).hexdigest()
    assert fetched.sha256 == expected and fetched.resolved == digests["sk"]


def test_a_triton_repository_pushed_as_a_directory(
    pushed: tuple[RegistryServer, dict[str, str]], tmp_path: Path
) -> None:
    registry, _ = pushed
    uri = f"oci://{registry.address}/models/triton:v1"
    first = fetch(uri, tmp_path / "a")
    assert (first.path / "repo" / "densenet" / "1" / "model.onnx").read_bytes() == TRITON["repo/densenet/1/model.onnx"]
    assert first.sha256 == directory_digest(first.path)
    again = fetch(uri, tmp_path / "b", sha256=first.sha256)
    assert again.verified and again.sha256 == first.sha256
    with pytest.raises(errors.DigestMismatch, match="directory digest mismatch"):
        fetch(uri, tmp_path / "c", sha256="0" * 64)
    assert _leftovers(tmp_path / "c") == []


def test_a_file_digest_mismatch_leaves_nothing(pushed: tuple[RegistryServer, dict[str, str]], tmp_path: Path) -> None:
    registry, _ = pushed
    uri = f"oci://{registry.address}/models/fraud:v1"
    code = main(["fetch-model", "--uri", uri, "--dest", str(tmp_path / "d"), "--sha256", "1" * 64])
    assert code == 2 and _leftovers(tmp_path / "d") == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("models/fraud:v9", errors.NotFound),
        ("models/nothing:v1", errors.NotFound),
        (f"models/fraud@sha256:{'0' * 64}", errors.NotFound),
        ("models/dotdot:v1", errors.PathEscapes),
        ("models/abs:v1", errors.PathEscapes),
        ("models/symlink:v1", errors.PathEscapes),
        ("models/tardotdot:v1", errors.PathEscapes),
    ],
)
def test_bad_artifacts(
    pushed: tuple[RegistryServer, dict[str, str]], tmp_path: Path, path: str, reason: type[errors.FetchError]
) -> None:
    registry, _ = pushed
    with pytest.raises(errors.FetchError) as raised:
        fetch(f"oci://{registry.address}/{path}", tmp_path / "d")
    assert type(raised.value) is reason, raised.value
    assert _leftovers(tmp_path / "d") == []
    assert not (tmp_path / "escaped.txt").exists()


def _docker_config(tmp_path: Path, registry: RegistryServer, user: str, password: str) -> None:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (tmp_path / "docker").mkdir(exist_ok=True)
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {registry.address: {"auth": auth}}}))


def test_credentials_from_a_docker_config(private: RegistryServer, tmp_path: Path) -> None:
    _docker_config(tmp_path, private, "alice", USERS["alice"])
    fetched = fetch(f"oci://{private.address}/models/fraud:v1", tmp_path / "d")
    assert fetched.path.read_bytes() == MODEL


@pytest.mark.parametrize(("login", "reason"), [(None, errors.AccessDenied), ("wrong", errors.BadCredentials)])
def test_refused_credentials(
    private: RegistryServer, tmp_path: Path, login: str | None, reason: type[errors.FetchError]
) -> None:
    if login is not None:
        _docker_config(tmp_path, private, "alice", login)
    with pytest.raises(errors.FetchError) as raised:
        fetch(f"oci://{private.address}/models/fraud:v1", tmp_path / "d")
    assert type(raised.value) is reason, raised.value
    assert _leftovers(tmp_path / "d") == []


def test_an_unreachable_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"oci://127.0.0.1:{free_port()}/models/fraud:v1"
    with pytest.raises(errors.StoreUnreachable, match="failed after 2 attempt"):
        fetch(uri, tmp_path / "d", retries=1, sleep=lambda _s: None)
    assert _leftovers(tmp_path / "d") == []
