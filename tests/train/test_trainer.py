from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelops.api.v1alpha1.baseline import PROBABILITY_EDGES, Baseline
from modelops.models import Batch, load
from modelops.train import trainer
from modelops.train.dataset import Drift, generate
from modelops.train.metrics import auc

SYNTHETIC = "synthetic://?rows=6000&seed=1"


def run(tmp_path: Path, name: str, data: str = SYNTHETIC, **options: object) -> dict[str, object]:
    return trainer.train(trainer.Settings(data=data, out=tmp_path / name, model="fraud", version="v2", **options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("trained")
    return out / "a", run(out, "a")


def test_outputs_and_result(trained: tuple[Path, dict[str, object]]) -> None:
    out, result = trained
    assert sorted(p.name for p in out.iterdir()) == ["baseline.json", "metrics.json", "model.npz", "result.json"]
    artifact = (out / "model.npz").read_bytes()
    assert result["sha256"] == hashlib.sha256(artifact).hexdigest()
    assert result["uri"] == (out / "model.npz").resolve().as_uri()
    assert result["format"] == "numpy-linear" and result["baseline"] == "baseline.json"
    assert result["rows"] == 4800 and result["seed"] == 0 and result["data"] == SYNTHETIC
    assert json.loads((out / "result.json").read_text()) == result
    metrics = result["metrics"]
    assert isinstance(metrics, dict) and set(metrics) == {"auc", "accuracy", "logLoss", "positiveRate", "rows"}
    assert metrics["auc"] > 0.75 and metrics["rows"] == 1200
    details = json.loads((out / "metrics.json").read_text())
    assert details["holdout"] == metrics and details["fit"]["converged"] is True


def test_baseline_counts_the_training_rows(trained: tuple[Path, dict[str, object]]) -> None:
    out, result = trained
    document = Baseline.model_validate_json((out / "baseline.json").read_text())
    assert (document.model, document.version) == ("fraud", "v2")
    assert [f.name for f in document.features][-1] == "country"
    assert all(f.total == result["rows"] for f in document.features)
    assert document.predictions is not None and document.predictions.total == result["rows"]
    # 12 quantile buckets and, from 4,800 rows, the 1st and 99th percentiles as tail edges
    assert all(len(f.edges) == 13 for f in document.features if f.type == "numeric")
    # probabilities on fixed edges: every version's prediction histogram has the same buckets
    assert tuple(document.predictions.edges) == PROBABILITY_EDGES


def test_same_seed_same_bytes_other_seed_other_split(tmp_path: Path, trained: tuple[Path, dict[str, object]]) -> None:
    out, result = trained
    again = run(tmp_path, "again")
    assert (tmp_path / "again/model.npz").read_bytes() == (out / "model.npz").read_bytes()
    assert again["sha256"] == result["sha256"]
    assert (tmp_path / "again/baseline.json").read_bytes() == (out / "baseline.json").read_bytes()
    assert run(tmp_path, "other", seed=5)["sha256"] != result["sha256"]


def test_csv_npz_and_synthetic_give_the_same_model(tmp_path: Path, trained: tuple[Path, dict[str, object]]) -> None:
    data = generate(6000, seed=1)
    data.write_csv(tmp_path / "d.csv")
    data.write_npz(tmp_path / "d.npz")
    assert run(tmp_path, "csv", data=str(tmp_path / "d.csv"))["sha256"] == trained[1]["sha256"]
    assert run(tmp_path, "npz", data=(tmp_path / "d.npz").as_uri())["sha256"] == trained[1]["sha256"]


def test_the_model_loads_and_concept_drift_lowers_its_auc(trained: tuple[Path, dict[str, object]]) -> None:
    model = load(trained[0] / "model.npz")
    metrics = trained[1]["metrics"]
    assert isinstance(metrics, dict)

    def holdout_auc(drift: Drift) -> float:
        data = generate(4000, seed=99, drift=drift)
        return auc(data.labels, model.predict(Batch(data.numeric, data.categorical)))

    same, drifted = holdout_auc(Drift()), holdout_auc(Drift(concept=0.6))
    assert same == pytest.approx(metrics["auc"], abs=0.03)
    assert drifted < same - 0.1


def test_unseen_categories_score_without_error(trained: tuple[Path, dict[str, object]]) -> None:
    model = load(trained[0] / "model.npz")
    numeric = np.zeros((2, 8))
    scores = model.predict(Batch(numeric, {"country": np.array(["US", "ZZ"])}))
    assert np.all((scores > 0) & (scores < 1))


def test_one_class_and_tiny_data_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,is_fraud\n" + "".join(f"{i},0\n" for i in range(20)))
    with pytest.raises(trainer.TrainError, match="only label 0"):
        run(tmp_path, "x", data=str(path))
    with pytest.raises(trainer.TrainError, match="cannot be split"):
        run(tmp_path, "y", data="synthetic://?rows=1")


def test_settings_are_validated() -> None:
    with pytest.raises(trainer.TrainError, match="DNS label"):
        trainer.Settings(data="x.csv", out=Path("o"), model="Fraud_Model")
    with pytest.raises(trainer.TrainError, match="label value"):
        trainer.Settings(data="x.csv", out=Path("o"), version="v 2")
    with pytest.raises(trainer.TrainError, match="holdout"):
        trainer.Settings(data="x.csv", out=Path("o"), holdout=1.0)
    with pytest.raises(trainer.TrainError, match="buckets"):
        trainer.Settings(data="x.csv", out=Path("o"), buckets=66)


def test_environment_fallbacks_and_flag_overrides() -> None:
    env = {
        "MODELOPS_MODEL_NAME": "fraud",
        "MODELOPS_NEXT_VERSION": "v9",
        "MODELOPS_OUTPUT_URI": "file:///models/fraud/v9",
        "MODELOPS_DATA_URI": "synthetic://?rows=100",
        "MODELOPS_TRIGGER": "drift",
        "MODELOPS_SEED": "7",
    }
    settings = trainer.resolve({"data": None, "out": None, "seed": None, "holdout": 0.3}, env)
    assert settings == trainer.Settings(
        data="synthetic://?rows=100",
        out=Path("/models/fraud/v9"),
        model="fraud",
        version="v9",
        seed=7,
        holdout=0.3,
        trigger="drift",
    )
    flags = {"data": "d.csv", "out": Path("here"), "seed": 1, "model": "m", "version": "v1"}
    overridden = trainer.resolve(flags, env)
    assert (overridden.data, overridden.out, overridden.seed, overridden.model) == ("d.csv", Path("here"), 1, "m")
    with pytest.raises(trainer.TrainError, match="MODELOPS_OUTPUT_URI"):
        trainer.resolve({"data": "d.csv"}, {})
    with pytest.raises(trainer.TrainError, match="MODELOPS_DATA_URI"):
        trainer.resolve({"out": Path("o")}, {})
    with pytest.raises(trainer.TrainError, match="only file://"):
        trainer.resolve({"data": "d.csv"}, {"MODELOPS_OUTPUT_URI": "pvc://claim/models"})
    with pytest.raises(trainer.TrainError, match="MODELOPS_SEED"):
        trainer.resolve({"data": "d.csv", "out": Path("o")}, {"MODELOPS_SEED": "x"})


def test_termination_message_drops_detail_instead_of_cutting_json() -> None:
    result: dict[str, Any] = {"model": "m", "version": "v", "uri": "file:///m", "sha256": "0" * 64}
    result["format"] = "numpy-linear"
    result |= {"metrics": {"auc": 0.9, "accuracy": 0.8, "logLoss": 0.3, "positiveRate": 0.2, "rows": 10}}
    assert json.loads(trainer.termination_message(result)) == result
    long = {**result, "data": "synthetic://?" + "x" * 4000}
    message = trainer.termination_message(long)
    assert len(message.encode()) < 4096 and "data" not in json.loads(message)
    assert json.loads(message)["metrics"] == {"auc": 0.9, "accuracy": 0.8, "logLoss": 0.3}
    assert json.loads(message)["sha256"] == "0" * 64
    huge = {**long, "uri": "file:///" + "m" * 5000}
    with pytest.raises(trainer.TrainError, match="does not fit"):
        trainer.termination_message(huge)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")

    def fail(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", fail)
    with pytest.raises(OSError, match="No space"):
        trainer.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
