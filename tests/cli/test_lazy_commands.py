"""Only `modelops operator` imports the operator: the commands model pods run stay light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from modelops.cli.main import COMMANDS, command

OPERATOR = ("kopf", "modelops.controllers")
PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)))
"""


def _imported(setup: str) -> list[str]:
    """Which of OPERATOR a fresh interpreter has imported after running `setup`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELOPS_")}
    code = PROBE.format(setup=setup, modules=OPERATOR)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    imported: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return imported


def _run(argv: list[str]) -> str:
    return f"from modelops.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"operator"}))
def test_other_commands_do_not_import_kopf_or_the_controllers(name: str) -> None:
    assert _imported(_run([name, "--help"])) == []


def test_serve_runs_without_the_operator() -> None:
    # past the parser into `run`, which imports the model server, then stops: no --name given
    assert _imported(_run(["serve", "--model", "/nonexistent/model.npz"])) == []


def test_the_probe_sees_the_operator_when_it_is_imported() -> None:
    assert _imported("import modelops.controllers") == sorted(OPERATOR)


def test_command_is_the_first_argument_that_is_not_an_option() -> None:
    assert command(["--version", "serve", "--model", "train"]) == "serve"
    assert command(["--help"]) is None
    assert command(["bogus"]) is None
