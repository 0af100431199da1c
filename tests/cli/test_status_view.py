from __future__ import annotations

from modelops.cli.status_view import model_deployment, table


def test_table_aligns_columns() -> None:
    assert table(("A", "BB"), [("xxx", None), ("y", 2)]).splitlines() == ["A    BB", "xxx", "y    2"]


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
                    {"name": "error-rate", "verdict": "Fail", "value": 0.1, "threshold": "<= 0.01",
                     "samples": 400, "reason": "canary errors 10% over 1m"},
                ],
            },
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Valid", "message": "spec is valid"}],
        },
    }  # fmt: skip
    text = model_deployment(obj)
    assert "ModelDeployment ml/fraud" in text
    assert "operator has not seen the latest spec" in text
    assert "v2 (1/1 ready)  weight 10%" in text
    assert "error-rate  Fail     0.1    <= 0.01" in text and "canary errors 10% over 1m" in text
    assert "Accepted   True" in text
