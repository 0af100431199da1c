"""Signature checks of model artifacts, against what the real cosign CLI writes.

The tests marked integration sign with cosign built from the Go module proxy
(`modelops_devcluster.cosign`, cached): its three output formats, a wrong key, a tampered
artifact, a missing signature, end to end through `modelops fetch-model`. The unmarked ones
check the parser's refusals on hand-made documents.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modelops.cli.main import main
from modelops.runtime.signature import COSIGN_IMAGE_SIGNATURE, SignatureError, parse, verify, verify_image
from modelops.runtime.storage.oci import SignedPayload
from modelops_devcluster.cosign import Cosign

PAYLOAD = b"model bytes " * 1000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cosign, Cosign]:
    root = tmp_path_factory.mktemp("cosign")
    return Cosign(root / "signer"), Cosign(root / "other")


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "model.npz"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def _fetch(tmp_path: Path, artifact: Path, signature: Path, key: Path, *extra: str) -> tuple[int, Path, Path]:
    dest, log = tmp_path / "dest", tmp_path / "termination-log"
    argv = ["fetch-model", "--uri", f"file://{artifact}", "--dest", str(dest), "--termination-log", str(log)]
    argv += ["--signature-uri", f"file://{signature}", "--public-key", str(key), *extra]
    return main(argv), dest, log


@pytest.mark.integration
@pytest.mark.parametrize("form", ["sign", "bundle", "sigstore_bundle"])
def test_every_cosign_format_verifies_and_names_the_signer(
    form: str, keys: tuple[Cosign, Cosign], artifact: Path, tmp_path: Path
) -> None:
    signer = keys[0]
    signature = getattr(signer, form)(artifact, tmp_path / f"model.{form}")
    # cosign's own verdict agrees (offline, cosign 2.6 verifies a sigstore bundle only with a TUF trusted root)
    assert form == "sigstore_bundle" or signer.verify(artifact, signature, bundle=form == "bundle")
    code, dest, log = _fetch(tmp_path, artifact, signature, signer.public_key, "--sha256", SHA)
    assert code == 0
    assert sorted(p.name for p in dest.iterdir()) == [".provenance", "model.npz"]  # no staging left behind
    report = json.loads(log.read_text())
    assert json.loads((dest / ".provenance").read_text()) == report  # what the server exports in modelops_model_info
    assert report["signer"].startswith("SHA256:") and report["sha256"] == SHA
    if form == "sigstore_bundle":  # the bundle's hint is the same fingerprint
        hint = json.loads(signature.read_text())["verificationMaterial"]["publicKey"]["hint"]
        assert report["signer"] == f"SHA256:{hint}"


@pytest.mark.integration
@pytest.mark.parametrize("form", ["sign", "sigstore_bundle"])
def test_another_key_is_refused_and_nothing_is_placed(
    form: str, keys: tuple[Cosign, Cosign], artifact: Path, tmp_path: Path
) -> None:
    signer, other = keys
    signature = getattr(signer, form)(artifact, tmp_path / "model.sig")
    code, dest, log = _fetch(tmp_path, artifact, signature, other.public_key)
    assert code == 1
    assert list(dest.iterdir()) == []
    assert log.read_text().startswith("SignatureInvalid: ")


@pytest.mark.integration
@pytest.mark.parametrize("form", ["sign", "bundle", "sigstore_bundle"])
def test_a_tampered_artifact_is_refused(form: str, keys: tuple[Cosign, Cosign], artifact: Path, tmp_path: Path) -> None:
    signer = keys[0]
    signature = getattr(signer, form)(artifact, tmp_path / "model.sig")
    artifact.write_bytes(PAYLOAD + b"!")
    assert form == "sigstore_bundle" or not signer.verify(artifact, signature, bundle=form == "bundle")
    code, dest, log = _fetch(tmp_path, artifact, signature, signer.public_key)
    assert code == 1 and list(dest.iterdir()) == []
    assert log.read_text().startswith("SignatureInvalid: ")


@pytest.mark.integration
def test_a_missing_signature_and_a_missing_key_have_their_own_reasons(
    keys: tuple[Cosign, Cosign], artifact: Path, tmp_path: Path
) -> None:
    signer = keys[0]
    code, dest, log = _fetch(tmp_path, artifact, tmp_path / "absent.sig", signer.public_key)
    assert code == 1 and list(dest.iterdir()) == []
    assert log.read_text().startswith("SignatureMissing: no signature for ")
    signature = signer.sign(artifact, tmp_path / "model.sig")
    code, dest, log = _fetch(tmp_path, artifact, signature, tmp_path / "absent.pub")
    assert code == 1 and log.read_text().startswith("PublicKeyInvalid: ")
    assert not dest.exists() or list(dest.iterdir()) == []


# ---- the parser's refusals, without cosign ------------------------------------------------------


def test_a_keyless_sigstore_bundle_is_refused_as_needing_the_network() -> None:
    doc = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": "AAAA"}, "tlogEntries": []},
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": "AAAA"}, "signature": "AAAA"},
    }
    with pytest.raises(SignatureError, match="keyless") as caught:
        parse(json.dumps(doc).encode())
    assert caught.value.reason == "SignatureInvalid"


def test_a_keyless_cosign_bundle_and_an_attestation_are_refused() -> None:
    with pytest.raises(SignatureError, match="keyless"):
        parse(json.dumps({"base64Signature": "AAAA", "cert": "x"}).encode())
    dsse = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {}}}
    with pytest.raises(SignatureError, match="DSSE"):
        parse(json.dumps({**dsse, "dsseEnvelope": {}}).encode())


def test_empty_garbage_and_wrong_json_say_what_they_are() -> None:
    with pytest.raises(SignatureError, match="empty") as caught:
        parse(b"  \n")
    assert caught.value.reason == "SignatureMissing"
    with pytest.raises(SignatureError, match="not base64"):
        parse(b"not a signature!")
    with pytest.raises(SignatureError, match="neither a cosign nor a sigstore bundle"):
        parse(b'{"signature": "AAAA"}')


def test_a_key_that_is_not_an_ecdsa_pem_is_refused_with_its_reason() -> None:
    signature = parse(base64.b64encode(b"0" * 70))
    with pytest.raises(SignatureError, match="not a PEM public key") as caught:
        verify(SHA, signature, b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert caught.value.reason == "PublicKeyInvalid"


# ---- cosign's registry signatures (simple-signing payloads), hand-made ----------------------------


def _key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, pem


def _payload(private: ec.EllipticCurvePrivateKey, digest: str, kind: str = COSIGN_IMAGE_SIGNATURE) -> SignedPayload:
    critical = {"identity": {"docker-reference": "r/m"}, "image": {"docker-manifest-digest": digest}, "type": kind}
    body = json.dumps({"critical": critical, "optional": None}).encode()
    return SignedPayload(body, base64.b64encode(private.sign(body, ec.ECDSA(hashes.SHA256()))).decode())


DIGEST = "sha256:" + "c" * 64


def test_a_payload_signed_by_the_key_naming_the_manifest_verifies() -> None:
    private, pem = _key()
    stranger, _ = _key()
    signed = [_payload(stranger, DIGEST), _payload(private, DIGEST)]  # one of several is enough
    verified = verify_image(DIGEST, signed, pem)
    assert verified.format == "cosign-image-signature" and verified.signer.startswith("SHA256:")


def test_image_signatures_that_do_not_vouch_for_this_manifest_say_why() -> None:
    private, pem = _key()
    cases = [
        ([_payload(private, "sha256:" + "d" * 64)], "signs sha256:dddd"),
        ([_payload(private, DIGEST, kind="something else")], "not 'cosign container image signature'"),
        ([SignedPayload(b"{}", "not base64!")], "not base64"),
        ([_payload(_key()[0], DIGEST)], "not signed by this key"),
    ]
    for signed, why in cases:
        with pytest.raises(SignatureError, match=why) as caught:
            verify_image(DIGEST, signed, pem)
        assert caught.value.reason == "SignatureInvalid"
    with pytest.raises(SignatureError, match="holds no signed payload") as missing:
        verify_image(DIGEST, [], pem)
    assert missing.value.reason == "SignatureMissing"
