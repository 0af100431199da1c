"""The dev cluster's local provisioner: what it creates (pure); binding is tested end to end in
tests/integration/test_quickstart.py against the real PV controller."""

from __future__ import annotations

from pathlib import Path

from modelops_devcluster.storage import PROVISIONED_BY, PROVISIONER, STORAGE_CLASS, storage_class, volume_for


def test_the_class_is_the_default_one_and_binds_at_once() -> None:
    sc = storage_class()
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert (sc["provisioner"], sc["volumeBindingMode"], sc["reclaimPolicy"]) == (PROVISIONER, "Immediate", "Delete")


def test_a_volume_is_pre_bound_to_its_claim_and_is_a_local_directory(tmp_path: Path) -> None:
    claim = {
        "metadata": {"name": "fraud-models", "namespace": "qs", "uid": "1234"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    pv = volume_for(claim, tmp_path / "pvc-1234")
    assert pv["metadata"] == {"name": "pvc-1234", "annotations": {PROVISIONED_BY: PROVISIONER}}
    assert pv["spec"]["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "qs",
        "name": "fraud-models",
        "uid": "1234",
    }
    assert pv["spec"]["storageClassName"] == STORAGE_CLASS and pv["spec"]["capacity"] == {"storage": "1Gi"}
    assert pv["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pv["spec"]["hostPath"] == {"path": str(tmp_path / "pvc-1234"), "type": "DirectoryOrCreate"}
