from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelops.train.dataset import DatasetError, Drift, generate, parse_synthetic, read


def test_csv_npz_and_synthetic_read_back_the_same_data(tmp_path: Path) -> None:
    data = generate(300, seed=4)
    data.write_csv(tmp_path / "d.csv")
    data.write_npz(tmp_path / "d.npz")
    for uri in (str(tmp_path / "d.csv"), (tmp_path / "d.npz").as_uri(), "synthetic://?rows=300&seed=4"):
        got = read(uri)
        assert got.numeric_names == data.numeric_names
        np.testing.assert_array_equal(got.numeric, data.numeric)
        np.testing.assert_array_equal(got.categorical["country"], data.categorical["country"])
        np.testing.assert_array_equal(got.labels, data.labels)


def test_synthetic_parameters() -> None:
    rows, seed, n_numeric, drift = parse_synthetic(
        "synthetic://?rows=50&seed=2&n_numeric=3&mean_shift=amount:0.5,hour=1&scale=hour:1.25&country_weight=NG:3"
        "&concept=0.3"
    )
    assert (rows, seed, n_numeric) == (50, 2, 3)
    assert drift == Drift({"amount": 0.5, "hour": 1.0}, {"hour": 1.25}, {"NG": 3.0}, 0.3)
    with pytest.raises(DatasetError, match="unknown synthetic parameters"):
        parse_synthetic("synthetic://?rowz=5")
    with pytest.raises(DatasetError, match="NAME=NUMBER"):
        parse_synthetic("synthetic://?mean_shift=amount")
    with pytest.raises(DatasetError, match="unknown features"):
        read("synthetic://?n_numeric=2&mean_shift=velocity:1")


def test_csv_detects_categorical_columns_and_word_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,kind,b,label\n1.5,x,2,true\n2.5,y,3,False\n")
    got = read(str(path), label="label")
    assert got.numeric_names == ["a", "b"] and got.categorical["kind"].tolist() == ["x", "y"]
    assert got.labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("a,is_fraud\n", "no rows"),
        ("a,b\n1,0\n", "no label column 'is_fraud'"),
        ("a,is_fraud\n1,0\nnan,1\n", "NaN or infinite values in \\['a'\\]"),
        ("a,is_fraud\n1,0\n,1\n", "numeric column 'a' has 1 missing values \\(first on line 3\\)"),
        ("a,c,is_fraud\n1,x,0\n2,,1\n", "categorical column 'c' has 1 missing"),
        ("a,is_fraud\n1,0\n2,2\n", "must be 0/1"),
        ("a,is_fraud\n1,0\n2\n", "line 3 has 1 fields"),
        ("a,a,is_fraud\n1,2,0\n", "duplicate column names"),
        ("is_fraud\n1\n", "no feature columns"),
    ],
)
def test_bad_csv_gives_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read(str(path))


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read: No such file"):
        read(str(tmp_path / "missing.csv"))
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DatasetError, match="cannot read"):
        read(str(tmp_path / "dir.csv"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"not a readable \.npz"):
        read(str(tmp_path / "bad.npz"))
    (tmp_path / "latin.csv").write_bytes(b"a,is_fraud\n\xe9,1\n")
    with pytest.raises(DatasetError, match="not UTF-8"):
        read(str(tmp_path / "latin.csv"))
    with pytest.raises(DatasetError, match="extension"):
        read(str(tmp_path / "data.parquet"))
    with pytest.raises(DatasetError, match="only file://"):
        read("s3://bucket/data.csv")


def test_npz_object_arrays_and_ragged_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, a=np.array([1.0, None], dtype=object), is_fraud=np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"not a readable \.npz"):
        read(str(path))
    np.savez(path, a=np.array([1.0, 2.0, 3.0]), is_fraud=np.array([0, 1]))
    with pytest.raises(DatasetError, match="same length"):
        read(str(path))
    np.savez(path, a=np.array([1.0, np.inf]), is_fraud=np.array([0, 1]))
    with pytest.raises(DatasetError, match="NaN or infinite"):
        read(str(path))
