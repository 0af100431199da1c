"""The derivation of the operator's RBAC needs from its code (tests/chart/rbac_needs.py) itself."""

from __future__ import annotations

import ast

import pytest
from tests.chart import rbac_needs


def test_every_kube_call_is_resolved() -> None:
    calls = rbac_needs.kube_calls()
    methods = {method for _, _, method, _ in calls}
    assert methods == {"get", "list", "apply", "delete", "patch_status", "secret_data", "event"}
    for module, function, method, kinds in calls:
        if method not in {"secret_data", "event"}:
            assert kinds, f"{module}.{function}: kube.{method} resolved to no kind"


def test_known_needs_are_found() -> None:
    """Spot checks against what the code visibly does, so the derivation cannot drift into nothing."""
    needs = rbac_needs.namespaced_needs()
    for need in [
        ("", "pods", "list"),  # retrainpolicy._job_state
        ("batch", "jobs", "watch"),  # kopf.on.event jobs
        ("apps", "deployments", "delete"),  # rollout._sync_children, REMOVABLE
        ("modelops.dev", "modeldeployments/status", "patch"),  # passes.Pass.write
        ("modelops.dev", "retrainpolicies/finalizers", "update"),  # Jobs' blockOwnerDeletion
        ("", "secrets", "get"),
        ("", "events", "create"),
    ]:
        assert need in needs, need
    for absent in [
        ("", "services", "delete"),  # role Services are garbage-collected, never deleted by us
        ("", "pods", "watch"),
        ("", "secrets", "list"),
        ("modelops.dev", "modeldeployments", "patch"),  # kopf has no change-detecting handlers
        ("modelops.dev", "driftmonitors/finalizers", "update"),  # a DriftMonitor owns nothing
    ]:
        assert absent not in needs, absent
    assert ("", "secrets", "get") not in rbac_needs.namespaced_needs(read_secrets=False)


def test_a_dynamic_call_site_must_be_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kube call whose kind the test cannot evaluate fails until DYNAMIC says what it touches."""
    source = (
        "async def sneaky(kube, body):\n"
        "    await kube.apply(body)\n"
        "    await kube.get(body['apiVersion'], 'X', 'ns', 'n')\n"
    )
    calls = [call for _, call in rbac_needs._calls(ast.parse(source))]
    assert [c.func.attr for c in calls if isinstance(c.func, ast.Attribute)] == ["apply", "get"]
    monkeypatch.setattr(rbac_needs, "DYNAMIC", {})
    with pytest.raises(AssertionError, match="declare what it touches"):
        rbac_needs.kube_calls()
