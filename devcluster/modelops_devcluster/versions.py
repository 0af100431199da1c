"""Pinned versions of the control-plane components (the build cache is keyed by them)."""

from __future__ import annotations

KUBERNETES = "v1.36.3"
ETCD = "v3.6.8"  # the etcd release Kubernetes KUBERNETES itself depends on
KWOK = "v0.8.0"
HELM = "v3.22.0"
ALERTMANAGER = "v0.35.0"  # `go list -m -versions github.com/prometheus/alertmanager`, 2026-12-05
COSIGN = "v2.6.5"  # github.com/sigstore/cosign/v2: signs the test artifacts (tests/runtime/test_signature.py)


def staging_version(kubernetes: str = KUBERNETES) -> str:
    """k8s.io/kubernetes vX.Y.Z ships its staging modules as v0.Y.Z."""
    _major, minor, patch = kubernetes.lstrip("v").split(".")
    return f"v0.{minor}.{patch}"
