"""The only package that talks to the Kubernetes API (besides kopf's own watch machinery)."""

from modelops.kube.client import CustomResources, load
from modelops.kube.protocol import Kube
from modelops.kube.resources import ClusterKube, Conflict, KindNotInstalled, NotLeader, ReadRefused

__all__ = [
    "ClusterKube",
    "Conflict",
    "CustomResources",
    "KindNotInstalled",
    "Kube",
    "NotLeader",
    "ReadRefused",
    "load",
]
