"""Signed directory artifacts, as users sign them with the real cosign CLI, verified by fetch-model.

- An s3:// prefix: `modelops digest DIR --manifest F`, then `cosign sign-blob F` signs the
  directory; the signature lives beside the prefix (`PREFIX.sig`), and fetch-model checks it
  against the directory digest of what it downloaded (moto's S3 server on loopback).
- An oci:// artifact: `cosign sign --key` stores the signature in the registry beside the
  artifact (tag `sha256-<hex>.sig`); fetch-model finds and checks it with no signature URI (CNCF
  distribution's registry on loopback, artifacts pushed with the real oras CLI).

Every refusal leaves nothing in the destination and says why in the termination message.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelops.cli.main import main
from modelops.runtime.storage.directory import directory_digest
from modelops.runtime.storage.oci import cosign_tag
from modelops_devcluster.cosign import Cosign
from modelops_devcluster.oci import Oras, RegistryServer
from tests.runtime.storage.moto_s3 import S3Server, aws_env, moto_s3

pytestmark = pytest.mark.integration  # cosign, the registry and oras are built from the Go module proxy (cached)

SKLEARN = {"model.joblib": b"joblib bytes" * 100, "feature_names.json": b'["a", "b"]', "docs/README.md": b"v2\n"}


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cosign, Cosign]:
    root = tmp_path_factory.mktemp("cosign")
    return Cosign(root / "signer"), Cosign(root / "other")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("model") / "v2", SKLEARN)


def _digest_cli(directory: Path, manifest: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["digest", str(directory), "--manifest", str(manifest)]) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture(scope="module")
def signed_prefix(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[Cosign, Cosign], model_dir: Path
) -> Iterator[tuple[S3Server, str, Path, Path]]:
    """Bucket `models`: sk/v2/ signed by the trusted key (sk/v2.sig), tampered/v2/ (one file changed
    after signing, carrying sk/v2's signature), other/v2/ signed by another key, unsigned/v2/."""
    work = tmp_path_factory.mktemp("signing")
    manifest = work / "v2.manifest"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("modelops")), "digest", str(model_dir), "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    digest = done.stdout.strip()
    signature = keys[0].sign(manifest, work / "v2.sig")
    other = keys[1].sign(manifest, work / "other.sig")
    objects: dict[str, bytes] = {}
    for prefix in ("sk/v2", "tampered/v2", "other/v2", "unsigned/v2"):
        objects.update({f"{prefix}/{name}": body for name, body in SKLEARN.items()})
    objects["tampered/v2/model.joblib"] = b"joblib bytes, changed after signing" * 100
    objects["sk/v2.sig"] = objects["tampered/v2.sig"] = signature.read_bytes()
    objects["other/v2.sig"] = other.read_bytes()
    with moto_s3(tmp_path_factory.mktemp("moto"), {"models": objects}) as server:
        yield server, digest, manifest, signature


@pytest.fixture
def as_reader(signed_prefix: tuple[S3Server, str, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = signed_prefix[0]
    for name, value in aws_env(tmp_path, server.endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.reader[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.reader[1])


def _fetch(tmp_path: Path, uri: str, key: Path, *extra: str) -> tuple[int, Path, str]:
    dest, log = tmp_path / "dest", tmp_path / "termination-log"
    argv = ["fetch-model", "--uri", uri, "--dest", str(dest), "--termination-log", str(log), "--public-key", str(key)]
    code = main([*argv, *extra])
    return code, dest, log.read_text() if log.exists() else ""


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_the_digest_command_and_its_manifest(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m"
    digest = _digest_cli(model_dir, manifest, capsys)
    assert digest == directory_digest(model_dir) == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert manifest.read_bytes().split(b"\n")[0].startswith(b"docs/README.md\0")  # sorted by path, NUL, sha256
    assert main(["digest", str(model_dir / "model.joblib")]) == 0
    assert capsys.readouterr().out.strip() == hashlib.sha256(SKLEARN["model.joblib"]).hexdigest()
    assert main(["digest", str(model_dir / "model.joblib"), "--manifest", str(tmp_path / "x")]) == 3
    assert "a manifest is for a directory" in capsys.readouterr().err
    assert main(["digest", str(model_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    size = sum(map(len, SKLEARN.values()))
    assert report == {"path": str(model_dir), "kind": "directory", "sha256": digest, "files": 3, "bytes": size}


def test_a_signed_s3_prefix_is_verified_against_the_directory_it_placed(
    as_reader: None, signed_prefix: tuple[S3Server, str, Path, Path], keys: tuple[Cosign, Cosign], tmp_path: Path
) -> None:
    _, digest, manifest, signature = signed_prefix
    assert keys[0].verify(manifest, signature)  # cosign's own verdict on the manifest it signed
    code, dest, log = _fetch(
        tmp_path,
        "s3://models/sk/v2/",
        keys[0].public_key,
        "--signature-uri",
        "s3://models/sk/v2.sig",
        "--sha256",
        digest,
    )
    assert code == 0, log
    report = json.loads(log)
    assert report["kind"] == "directory" and report["sha256"] == digest and report["signatureFormat"] == "signature"
    assert report["signer"].startswith("SHA256:")
    assert _leftovers(dest) == [".provenance", "v2"]
    assert directory_digest(dest / "v2") == digest


def test_a_prefix_changed_after_signing_is_refused_and_nothing_is_placed(
    as_reader: None, keys: tuple[Cosign, Cosign], tmp_path: Path
) -> None:
    uri = "s3://models/tampered/v2/"
    code, dest, log = _fetch(tmp_path, uri, keys[0].public_key, "--signature-uri", "s3://models/tampered/v2.sig")
    assert code == 1
    assert log.startswith("SignatureInvalid: ") and "the artifact was changed or signed with another key" in log
    assert _leftovers(dest) == []


def test_a_prefix_signed_by_another_key_and_an_unsigned_one(
    as_reader: None, keys: tuple[Cosign, Cosign], tmp_path: Path
) -> None:
    code, dest, log = _fetch(
        tmp_path, "s3://models/other/v2/", keys[0].public_key, "--signature-uri", "s3://models/other/v2.sig"
    )
    assert code == 1 and log.startswith("SignatureInvalid: ") and _leftovers(dest) == []
    code, dest, log = _fetch(
        tmp_path / "2", "s3://models/unsigned/v2/", keys[0].public_key, "--signature-uri", "s3://models/unsigned/v2.sig"
    )
    assert (
        code == 1
        and log.startswith("SignatureMissing: no signature for s3://models/unsigned/v2/")
        and not _leftovers(dest)
    )


def test_a_signature_inside_the_prefix_is_refused_before_anything_is_fetched(
    as_reader: None, keys: tuple[Cosign, Cosign], tmp_path: Path
) -> None:
    code, dest, log = _fetch(
        tmp_path, "s3://models/sk/v2/", keys[0].public_key, "--signature-uri", "s3://models/sk/v2/x.sig"
    )
    assert code == 3 and log.startswith("InvalidSource: the signature s3://models/sk/v2/x.sig is inside")
    assert _leftovers(dest) == []


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[Cosign, Cosign], model_dir: Path
) -> Iterator[tuple[RegistryServer, dict[str, str]]]:
    """models/sk:v2 signed by the trusted key, models/sk:v3 carrying a copy of v2's signature,
    models/other:v1 signed by another key, models/unsigned:v1."""
    work = tmp_path_factory.mktemp("oci")
    with RegistryServer() as server:
        oras = Oras(server)
        names = sorted(SKLEARN)
        digests = {"sk": oras.push("models/sk:v2", names, cwd=model_dir)}
        digests["other"] = oras.push("models/other:v1", names, cwd=model_dir)
        digests["unsigned"] = oras.push("models/unsigned:v1", names, cwd=model_dir)
        _write(work / "v3", {**SKLEARN, "model.joblib": b"another model" * 100})
        digests["v3"] = oras.push("models/sk:v3", names, cwd=work / "v3")
        keys[0].sign_artifact(f"{server.address}/models/sk@{digests['sk']}")
        keys[1].sign_artifact(f"{server.address}/models/other@{digests['other']}")
        # a valid signature, of another artifact, put where v3's would be
        base = f"http://{server.address}/v2/models/sk/manifests"
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        copied = httpx.get(f"{base}/{cosign_tag(digests['sk'])}", headers=accept, timeout=10)
        copied.raise_for_status()
        put = httpx.put(
            f"{base}/{cosign_tag(digests['v3'])}",
            content=copied.content,
            headers={"Content-Type": copied.headers["content-type"]},
            timeout=10,
        )
        put.raise_for_status()
        yield server, digests


def test_an_oci_artifact_signed_with_cosign_sign_is_verified_in_the_registry(
    registry: tuple[RegistryServer, dict[str, str]], keys: tuple[Cosign, Cosign], tmp_path: Path
) -> None:
    server, digests = registry
    assert keys[0].verify_artifact(f"{server.address}/models/sk@{digests['sk']}")  # cosign's own verdict agrees
    code, dest, log = _fetch(tmp_path, f"oci://{server.address}/models/sk:v2", keys[0].public_key)
    assert code == 0, log
    report = json.loads(log)
    assert report["signatureFormat"] == "cosign-image-signature" and report["resolved"] == digests["sk"]
    assert report["kind"] == "directory" and report["signer"].startswith("SHA256:")
    assert _leftovers(dest) == [".provenance", "sk"]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("models/other:v1", "SignatureInvalid: none of the 1 cosign signature(s) stored for sha256:"),
        ("models/sk:v3", "SignatureInvalid: none of the 1 cosign signature(s) stored for sha256:"),
        ("models/unsigned:v1", "SignatureMissing: oci://"),
    ],
)
def test_oci_artifacts_another_key_signed_or_that_nobody_signed_are_refused(
    registry: tuple[RegistryServer, dict[str, str]],
    keys: tuple[Cosign, Cosign],
    tmp_path: Path,
    reference: str,
    expected: str,
) -> None:
    server, digests = registry
    code, dest, log = _fetch(tmp_path, f"oci://{server.address}/{reference}", keys[0].public_key)
    assert code == 1 and log.startswith(expected), log
    assert _leftovers(dest) == []
    if reference == "models/sk:v3":  # the copied signature is cosign's, valid, but of v2
        assert f"signs {digests['sk']}, another artifact" in log
    if reference == "models/other:v1":
        assert "not signed by this key" in log
    if reference == "models/unsigned:v1":
        assert f"is {digests['unsigned']}, which has no cosign signature in its registry" in log
        assert f"cosign sign --key cosign.key REGISTRY/REPOSITORY@{digests['unsigned']}" in log
