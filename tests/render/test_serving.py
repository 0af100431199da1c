from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.api import names
from modelops.api.names import Owner
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.render.serving import (
    GRACE_MARGIN_SECONDS,
    SHUTDOWN_SECONDS,
    VersionPlan,
    deployment,
    hpa,
    pdb,
    services,
)
from modelops.routers.gateway_api import http_route
from modelops.routers.istio import virtual_service
from modelops.runtime.server import GRACEFUL_SHUTDOWN_SECONDS, IDLE_DRAIN_SECONDS

OWNER = Owner("fraud", "ml", "uid-1")
IMAGE = "ghcr.io/modelops/modelops:0.1.0"


def spec(**extra: Any) -> ModelDeploymentSpec:
    base: dict[str, Any] = {
        "model": {
            "name": "fraud",
            "version": "v2",
            "uri": "file:///m/v2/model.npz",
            "sha256": "a" * 64,
            "baseline": {"name": "fraud-baseline"},
        }
    }
    return ModelDeploymentSpec.model_validate({**base, **extra})


PLAN = VersionPlan("v2", "file:///m/v2/model.npz", "a" * 64, 3, 0.1, "canary")


def test_deployment_fetches_verifies_and_serves() -> None:
    d = deployment(OWNER, spec(), PLAN, serving_image=IMAGE)
    assert d["metadata"]["name"] == "fraud-v2" and d["spec"]["replicas"] == 3
    assert d["metadata"]["ownerReferences"][0] == {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "fraud",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert d["spec"]["selector"]["matchLabels"] == {names.DEPLOYMENT_LABEL: "fraud", names.VERSION_LABEL: "v2"}
    pod = d["spec"]["template"]
    assert pod["metadata"]["labels"][names.VARIANT_LABEL] == "canary"
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    init = pod["spec"]["initContainers"][0]
    assert init["args"] == ["fetch-model", "--uri", "file:///m/v2/model.npz", "--dest", "/models", "--sha256", "a" * 64]
    model = pod["spec"]["containers"][0]
    assert model["args"][:3] == ["serve", "--model-dir", "/models"] and "--baseline" in model["args"]
    assert model["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert {e["name"]: e.get("value") for e in model["env"]}["MODELOPS_MODEL_VERSION"] == "v2"
    assert model["securityContext"]["readOnlyRootFilesystem"] is True and pod["spec"]["securityContext"]["runAsNonRoot"]


def test_pods_drain_before_they_stop_and_a_template_can_change_it() -> None:
    pod = deployment(OWNER, spec(), PLAN, serving_image=IMAGE)["spec"]["template"]["spec"]
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep == 5 and pod["terminationGracePeriodSeconds"] == 20
    assert pod["terminationGracePeriodSeconds"] >= sleep + 11  # drain, then the server's 1 s + 10 s shutdown
    drain = {"preStop": {"sleep": {"seconds": 15}}}
    template = {"spec": {"terminationGracePeriodSeconds": 60, "containers": [{"name": "model", "lifecycle": drain}]}}
    pod = deployment(OWNER, spec(runtime={"podTemplate": template}), PLAN, serving_image=IMAGE)["spec"]["template"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 60
    assert pod["spec"]["containers"][0]["lifecycle"] == drain


def test_a_longer_drain_from_the_template_gets_a_grace_period_that_covers_it() -> None:
    """A template's preStop sleep without a grace period: the default grows with it, so the pod is not
    killed mid-drain (sleep, then the server's 1 s idle drain and 10 s for requests in flight)."""
    drain = {"preStop": {"sleep": {"seconds": 40}}}
    template = {"spec": {"containers": [{"name": "model", "lifecycle": drain}]}}
    pod = deployment(OWNER, spec(runtime={"podTemplate": template}), PLAN, serving_image=IMAGE)["spec"]["template"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 40 + SHUTDOWN_SECONDS + GRACE_MARGIN_SECONDS
    exec_hook = {"preStop": {"exec": {"command": ["sh", "-c", "sleep 3"]}}}  # unknown length: the default stays
    template = {"spec": {"containers": [{"name": "model", "lifecycle": exec_hook}]}}
    pod = deployment(OWNER, spec(runtime={"podTemplate": template}), PLAN, serving_image=IMAGE)["spec"]["template"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 20


def test_the_rendered_shutdown_time_is_the_servers() -> None:
    assert SHUTDOWN_SECONDS == IDLE_DRAIN_SECONDS + GRACEFUL_SHUTDOWN_SECONDS


def test_custom_image_keeps_its_entrypoint_and_hpa_owns_replicas() -> None:
    s = spec(runtime={"image": "my/server:1"}, autoscaling={"minReplicas": 2, "maxReplicas": 10})
    d = deployment(OWNER, s, PLAN, serving_image=IMAGE)
    model = d["spec"]["template"]["spec"]["containers"][0]
    assert model["image"] == "my/server:1" and "command" not in model and "args" not in model
    assert d["spec"]["template"]["spec"]["initContainers"][0]["image"] == IMAGE
    assert "replicas" not in d["spec"]
    h = hpa(OWNER, s, PLAN)
    assert h is not None and (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (1, 1)  # 10% of 2..10
    full = hpa(OWNER, s, VersionPlan("v1", "u", None, 0, 0.9, "stable"))
    assert full is not None and (full["spec"]["minReplicas"], full["spec"]["maxReplicas"]) == (2, 9)


def test_pvc_sources_are_mounted_read_only_for_the_init_container() -> None:
    plan = VersionPlan("v2", "pvc://models/fraud/v2.npz", None, 1, 1.0, "stable")
    pod = deployment(OWNER, spec(), plan, serving_image=IMAGE)["spec"]["template"]["spec"]
    assert {"name": "source", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}} in pod["volumes"]
    assert {"name": "source", "mountPath": "/mnt/pvc/models", "readOnly": True} in pod["initContainers"][0][
        "volumeMounts"
    ]
    fetch = pod["initContainers"][0]["args"]
    assert fetch[fetch.index("--claim-dir") + 1] == "/mnt/pvc/models" and "--wait" in fetch  # waits for the Job
    assert "--sha256" not in fetch  # none given: fetched unverified, its checksum reported
    assert all(m["name"] != "source" for m in pod["containers"][0]["volumeMounts"])  # the server reads its copy
    plain = deployment(OWNER, spec(), VersionPlan("v1", "file:///m.npz", None, 1, 1.0, "stable"), serving_image=IMAGE)
    assert "--wait" not in plain["spec"]["template"]["spec"]["initContainers"][0]["args"]  # a typo fails at once


def test_user_pod_template_is_merged_under_ours() -> None:
    template = {
        "metadata": {"labels": {"team": "risk", names.VERSION_LABEL: "spoofed"}},
        "spec": {
            "nodeSelector": {"pool": "ml"},
            "securityContext": {"runAsUser": 0},
            "containers": [
                {"name": "model", "env": [{"name": "X", "value": "1"}], "image": "ignored"},
                {"name": "sidecar", "image": "envoy"},
            ],
            "volumes": [{"name": "extra", "emptyDir": {}}],
        },
    }
    pod = deployment(OWNER, spec(runtime={"podTemplate": template}), PLAN, serving_image=IMAGE)["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "risk" and pod["metadata"]["labels"][names.VERSION_LABEL] == "v2"
    assert pod["spec"]["nodeSelector"] == {"pool": "ml"} and pod["spec"]["securityContext"]["runAsUser"] == 65532
    containers = pod["spec"]["containers"]
    assert [c["name"] for c in containers] == ["model", "sidecar"] and containers[0]["image"] == IMAGE
    assert {"name": "X", "value": "1"} in containers[0]["env"]
    assert {"name": "extra", "emptyDir": {}} in pod["spec"]["volumes"]


@pytest.mark.parametrize(("router", "model_selects_all"), [("replicas", True), ("gatewayAPI", False), ("istio", False)])
def test_services_per_router(router: str, model_selects_all: bool) -> None:
    traffic: dict[str, Any] = {"router": router, "parentRefs": [{"name": "gw"}], "hosts": ["fraud.example"]}
    svcs = {s["metadata"]["name"]: s for s in services(OWNER, spec(traffic=traffic), "v1", "v2", split=True)}
    assert set(svcs) == {"fraud", "fraud-stable", "fraud-canary"}
    assert svcs["fraud-canary"]["spec"]["selector"] == {names.DEPLOYMENT_LABEL: "fraud", names.VERSION_LABEL: "v2"}
    assert (svcs["fraud"]["spec"]["selector"] == {names.DEPLOYMENT_LABEL: "fraud"}) is model_selects_all


@pytest.mark.parametrize("canary", [None, "v2"])
def test_replicas_router_selects_stable_only_without_a_live_canary(canary: str | None) -> None:
    """A warm previous version (bake) or a shadow must stay out of the model's Service."""
    svcs = {s["metadata"]["name"]: s for s in services(OWNER, spec(), "v1", canary, split=False)}
    assert svcs["fraud"]["spec"]["selector"] == {names.DEPLOYMENT_LABEL: "fraud", names.VERSION_LABEL: "v1"}


def test_pdb() -> None:
    assert pdb(OWNER, spec())["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {names.DEPLOYMENT_LABEL: "fraud"}},
    }


def test_routes_split_and_mirror() -> None:
    s = spec(traffic={"router": "gatewayAPI", "parentRefs": [{"name": "public", "namespace": "gw"}], "hosts": ["a.b"]})
    route = http_route(OWNER, s, 25, 0, has_canary=True)
    rule = route["spec"]["rules"][0]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("fraud-stable", 75), ("fraud-canary", 25)]
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gw"}] and route["spec"]["hostnames"] == [
        "a.b"
    ]
    shadow = http_route(OWNER, s, 0, 100, has_canary=True)["spec"]["rules"][0]
    assert shadow["filters"][0]["requestMirror"] == {"backendRef": {"name": "fraud-canary", "port": 80}, "percent": 100}
    vs = virtual_service(OWNER, spec(traffic={"router": "istio", "hosts": ["fraud"]}), 10, 20, has_canary=True)
    http = vs["spec"]["http"][0]
    assert [r["weight"] for r in http["route"]] == [90, 10] and http["mirrorPercentage"] == {"value": 20.0}
    settled = virtual_service(OWNER, spec(traffic={"router": "istio", "hosts": ["fraud"]}), 0, 0, has_canary=False)
    assert settled["spec"]["http"][0]["route"] == [
        {"destination": {"host": "fraud-stable", "port": {"number": 80}}, "weight": 100}
    ]


@given(
    st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True),
)
def test_deployment_names_are_dns_labels_and_distinct(version: str, md: str) -> None:
    name = names.deployment_name(md, version)
    assert len(name) <= 63 and name == name.lower() and name[0].isalnum() and name[-1].isalnum()
    if version.lower() != version:
        assert name != names.deployment_name(md, version.lower())


def _signed(signature: dict[str, Any]) -> ModelDeploymentSpec:
    model = {"name": "fraud", "version": "v2", "uri": "file:///m/v2/model.npz", "signature": signature}
    return ModelDeploymentSpec.model_validate({"model": model})


def test_a_signature_mounts_the_key_into_the_init_container_only() -> None:
    pod = deployment(OWNER, _signed({"publicKey": {"name": "signer"}}), PLAN, serving_image=IMAGE)["spec"]["template"]
    init, model = pod["spec"]["initContainers"][0], pod["spec"]["containers"][0]
    assert init["args"][-4:] == [
        "--signature-uri",
        "file:///m/v2/model.npz.sig",  # the plan's artifact + .sig: follows a RetrainPolicy's versions
        "--public-key",
        "/etc/modelops/signing-key/cosign.pub",
    ]
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "signing-key")
    assert volume == {
        "name": "signing-key",
        "secret": {"secretName": "signer", "items": [{"key": "cosign.pub", "path": "cosign.pub"}]},
    }
    assert {"name": "signing-key", "mountPath": "/etc/modelops/signing-key", "readOnly": True} in init["volumeMounts"]
    assert all(m["name"] != "signing-key" for m in model["volumeMounts"])
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"


@pytest.mark.parametrize(
    ("uri", "signature_uri"),
    [
        ("s3://models/fraud/v2/", "s3://models/fraud/v2.sig"),  # a prefix's signature is beside it, not in it
        ("oci://registry.example/models/fraud:v2", None),  # what `cosign sign` stored in the registry
        ("oci://registry.example/models/fraud@sha256:" + "b" * 64, None),
    ],
)
def test_the_default_signature_of_a_directory_and_of_an_oci_artifact(uri: str, signature_uri: str | None) -> None:
    plan = VersionPlan("v2", uri, None, 1, 1.0, "stable")
    pod = deployment(OWNER, _signed({"publicKey": {"name": "signer"}}), plan, serving_image=IMAGE)["spec"]["template"]
    args = pod["spec"]["initContainers"][0]["args"]
    assert args[-2:] == ["--public-key", "/etc/modelops/signing-key/cosign.pub"]
    if signature_uri is None:
        assert "--signature-uri" not in args
    else:
        assert args[args.index("--signature-uri") + 1] == signature_uri


def test_a_signature_key_from_a_config_map_and_an_explicit_uri() -> None:
    signature = {
        "uri": "https://store/sigs/v2.sigstore.json",
        "publicKey": {"kind": "ConfigMap", "name": "k", "key": "pub"},
    }
    pod = deployment(OWNER, _signed(signature), PLAN, serving_image=IMAGE)["spec"]["template"]["spec"]
    assert "https://store/sigs/v2.sigstore.json" in pod["initContainers"][0]["args"]
    volume = next(v for v in pod["volumes"] if v["name"] == "signing-key")
    assert volume["configMap"] == {"name": "k", "items": [{"key": "pub", "path": "cosign.pub"}]}


def test_without_a_signature_nothing_about_keys_is_rendered() -> None:
    pod = deployment(OWNER, spec(), PLAN, serving_image=IMAGE)["spec"]["template"]["spec"]
    assert "--signature-uri" not in pod["initContainers"][0]["args"]
    assert all(v["name"] != "signing-key" for v in pod["volumes"])
