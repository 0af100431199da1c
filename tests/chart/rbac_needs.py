"""What the operator asks of the Kubernetes API, derived from its code: (group, resource, verb).

Three sources, each read from the code rather than restated:

- kopf's registry after importing `modelops.controllers` (what kopf lists and watches for the
  index and event handlers; a change-detecting handler, daemon or timer would make kopf patch
  the object too, for its finalizer and annotations);
- every call on the `Kube` protocol in `operator/modelops/controllers` (`kube.get/list/apply/
  delete/patch_status/secret_data/event`), found with `ast`. Arguments are evaluated in the
  calling module; a call whose kind is only known at run time must be declared in `DYNAMIC`
  below, resolved from the code's own tables (`CHILD_KINDS`, `REMOVABLE`, the routers' kinds),
  so a new call site fails the test until someone says what it touches;
- what kopf itself needs around the handlers (CRDs, namespaces, Events) and owner references
  with blockOwnerDeletion (update on the owner's finalizers, under
  OwnerReferencesPermissionEnforcement).

Server-side apply is a PATCH that creates a missing object, so `apply` needs create and patch.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONTROLLERS = REPO / "operator" / "modelops" / "controllers"

Need = tuple[str, str, str]  # (apiGroup, resource, verb)
Grants = dict[tuple[str, str], set[str]]

# Kinds the controllers name by (apiVersion, kind) outside the tables below -> (group, plural).
CORE_KINDS = {
    ("v1", "Pod"): ("", "pods"),
    ("v1", "ConfigMap"): ("", "configmaps"),
    ("v1", "Secret"): ("", "secrets"),
    ("batch/v1", "Job"): ("batch", "jobs"),
}

# A grant no released code uses yet, kept on purpose: the per-ModelDeployment PrometheusRule
# (render/prometheusrule.py) the operator is about to apply and delete (issue 16, alerts).
# Once that code lands the derivation finds these itself and this entry changes nothing.
PLANNED: set[Need] = {
    ("monitoring.coreos.com", "prometheusrules", verb) for verb in ("get", "list", "watch", "create", "patch", "delete")
}

# kopf's own needs: it lists and watches CRDs to resolve the resources it serves (scanning), and
# posts core/v1 Events (kopf.event; kopf._cogs.clients.events). With a list of namespaces it also
# lists and watches namespaces (cluster-scoped), see CLUSTER_NAMESPACED_MODE.
KOPF_CLUSTER: set[Need] = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
}
CLUSTER_NAMESPACED_MODE: set[Need] = {("", "namespaces", "list"), ("", "namespaces", "watch")}

VERBS = {"get": {"get"}, "list": {"list"}, "apply": {"create", "patch"}, "delete": {"delete"}}


def _kinds() -> dict[tuple[str, str], tuple[str, str]]:
    """(apiVersion, kind) -> (group, plural) for every kind the code names."""
    from modelops.api.v1alpha1 import API_VERSION, DRIFT_MONITOR, GROUP, MODEL_DEPLOYMENT, RETRAIN_POLICY
    from modelops.controllers.watch import CHILD_KINDS

    out = dict(CORE_KINDS)
    out.update({(api_version, kind): (group, plural) for group, _, plural, api_version, kind in CHILD_KINDS})
    for info in (MODEL_DEPLOYMENT, DRIFT_MONITOR, RETRAIN_POLICY):
        out[(API_VERSION, info.kind)] = (GROUP, info.plural)
    return out


def _own_kinds() -> list[tuple[str, str]]:
    from modelops.api.v1alpha1 import API_VERSION, DRIFT_MONITOR, MODEL_DEPLOYMENT, RETRAIN_POLICY

    return [(API_VERSION, info.kind) for info in (MODEL_DEPLOYMENT, DRIFT_MONITOR, RETRAIN_POLICY)]


def _rollout_children() -> list[tuple[str, str]]:
    """What the ModelDeployment pass applies: the serving objects and every router's routes."""
    from modelops.controllers.watch import CHILD_KINDS
    from modelops.routers import ALL_ROUTE_KINDS

    children = [(api_version, kind) for _, _, _, api_version, kind in CHILD_KINDS]
    missing = set(ALL_ROUTE_KINDS) - set(children)
    assert not missing, f"route kinds not in controllers.watch.CHILD_KINDS (never watched): {missing}"
    return children


def _rollout_removable() -> list[tuple[str, str]]:
    from modelops.controllers.rollout import REMOVABLE

    return [k for k in _rollout_children() if k[1] in REMOVABLE]


# Call sites whose kind is known only at run time: (module, enclosing function, method) -> kinds.
DYNAMIC: dict[tuple[str, str, str], Any] = {
    ("rollout", "_sync_children", "get"): _rollout_children,  # is the name taken by someone else's object?
    ("rollout", "_sync_children", "apply"): _rollout_children,
    ("rollout", "_sync_children", "delete"): _rollout_removable,  # only what REMOVABLE names
    ("retrainpolicy", "_ensure_jobs", "apply"): lambda: [("batch/v1", "Job")],  # render.retrain_job.job
    ("retrainpolicy", "_publish", "apply"): lambda: [("v1", "ConfigMap")],  # baseline_config_map
    ("passes", "write", "patch_status"): _own_kinds,  # Pass serves all three kinds
    ("supervisor", "_reread", "get"): _own_kinds,  # after a 409: the object a supervisor reconciles
}


def _is_kube(node: ast.expr) -> bool:
    """`kube`, `self.kube`, `p.kube`: the Kube protocol, whatever holds it."""
    return (isinstance(node, ast.Name) and node.id == "kube") or (
        isinstance(node, ast.Attribute) and node.attr == "kube"
    )


def _calls(tree: ast.Module) -> Iterator[tuple[str, ast.Call]]:
    """(enclosing function, call) of every `<kube>.<method>(...)`."""

    def walk(node: ast.AST, function: str) -> Iterator[tuple[str, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and _is_kube(child.func.value):
                yield name, child
            yield from walk(child, name)

    yield from walk(tree, "<module>")


def _evaluate(node: ast.expr, path: Path, namespace: dict[str, Any]) -> Any:
    return eval(compile(ast.Expression(node), path, "eval"), namespace)


def kube_calls() -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """(module, function, method, [(apiVersion, kind)]) for every Kube call in the controllers."""
    out = []
    for path in sorted(CONTROLLERS.glob("*.py")):
        module = importlib.import_module(f"modelops.controllers.{path.stem}")
        for function, call in _calls(ast.parse(path.read_text())):
            assert isinstance(call.func, ast.Attribute)
            method = call.func.attr
            kinds: list[tuple[str, str]]
            if method in {"secret_data", "event"}:
                kinds = []
            elif (path.stem, function, method) in DYNAMIC:
                kinds = DYNAMIC[(path.stem, function, method)]()
            else:
                try:  # our own source, evaluated where it is written; any failure means: not a constant
                    api_version, kind = (_evaluate(a, path, vars(module)) for a in call.args[:2])
                except Exception as error:
                    raise AssertionError(
                        f"{path.name}:{call.lineno} {function}: kube.{method} with a kind known only at run time; "
                        f"declare what it touches in tests/chart/rbac_needs.py DYNAMIC ({error})"
                    ) from None
                kinds = [(api_version, kind)]
            out.append((path.stem, function, method, kinds))
    return out


def _kopf_resources() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """((group, plural) kopf lists and watches, (group, plural) kopf patches)."""
    import kopf

    import modelops.controllers  # noqa: F401 - registers every handler

    registry = kopf.get_default_registry()
    watched: set[tuple[str, str]] = set()
    patched: set[tuple[str, str]] = set()
    # kopf's registries are private; these are the ones its resource observer scans
    for attr, patches in (("_indexing", False), ("_watching", False), ("_changing", True), ("_spawning", True)):
        for handler in getattr(registry, attr).get_all_handlers():
            if not getattr(handler.fn, "__module__", "").startswith("modelops."):
                continue  # registered by something else in this process, not the operator
            selector = handler.selector
            resource = (selector.group or "", selector.plural or selector.any_name)
            assert resource[1], f"kopf handler {handler.id} selects no single resource"
            watched.add(resource)
            if patches:  # progress/diff-base annotations and finalizers live on the object
                patched.add(resource)
    webhooks = registry._webhooks.get_all_handlers()
    assert not list(webhooks), "kopf admission webhooks need their own RBAC and Service; not derived here"
    return watched, patched


def _block_owner_deletion_owners() -> set[tuple[str, str]]:
    """(group, plural) of owners whose children's owner references set blockOwnerDeletion."""
    from modelops.api.names import Owner
    from modelops.render.retrain_job import policy_owner

    kinds = _kinds()
    out = set()
    for reference in (Owner("md", "ns", "uid").reference(), policy_owner("policy", "uid")):
        if reference.get("blockOwnerDeletion"):
            group, plural = kinds[(reference["apiVersion"], reference["kind"])]
            out.add((group, f"{plural}/finalizers"))
    return out


def namespaced_needs(read_secrets: bool = True) -> set[Need]:
    """What the operator needs in every namespace it watches."""
    kinds = _kinds()
    needs: set[Need] = set(PLANNED)
    watched, patched = _kopf_resources()
    for group, plural in watched:
        needs |= {(group, plural, "list"), (group, plural, "watch")}
    for group, plural in patched:
        needs.add((group, plural, "patch"))
    for _, _, method, touched in kube_calls():
        if method == "secret_data":
            if read_secrets:
                needs.add(("", "secrets", "get"))
        elif method == "event":
            needs.add(("", "events", "create"))
        elif method == "patch_status":
            needs |= {(kinds[k][0], f"{kinds[k][1]}/status", "patch") for k in touched}
        else:
            for k in touched:
                assert k in kinds, f"{k}: add its (group, plural) to tests/chart/rbac_needs.py CORE_KINDS"
                needs |= {(*kinds[k], verb) for verb in VERBS[method]}
    needs |= {(group, resource, "update") for group, resource in _block_owner_deletion_owners()}
    # kopf posts an Event for a handler failure too, whatever our code posts
    needs.add(("", "events", "create"))
    return needs


def leader_election_needs() -> set[Need]:
    """What the elector asks in the release namespace: the Lease (modelops.kube.leases.LEASE_VERBS)."""
    from modelops.kube.leases import LEASE_VERBS

    return {("coordination.k8s.io", "leases", verb) for verb in LEASE_VERBS}


def cluster_needs(all_namespaces: bool) -> set[Need]:
    return set(KOPF_CLUSTER) if all_namespaces else KOPF_CLUSTER | CLUSTER_NAMESPACED_MODE


def as_grants(needs: set[Need]) -> Grants:
    out: Grants = {}
    for group, resource, verb in needs:
        out.setdefault((group, resource), set()).add(verb)
    return out
