"""Views of objects another controller owns: only what is read, nulls and unknown fields tolerated."""

from __future__ import annotations

from modelops.api.v1alpha1.views import DeploymentView, ObjectView, PolicyView


def test_a_deployment_view_reads_model_versions_and_baselines() -> None:
    view = DeploymentView.model_validate(
        {
            "metadata": {"name": "fraud", "namespace": "ml", "uid": "u1"},
            "spec": {"model": {"name": "fraud-model", "baseline": {"name": "cm"}}, "replicas": "not checked here"},
            "status": {"stable": {"version": "v1", "baseline": "rp-1-baseline"}, "phase": "Available"},
        }
    )
    assert view.model == "fraud-model" and view.variant("stable").version == "v1"
    assert view.variant("stable").baseline == "rp-1-baseline" and view.variant("canary").version is None
    assert view.declared_baseline == ("cm", "baseline.json") and view.prometheus == {}
    assert view.raw_spec["replicas"] == "not checked here"  # kept for the reader that validates it


def test_nulls_and_absences_read_as_nothing() -> None:
    view = DeploymentView.model_validate({"metadata": {"name": "fraud"}, "spec": {"model": None}, "status": None})
    assert view.model == "fraud" and view.variant("stable").version is None and view.declared_baseline is None
    assert (
        PolicyView.model_validate({}).latest_validated is None and PolicyView.model_validate({}).drift_monitor is None
    )


def test_a_policy_view_reads_its_drift_monitor_and_latest_validated_model() -> None:
    view = PolicyView.model_validate(
        {
            "spec": {"triggers": {"drift": {"monitorRef": {"name": "dm"}}}, "jobTemplate": {}},
            "status": {
                "latestValidated": {"version": "rp-3", "uri": "file:///m", "baselineConfigMap": "rp-3-baseline"}
            },
        }
    )
    assert view.drift_monitor == "dm"
    assert view.latest_validated is not None and view.latest_validated.baseline_config_map == "rp-3-baseline"


def test_ownership_is_by_uid() -> None:
    owned = ObjectView.model_validate({"metadata": {"ownerReferences": [{"uid": "a"}, {"uid": "b"}]}})
    assert owned.metadata.owned_by("b") and not owned.metadata.owned_by("c")
    assert not ObjectView.model_validate({"metadata": {"ownerReferences": None}}).metadata.owned_by("a")
