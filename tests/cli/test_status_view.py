from __future__ import annotations

from modelops.cli.status_view import drift_monitor, history, model_deployment, table


def test_table_aligns_columns() -> None:
    assert table(("A", "BB"), [("xxx", None), ("y", 2)]).splitlines() == ["A    BB", "xxx", "y    2"]


def test_model_deployment_view_shows_the_warm_previous_version_and_what_retires() -> None:
    obj = {
        "metadata": {"namespace": "ns", "name": "fraud", "generation": 3},
        "status": {
            "observedGeneration": 3,
            "phase": "Baking",
            "stable": {"version": "v2", "replicas": 2, "readyReplicas": 2},
            "bake": {
                "until": "2026-12-04T12:30:00Z",
                "previous": {"version": "v1", "replicas": 2, "readyReplicas": 1},
                "reverting": "page-level latency burn during bake",
            },
            "retiring": [{"version": "v0", "until": "2026-12-04T12:00:30Z"}],
        },
    }
    text = model_deployment(obj)
    assert "previous v1 (1/2 ready) warm  REVERTING: page-level latency burn" in text
    assert "Retiring: v0 (no traffic) removed at 2026-12-04T12:00:30Z" in text


def test_model_deployment_view_shows_values_behind_the_verdict() -> None:
    obj = {
        "metadata": {"namespace": "ml", "name": "fraud", "generation": 3},
        "status": {
            "observedGeneration": 2,
            "phase": "Progressing",
            "stable": {"version": "v1", "replicas": 2, "readyReplicas": 2},
            "canary": {"version": "v2", "replicas": 1, "readyReplicas": 1},
            "canaryWeight": 10,
            "currentStep": 1,
            "lastAnalysis": {
                "time": "2026-11-23T10:00:00Z",
                "verdict": "Fail",
                "checks": [
                    {
                        "name": "error-rate",
                        "verdict": "Fail",
                        "value": 0.1,
                        "threshold": "<= 0.01",
                        "samples": 400,
                        "reason": "canary errors 10% over 1m",
                    },
                ],
            },
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Valid", "message": "spec is valid"}],
        },
    }
    text = model_deployment(obj)
    assert "ModelDeployment ml/fraud" in text
    assert "operator has not seen the latest spec" in text
    assert "v2 (1/1 ready)  weight 10%" in text
    assert "error-rate  Fail     0.1    <= 0.01" in text and "canary errors 10% over 1m" in text
    assert "Accepted   True" in text


def test_drift_monitor_view_lists_features_worst_first_with_their_figures() -> None:
    obj = {
        "metadata": {"namespace": "ml", "name": "fraud-drift"},
        "spec": {"modelDeploymentRef": {"name": "fraud"}, "driftShare": 0.2},
        "status": {
            "drifted": True,
            "driftShare": 0.33,
            "version": "v3",
            "reference": "ConfigMap fraud-baseline/baseline.json",
            "lastEvaluated": "2026-11-23T10:00:00Z",
            "features": [
                {
                    "name": "amount",
                    "test": "chi2",
                    "samples": 412,
                    "pValue": 1e-30,
                    "adjustedPValue": 3e-30,
                    "psi": 0.91,
                    "js": 0.4,
                    "ks": 0.35,
                    "drifted": True,
                },
                {
                    "name": "hour",
                    "test": "chi2",
                    "samples": 412,
                    "pValue": 0.4,
                    "adjustedPValue": 0.6,
                    "psi": 0.02,
                    "js": 0.05,
                    "ks": 0.03,
                    "drifted": False,
                },
                {"name": "age", "samples": 0, "error": "buckets do not match the reference edges: missing le 1"},
            ],
            "prediction": {"name": "__prediction__", "test": "chi2", "samples": 412, "insufficientData": True},
        },
    }
    lines = drift_monitor(obj).splitlines()
    assert "version v3" in lines[1] and "ConfigMap fraud-baseline" in lines[2]
    assert lines[3].strip() == "Verdict:   DRIFTED, share 0.33 (threshold 0.2)"
    rows = [line.split()[0] for line in lines if line.split() and line.split()[0] in {"amount", "hour", "age"}]
    assert rows == ["amount", "hour", "age"]
    amount = next(line for line in lines if line.startswith("amount"))
    assert "1.00e-30" in amount and "0.910" in amount and amount.rstrip().endswith("DRIFTED")
    assert next(line for line in lines if line.startswith("age")).rstrip().endswith("missing le 1")
    assert next(line for line in lines if line.startswith("__prediction__")).rstrip().endswith("insufficient data")
    assert "no conditions yet" in lines[-1]


def test_drift_monitor_view_before_the_first_evaluation() -> None:
    text = drift_monitor({"metadata": {"namespace": "ml", "name": "d"}, "spec": {"modelDeploymentRef": {"name": "m"}}})
    assert "unknown (no conclusive evaluation yet)" in text and "Evaluated: never" in text


def test_history_traces_each_rollout_to_its_run_and_trigger() -> None:
    md = {
        "metadata": {"namespace": "ml", "name": "fraud"},
        "status": {
            "stable": {"version": "fraud-retrain-2"},
            "history": [
                {
                    "at": "2026-11-23T11:00:00Z",
                    "version": "fraud-retrain-2",
                    "outcome": "Promoted",
                    "retrainRun": "fraud-retrain-2",
                },
                {
                    "at": "2026-11-23T10:00:00Z",
                    "version": "fraud-retrain-1",
                    "outcome": "RolledBack",
                    "reason": "2 failed analyses",
                    "retrainRun": "fraud-retrain-1",
                },
                {"at": "2026-11-22T10:00:00Z", "version": "v2", "outcome": "Promoted"},
            ],
        },
    }
    policy = {
        "metadata": {"name": "fraud-retrain"},
        "status": {
            "runs": [
                {
                    "name": "fraud-retrain-2",
                    "trigger": "drift",
                    "evidence": "DriftMonitor fraud-drift: amount (PSI 0.40)",
                },
            ]
        },
    }
    lines = history(md, policy).splitlines()
    assert "versions from RetrainPolicy fraud-retrain" in lines[0]
    promoted = next(line for line in lines if line.startswith("2026-11-23T11"))
    assert "drift" in promoted and "amount (PSI 0.40)" in promoted
    assert "(run no longer in history)" in next(line for line in lines if line.startswith("2026-11-23T10"))
    assert history({"metadata": {}, "status": {}}, None).endswith("no finished rollouts yet")


def test_model_deployment_view_shows_quality_and_label_lag() -> None:
    quality = {
        "version": "v1",
        "metric": "accuracy",
        "value": 0.9123,
        "objective": 0.9,
        "labels": 1234,
        "labelLagP90Seconds": 330.4,
        "window": "1h",
        "verdict": "Pass",
        "evaluatedAt": "2026-12-06T12:00:00Z",
    }
    obj = {"metadata": {"namespace": "ns", "name": "fraud"}, "status": {"phase": "Available", "quality": quality}}
    line = next(x for x in model_deployment(obj).splitlines() if "Quality:" in x)
    assert line == (
        "  Quality:  accuracy 0.912 (objective 0.9) of v1 on 1234 labels over 1h, label lag p90 5m30s: "
        "meets objective, read at 2026-12-06T12:00:00Z"
    )
    few = {**quality, "value": None, "labels": 0, "labelLagP90Seconds": None, "verdict": "Unknown"}
    text = model_deployment({"metadata": {}, "status": {"quality": few}})
    assert "accuracy - (objective 0.9) of v1 on 0 labels over 1h, label lag p90 -: insufficient data" in text
    lag = {**quality, "labelLagP90Seconds": 2 * 86400 + 3600 + 5, "verdict": "Fail"}
    assert "label lag p90 2d1h: BELOW OBJECTIVE" in model_deployment({"metadata": {}, "status": {"quality": lag}})
    assert "label lag p90 42s" in model_deployment(
        {"metadata": {}, "status": {"quality": {**quality, "labelLagP90Seconds": 42}}}
    )
