from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelops.cli.main import main
from modelops.train.dataset import read


def test_train_prints_one_json_line_and_writes_the_termination_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELOPS_TRIGGER", "manual")
    log = tmp_path / "termination-log"
    args = ["--data", "synthetic://?rows=3000&seed=2", "--out", str(tmp_path / "out"), "--model", "fraud"]
    code = main(["train", *args, "--version", "v3", "--termination-log", str(log)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert stdout.endswith("\n") and stdout.count("\n") == 1
    result = json.loads(stdout)
    assert result["model"] == "fraud" and result["version"] == "v3" and result["trigger"] == "manual"
    assert len(log.read_bytes()) < 4096 and json.loads(log.read_text()) == result


def test_train_errors_go_to_stderr_and_the_termination_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "termination-log"
    code = main(["train", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path), "--termination-log", str(log)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "none.csv: cannot read" in captured.err
    assert "none.csv: cannot read" in json.loads(log.read_text())["error"]


def test_dataset_writes_drifted_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, shifted = tmp_path / "base.npz", tmp_path / "shifted.csv"
    assert main(["dataset", "--rows", "2000", "--seed", "1", "--out", str(base)]) == 0
    args = ["--mean-shift", "amount=1", "--scale", "hour=2", "--country-weight", "NG=5", "--concept", "0.5"]
    assert main(["dataset", "--rows", "2000", "--seed", "1", "--out", str(shifted), *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1])["rows"] == 2000
    a, b = read(str(base)), read(str(shifted))
    amount, hour = a.numeric_names.index("amount"), a.numeric_names.index("hour")
    assert b.numeric[:, amount].mean() - a.numeric[:, amount].mean() > 0.8
    assert b.numeric[:, hour].std() / a.numeric[:, hour].std() > 1.7
    assert np.mean(b.categorical["country"] == "NG") > 2 * np.mean(a.categorical["country"] == "NG")


def test_dataset_refuses_bad_knobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "--out", str(tmp_path / "d.parquet")]) == 1
    assert main(["dataset", "--rows", "10", "--mean-shift", "nope=1", "--out", str(tmp_path / "d.csv")]) == 1
    err = capsys.readouterr().err
    assert ".csv or .npz" in err and "unknown features ['nope']" in err
    assert not list(tmp_path.iterdir())
