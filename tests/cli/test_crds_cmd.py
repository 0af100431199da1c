from __future__ import annotations

from pathlib import Path

from modelops.cli.main import main


def test_out_then_check_passes(tmp_path: Path) -> None:
    assert main(["crds", "--out", str(tmp_path)]) == 0
    assert main(["crds", "--check", str(tmp_path)]) == 0


def test_check_fails_on_an_edited_or_missing_file(tmp_path: Path, capsys: object) -> None:
    main(["crds", "--out", str(tmp_path)])
    edited = tmp_path / "modelops.dev_modeldeployments.yaml"
    edited.write_text(edited.read_text().replace("Lifecycle phase", "edited"))
    (tmp_path / "modelops.dev_driftmonitors.yaml").unlink()
    assert main(["crds", "--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "modeldeployments" in err and "driftmonitors" in err and "make crds" in err
