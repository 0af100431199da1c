"""The real cosign CLI, built from the Go module proxy, to sign test artifacts as users do.

`build()` compiles `cmd/cosign` of github.com/sigstore/cosign/v2 at `versions.COSIGN` with
`gotools.build_module` into the cache (`build.cache_root()/bin/cosign-<version>`), once.
`Cosign(directory)` makes a key pair there (COSIGN_PASSWORD in the environment, so nothing is
asked on a terminal) and signs blobs and registry artifacts offline: `--tlog-upload=false`, no
Rekor, no Fulcio.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from modelops_devcluster import gotools, versions

MODULE = "github.com/sigstore/cosign/v2"
PASSWORD = "modelops-test"  # the test key pair's password: a throwaway key, never a secret


def module(version: str = versions.COSIGN) -> gotools.Module:
    return gotools.Module(
        name="cosign",
        module=MODULE,
        version=version,
        package="./cmd/cosign",
        ldflags=f"-s -w -X sigs.k8s.io/release-utils/version.gitVersion={version}",
    )


def build(version: str = versions.COSIGN, *, timeout: float = 1800.0) -> Path:
    """The cached binary, built first if missing (several minutes on two cores: cosign is large)."""
    return gotools.build_module(module(version), timeout=timeout)


class Cosign:
    """A key pair in `directory` (cosign.key, cosign.pub) and the blob signatures it makes."""

    def __init__(self, directory: Path, binary: Path | None = None) -> None:
        self.directory = directory
        self.binary = binary or build()
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / "cosign.key").exists():
            self._run("generate-key-pair")

    @property
    def public_key(self) -> Path:
        return self.directory / "cosign.pub"

    def _run(self, *args: str, docker_config: Path | None = None) -> str:
        env = {**os.environ, "COSIGN_PASSWORD": PASSWORD}
        if docker_config is not None:  # the registry's credentials, as `docker login` leaves them
            env["DOCKER_CONFIG"] = str(docker_config)
        done = subprocess.run(
            [str(self.binary), *args],
            check=False,
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise gotools.GoToolError(f"cosign {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def _sign(self, blob: Path, *out: str) -> None:
        key = str(self.directory / "cosign.key")
        self._run("sign-blob", "--key", key, "--tlog-upload=false", "--yes", *out, str(blob))

    def sign(self, blob: Path, out: Path) -> Path:
        """`--output-signature`: the base64 signature alone."""
        self._sign(blob, "--output-signature", str(out))
        return out

    def bundle(self, blob: Path, out: Path) -> Path:
        """`--bundle`: cosign's own bundle (base64Signature)."""
        self._sign(blob, "--bundle", str(out))
        return out

    def sigstore_bundle(self, blob: Path, out: Path) -> Path:
        """`--new-bundle-format --bundle`: a sigstore bundle (v0.3) with the key's fingerprint as hint."""
        self._sign(blob, "--new-bundle-format", "--bundle", str(out))
        return out

    def sign_artifact(self, reference: str, *, docker_config: Path | None = None) -> None:
        """`cosign sign --key` of a registry artifact (REGISTRY/REPO@sha256:...): the signature goes to
        the registry, tagged sha256-<hex>.sig beside it, as users sign images and OCI artifacts."""
        key = str(self.directory / "cosign.key")
        self._run("sign", "--key", key, "--tlog-upload=false", "--yes", reference, docker_config=docker_config)

    def verify_artifact(self, reference: str, *, docker_config: Path | None = None) -> bool:
        """cosign's own verdict on a registry artifact's signature, offline (the cross-check of ours)."""
        args = ["verify", "--key", str(self.public_key), "--insecure-ignore-tlog=true", reference]
        try:
            self._run(*args, docker_config=docker_config)
        except gotools.GoToolError:
            return False
        return True

    def verify(self, blob: Path, signature: Path, *, bundle: bool = False) -> bool:
        """cosign's own verdict, offline (the cross-check of ours)."""
        args = ["verify-blob", "--key", str(self.public_key), "--insecure-ignore-tlog=true"]
        try:
            self._run(*args, "--bundle" if bundle else "--signature", str(signature), str(blob))
        except gotools.GoToolError:
            return False
        return True
