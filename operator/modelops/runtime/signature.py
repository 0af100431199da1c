"""Verify a cosign key-based signature of a model artifact before anything loads it.

`cosign sign-blob --key cosign.key` signs the blob with ECDSA over its SHA-256 and writes one
of three things, all accepted here (the format is read from the content):

- the signature alone (`--output-signature`): base64 of the DER signature;
- a cosign bundle (`--bundle`): JSON with `base64Signature` (and, keyless, a certificate and a
  Rekor entry, which need Fulcio and Rekor: refused, this is offline and key-based);
- a sigstore bundle (`--new-bundle-format --bundle`, mediaType
  `application/vnd.dev.sigstore.bundle...`): `messageSignature` with the blob's SHA-256 and the
  signature, and `verificationMaterial.publicKey.hint`, the key's fingerprint. A bundle carrying
  a certificate or a transparency-log entry instead is refused for the same reason.

What is signed is the artifact's SHA-256 digest as the fetch computed it while copying (ECDSA
verifies the pre-hashed digest, so the artifact is never read twice). For a single file that is
the file's own digest, exactly what `cosign sign-blob FILE` signs. For a directory artifact it
is the directory digest, the SHA-256 of its digest manifest: `modelops digest DIR --manifest F`
writes that file and `cosign sign-blob F` signs the directory (docs/model-server.md).

An `oci://` artifact is signed where cosign users sign things in a registry: `cosign sign --key
cosign.key REGISTRY/REPO@sha256:...` stores a simple-signing payload naming the manifest digest,
and its signature, under the tag `sha256-<hex>.sig`. With no signature URI that is what is
verified: a payload signed by the key, of type "cosign container image signature", naming the
manifest digest the reference resolved to (so a signature copied to another artifact fails).

The signer's identity is the key's fingerprint, `SHA256:` and the base64 SHA-256 of its DER
SubjectPublicKeyInfo (the sigstore bundle's `hint`), recorded as the version's provenance.

Each failure carries a machine `reason` for the init container's termination message.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from modelops.runtime.fetch import Fetched, FetchError, fetch
from modelops.runtime.storage import oci
from modelops.runtime.storage.directory import replace
from modelops.runtime.storage.errors import InvalidSource, NotFound

SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle"
PROVENANCE_FILE = ".provenance"  # fetch-model's report beside the artifact (no model suffix: never loaded)
MAX_SIGNATURE_BYTES = 1 << 20  # a signature or bundle is a few hundred bytes; refuse to parse a model by mistake
COSIGN_IMAGE_SIGNATURE = "cosign container image signature"  # the simple-signing payload's critical.type


class SignatureError(FetchError):
    """The artifact's signature could not be verified; `reason` says how, for the pod's status."""

    reason = "SignatureInvalid"


class SignatureMissing(SignatureError):
    """No signature where one must be (or the options to find it are incomplete)."""

    reason = "SignatureMissing"


class PublicKeyInvalid(SignatureError):
    """The public key to verify with is missing or not a PEM ECDSA key."""

    reason = "PublicKeyInvalid"


def missing(message: str) -> SignatureError:
    return SignatureMissing(message)


def key_invalid(message: str) -> SignatureError:
    return PublicKeyInvalid(message)


@dataclass(frozen=True)
class Signature:
    """A signature as read from a file: its DER bytes, and what a sigstore bundle adds."""

    der: bytes
    format: str  # signature | cosign-bundle | sigstore-bundle
    digest: bytes | None = None  # the bundle's messageDigest (sha256), checked against the artifact's
    hint: str | None = None  # the bundle's key fingerprint (base64 sha256 of the key's DER)


@dataclass(frozen=True)
class Verified:
    signer: str  # "SHA256:<base64>" fingerprint of the public key
    format: str


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """A PEM ECDSA public key (cosign's `cosign.pub`); PublicKeyInvalid otherwise."""
    try:
        key = serialization.load_pem_public_key(pem.strip() + b"\n")
    except (ValueError, TypeError) as error:
        raise key_invalid(f"the public key is not a PEM public key: {error}") from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise key_invalid(f"the public key is {type(key).__name__}; cosign key pairs are ECDSA (P-256)")
    return key


def _raw_fingerprint(key: ec.EllipticCurvePublicKey) -> bytes:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """`SHA256:` + the base64 SHA-256 of the key's DER (what a sigstore bundle's hint holds)."""
    return "SHA256:" + base64.b64encode(_raw_fingerprint(key)).decode()


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise SignatureError(f"{what} is missing or not a string")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureError(f"{what} is not base64: {error}") from error


def _sigstore(doc: dict[str, Any]) -> Signature:
    material = doc.get("verificationMaterial") or {}
    if "publicKey" not in material:
        held = ", ".join(sorted(material)) or "nothing"
        raise SignatureError(
            f"the sigstore bundle's verification material is {held}, not a public key: keyless "
            "(Fulcio/Rekor) bundles need the network; sign with --key"
        )
    message = doc.get("messageSignature")
    if not isinstance(message, dict):
        raise SignatureError("the sigstore bundle has no messageSignature (a DSSE attestation is not a blob signature)")
    digest = message.get("messageDigest") or {}
    if digest.get("algorithm") != "SHA2_256":
        raise SignatureError(f"the sigstore bundle's digest algorithm is {digest.get('algorithm')!r}, not SHA2_256")
    hint = (material.get("publicKey") or {}).get("hint")
    return Signature(
        _b64(message.get("signature"), "the bundle's signature"),
        "sigstore-bundle",
        digest=_b64(digest.get("digest"), "the bundle's message digest"),
        hint=hint if isinstance(hint, str) else None,
    )


def parse(content: bytes) -> Signature:
    """The signature in `content`: raw base64, a cosign bundle or a sigstore bundle."""
    if len(content) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"the signature file is {len(content)} bytes: not a signature or bundle")
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        raise missing("the signature file is empty")
    if not text.startswith("{"):
        return Signature(_b64(text, "the signature"), "signature")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise SignatureError(f"the signature file looks like JSON but does not parse: {error}") from error
    if not isinstance(doc, dict):
        raise SignatureError("the signature file is JSON but not an object")
    if str(doc.get("mediaType", "")).startswith(SIGSTORE_BUNDLE):
        return _sigstore(doc)
    if "base64Signature" in doc:
        if doc.get("cert") or doc.get("rekorBundle"):
            raise SignatureError("the cosign bundle is keyless (certificate, Rekor entry): sign with --key")
        return Signature(_b64(doc["base64Signature"], "the bundle's base64Signature"), "cosign-bundle")
    raise SignatureError("the signature file is JSON but neither a cosign nor a sigstore bundle")


def verify(sha256_hex: str, signature: Signature, public_key_pem: bytes) -> Verified:
    """Check `signature` of the artifact whose SHA-256 is `sha256_hex` with the PEM key; raise SignatureError."""
    key = load_public_key(public_key_pem)
    digest = bytes.fromhex(sha256_hex)
    if signature.digest is not None and not hmac.compare_digest(signature.digest, digest):
        raise SignatureError(
            f"the bundle signs sha256 {signature.digest.hex()}, the artifact is {sha256_hex}: it is another artifact's"
        )
    if signature.hint is not None:
        try:
            hint = base64.b64decode(signature.hint, validate=True)
        except (binascii.Error, ValueError):
            hint = b""
        if hint and not hmac.compare_digest(hint, _raw_fingerprint(key)):
            raise SignatureError(
                f"the bundle was signed with key SHA256:{signature.hint}, the configured key is {fingerprint(key)}"
            )
    try:
        key.verify(signature.der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature as error:
        raise SignatureError(
            f"signature ({signature.format}) does not verify with key {fingerprint(key)} for sha256 {sha256_hex}: "
            "the artifact was changed or signed with another key"
        ) from error
    return Verified(fingerprint(key), signature.format)


def _payload_digest(payload: bytes) -> str:
    """The manifest digest a simple-signing payload names; SignatureError when it is not cosign's."""
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        kind, digest = critical["type"], critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError) as error:
        raise SignatureError("the signed payload is not a cosign simple-signing payload") from error
    if kind != COSIGN_IMAGE_SIGNATURE or not isinstance(digest, str):
        raise SignatureError(f"the signed payload's type is {kind!r}, not {COSIGN_IMAGE_SIGNATURE!r}")
    return digest


def verify_image(digest: str, signed: list[oci.SignedPayload], public_key_pem: bytes) -> Verified:
    """Accept manifest `digest` if one of `cosign sign`'s payloads is signed by the key and names it."""
    key = load_public_key(public_key_pem)
    if not signed:
        raise missing(f"the cosign signature manifest of {digest} holds no signed payload")
    why: list[str] = []
    for item in signed:
        try:
            der = _b64(item.signature, "the signature annotation")
            key.verify(der, item.payload, ec.ECDSA(hashes.SHA256()))
            named = _payload_digest(item.payload)
        except InvalidSignature:
            why.append("not signed by this key")
            continue
        except SignatureError as error:
            why.append(str(error))
            continue
        if hmac.compare_digest(named, digest):
            return Verified(fingerprint(key), "cosign-image-signature")
        why.append(f"signs {named}, another artifact")
    raise SignatureError(
        f"none of the {len(signed)} cosign signature(s) stored for {digest} verifies with key "
        f"{fingerprint(key)}: {'; '.join(why)}"
    )


def read_public_key(path: Path) -> bytes:
    """The mounted key file's bytes; PublicKeyInvalid when it is absent or empty."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise key_invalid(f"cannot read the public key {path}: {error.strerror or error}") from error
    if not pem.strip():
        raise key_invalid(f"the public key {path} is empty")
    return pem


def _registry_signature(uri: str, fetched: Fetched, pem: bytes, options: dict[str, Any]) -> Verified:
    """Verify what `cosign sign` stored in the registry for the manifest `uri` resolved to."""
    digest = fetched.resolved
    if digest is None:  # oci.fetch always resolves; a guard, not a path
        raise missing(f"{uri}: no manifest digest to look a cosign signature up by")
    try:
        signed = oci.cosign_signatures(uri, digest, timeout=float(options.get("timeout") or 60.0))
    except NotFound as error:
        raise missing(
            f"{uri} is {digest}, which has no cosign signature in its registry (no tag {oci.cosign_tag(digest)}): "
            f"sign it with `cosign sign --key cosign.key REGISTRY/REPOSITORY@{digest}`"
        ) from error
    return verify_image(digest, signed, pem)


def fetch_signed(
    uri: str,
    dest: Path,
    *,
    signature_uri: str | None,
    public_key: Path,
    **options: Any,
) -> tuple[Fetched, Verified]:
    """Fetch the artifact and its signature into hidden staging directories under `dest`, verify, and
    only then move the artifact into `dest`: a server never sees an unverified file.

    `signature_uri` None: the signature `cosign sign` stored in the artifact's registry (oci:// only).
    `options` are `fetch`'s (sha256, pvc_root, claim_dir, timeout, wait, ...); the signature is
    fetched the same way, without the artifact's sha256. Nothing of either stays behind on failure.
    """
    if signature_uri is None and not uri.startswith("oci://"):
        raise missing(f"{uri}: a signature URI is needed (only an oci:// artifact carries its signature)")
    if signature_uri is not None and uri.endswith("/") and signature_uri.startswith(uri):
        raise InvalidSource(
            f"the signature {signature_uri} is inside the directory artifact {uri}: it would change the "
            "directory's digest; keep it beside the prefix (the default is the prefix + .sig)"
        )
    pem = read_public_key(public_key)  # a missing key fails before anything is downloaded
    load_public_key(pem)
    staging, signatures = dest / ".unverified", dest / ".signature"
    try:
        fetched = fetch(uri, staging, **options)
        if signature_uri is None:
            verified = _registry_signature(uri, fetched, pem, options)
        else:
            try:
                sig = fetch(signature_uri, signatures, **{**options, "sha256": None})
            except FetchError as error:
                raise missing(f"no signature for {uri} at {signature_uri}: {error}") from error
            verified = verify(fetched.sha256, parse(sig.path.read_bytes()), pem)
        final = replace(fetched.path, dest / fetched.path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(signatures, ignore_errors=True)
    return dataclasses.replace(fetched, path=final), verified  # kind and resolved kept
