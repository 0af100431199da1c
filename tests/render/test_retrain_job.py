from __future__ import annotations

import copy

from modelops.render.retrain_job import POLICY_LABEL, RUN_LABEL, RunPlan, job

PLAN = RunPlan(
    policy="fraud-retrain",
    policy_uid="uid-1",
    namespace="ml",
    run="fraud-retrain-3",
    model="fraud",
    current_version="v2",
    next_version="fraud-retrain-3",
    output_uri="s3://m/fraud/fraud-retrain-3",
    trigger="drift",
    data_window="7d",
)
TEMPLATE = {
    "backoffLimit": 1,
    "activeDeadlineSeconds": 3600,
    "template": {
        "metadata": {"labels": {"team": "risk"}},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [{"name": "fetch", "image": "busybox"}],
            "containers": [
                {
                    "name": "trainer",
                    "image": "t:1",
                    "resources": {"requests": {"cpu": "2"}},
                    "env": [
                        {"name": "MODELOPS_DATA_WINDOW", "value": "30d"},
                        {"name": "MODELOPS_NEXT_VERSION", "value": "spoofed"},
                        {"name": "HOME", "value": "/tmp"},
                    ],
                }
            ],
        },
    },
}


def test_the_job_is_the_users_template_owned_labelled_and_told_what_to_train() -> None:
    before = copy.deepcopy(TEMPLATE)
    body = job(PLAN, TEMPLATE)
    assert before == TEMPLATE  # the spec the user wrote is never modified
    assert body["metadata"]["name"] == "fraud-retrain-3" and body["metadata"]["namespace"] == "ml"
    assert body["metadata"]["labels"][POLICY_LABEL] == "fraud-retrain" and body["metadata"]["labels"][RUN_LABEL]
    owner = body["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "RetrainPolicy",
        "fraud-retrain",
        "uid-1",
        True,
    )
    spec = body["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (1, 3600)
    pod = spec["template"]
    assert pod["metadata"]["labels"]["team"] == "risk" and pod["metadata"]["labels"][RUN_LABEL] == "fraud-retrain-3"
    trainer = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in trainer["env"]}
    assert env["MODELOPS_DATA_WINDOW"] == "30d"  # the user's own choice wins for data settings
    assert env["MODELOPS_NEXT_VERSION"] == "fraud-retrain-3"  # the run's identity always comes from the operator
    assert env["HOME"] == "/tmp" and env["MODELOPS_OUTPUT_URI"] == "s3://m/fraud/fraud-retrain-3"
    assert env["MODELOPS_TRIGGER"] == "drift" and env["MODELOPS_CURRENT_VERSION"] == "v2"
    assert env["MODELOPS_RUN"] == "fraud-retrain-3"
    assert [e["name"] for e in trainer["env"]].count("MODELOPS_NEXT_VERSION") == 1
    assert trainer["resources"] == {"requests": {"cpu": "2"}}
    init = {e["name"] for e in pod["spec"]["initContainers"][0]["env"]}
    assert {"MODELOPS_MODEL_NAME", "MODELOPS_OUTPUT_URI"} <= init


def test_rendering_is_deterministic() -> None:
    assert job(PLAN, TEMPLATE) == job(PLAN, TEMPLATE)
