"""Static checks of the Dockerfile (no Docker needed): pinned bases, non-root, a real entrypoint."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
VALUES = REPO / "charts" / "modelops-operator" / "values.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int


def parse(text: str) -> list[Instruction]:
    """Dockerfile instructions with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        keyword, _, value = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip(), start))
        pending = []
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction]


def stages(instructions: list[Instruction]) -> list[Stage]:
    out: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = [w for w in ins.value.split() if not w.startswith("--")]
            assert len(words) == 1 or (len(words) == 3 and words[1].upper() == "AS"), (
                f"line {ins.line}: cannot parse FROM {ins.value}"
            )
            name = words[2] if len(words) == 3 else None
            out.append(Stage(words[0], name, []))
        else:
            assert out or ins.keyword == "ARG", f"line {ins.line}: {ins.keyword} before the first FROM"
            if out:
                out[-1].instructions.append(ins)
    return out


def exec_form(ins: Instruction) -> list[str]:
    value = json.loads(ins.value)
    assert isinstance(value, list), f"line {ins.line}: {ins.keyword} must be in exec (JSON) form"
    assert all(isinstance(v, str) for v in value)
    return value


def last(stage: Stage, keyword: str) -> Instruction:
    found = [i for i in stage.instructions if i.keyword == keyword]
    assert found, f"the final stage has no {keyword}"
    return found[-1]


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(instructions: list[Instruction]) -> Stage:
    return stages(instructions)[-1]


def test_multi_stage(instructions: list[Instruction]) -> None:
    assert len(stages(instructions)) >= 2


def test_every_base_image_is_pinned(instructions: list[Instruction]) -> None:
    seen: set[str] = set()
    for stage in stages(instructions):
        if stage.image in seen:  # FROM an earlier stage
            continue
        image = stage.image
        assert "$" not in image, f"{image}: base images are written out, not taken from build args"
        if "@sha256:" in image:
            assert re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", image), image
        else:
            last_segment = image.rsplit("/", 1)[-1]
            assert ":" in last_segment, f"{image} is not pinned to a tag"
            tag = last_segment.split(":", 1)[1]
            assert tag not in {"", "latest"}, f"{image} is not pinned to a specific tag"
            assert re.search(r"\d", tag), f"{image}: tag {tag!r} names no version"
        if stage.name:
            seen.add(stage.name)


def test_final_stage_runs_as_numeric_non_root(final: Stage) -> None:
    user = last(final, "USER").value
    uid, _, gid = user.partition(":")
    # numeric, so the kubelet can enforce runAsNonRoot without resolving names
    assert uid.isdigit(), f"USER {user} must be a numeric uid"
    assert int(uid) != 0
    if gid:
        assert gid.isdigit()
        assert int(gid) != 0
    # the chart runs the pod as the same uid
    values = yaml.safe_load(VALUES.read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["securityContext"]["runAsUser"] == int(uid)


def test_entrypoint_is_the_console_script(final: Stage) -> None:
    entrypoint = exec_form(last(final, "ENTRYPOINT"))
    assert entrypoint == ["modelops"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint[0] in scripts
    assert scripts["modelops"] == "modelops.cli.main:main"
    assert exec_form(last(final, "CMD")) == ["operator"]


def test_exposes_the_chart_ports(final: Stage) -> None:
    exposed = {p.split("/")[0] for i in final.instructions if i.keyword == "EXPOSE" for p in i.value.split()}
    values = yaml.safe_load(VALUES.read_text())
    assert exposed == {str(values["metrics"]["port"]), str(values["health"]["port"])}


def test_python_env(final: Stage) -> None:
    env: dict[str, str] = {}
    for ins in final.instructions:
        if ins.keyword == "ENV":
            for word in shlex.split(ins.value):
                key, sep, value = word.partition("=")
                assert sep, f"line {ins.line}: use ENV KEY=value"
                env[key] = value
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_wheels_are_built_and_installed(instructions: list[Instruction], final: Stage) -> None:
    builder_runs = " ".join(
        i.value for stage in stages(instructions)[:-1] for i in stage.instructions if i.keyword == "RUN"
    )
    assert "pip wheel --no-deps" in builder_runs
    final_runs = " ".join(i.value for i in final.instructions if i.keyword == "RUN")
    assert "/opt/modelops" in final_runs
    assert "--no-index" in final_runs  # only the builder's wheels, nothing fetched at this stage


def test_oci_labels(final: Stage) -> None:
    labels = " ".join(i.value for i in final.instructions if i.keyword == "LABEL")
    for key in ("title", "description", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_no_remote_add(instructions: list[Instruction]) -> None:
    for ins in instructions:
        if ins.keyword == "ADD":
            assert not re.search(r"(^|\s)(https?|git)://|(^|\s)git@", ins.value), (
                f"line {ins.line}: ADD of a remote source; download with a checksum in RUN instead"
            )


def test_dockerignore_keeps_local_state_out() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for pattern in (".git", ".venv", "**/__pycache__", "**/.pytest_cache", "build", "dist"):
        assert pattern in ignored
    # what the builder copies must stay in the context
    for needed in ("pyproject.toml", "README.md", "operator"):
        assert needed not in ignored


def test_the_image_carries_no_dev_stack(instructions: list[Instruction]) -> None:
    """The dev/test stack (devcluster/) is its own distribution: not in the build context or the wheel."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "devcluster" in {line.strip() for line in lines}
    for ins in instructions:
        if ins.keyword in {"COPY", "ADD"}:
            assert "devcluster" not in ins.value, f"line {ins.line}: {ins.keyword} {ins.value}"
    builder_runs = " ".join(i.value for i in instructions if i.keyword == "RUN")
    assert "'devcluster' in n for n in names" in builder_runs  # the builder rejects a wheel that carries it


# extra -> the module it makes importable: the model formats and the s3:// store
MODEL_FORMAT_EXTRAS = {"sklearn": "sklearn", "onnx": "onnxruntime", "s3": "boto3"}


def _default_model_extras(instructions: list[Instruction]) -> str:
    """The global `ARG MODEL_EXTRAS=...` (before the first FROM), redeclared in every stage that uses it."""
    first_from = next(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    declared = [ins.value for ins in instructions[:first_from] if ins.keyword == "ARG"]
    (default,) = [v.split("=", 1)[1] for v in declared if v.startswith("MODEL_EXTRAS=")]
    return default


def test_the_default_image_loads_every_model_format_the_examples_use(instructions: list[Instruction]) -> None:
    extras = _default_model_extras(instructions).split(",")
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) == {e for e in optional if e != "dev"} == set(MODEL_FORMAT_EXTRAS)
    for stage in stages(instructions):
        uses = any("MODEL_EXTRAS" in i.value for i in stage.instructions if i.keyword == "RUN")
        assert not uses or any(i.keyword == "ARG" and i.value == "MODEL_EXTRAS" for i in stage.instructions), (
            f"stage {stage.name or stage.image} uses MODEL_EXTRAS without redeclaring the global ARG"
        )


def test_the_builders_requirements_are_the_dependencies_and_the_extras(
    instructions: list[Instruction], tmp_path: Path
) -> None:
    """Run the builder's requirement one-liner, as written, under sh: it must list what pip wheel needs."""
    import subprocess
    import sys

    (run,) = [
        i.value
        for stage in stages(instructions)[:-1]
        for i in stage.instructions
        if i.keyword == "RUN" and "requirements.txt" in i.value
    ]
    command = run.split(" > /tmp/requirements.txt")[0].replace("python -c", f"{shlex.quote(sys.executable)} -c", 1)
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def requirements(extras: str) -> list[str]:
        env = {"MODEL_EXTRAS": extras, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        return out.stdout.splitlines()

    default = _default_model_extras(instructions)
    wanted = project["dependencies"] + [r for e in default.split(",") for r in project["optional-dependencies"][e]]
    assert requirements(default) == wanted
    assert any(r.startswith("scikit-learn") for r in wanted) and any(r.startswith("onnxruntime") for r in wanted)
    assert requirements("") == project["dependencies"]  # the numpy-linear-only variant


def test_the_runtime_installs_the_extras_and_imports_their_runtimes(final: Stage) -> None:
    (run,) = [i.value for i in final.instructions if i.keyword == "RUN" and "pip install" in i.value]
    assert '"${wheel}${MODEL_EXTRAS:+[$MODEL_EXTRAS]}"' in run  # the wheel with its extras, from /wheels only
    assert "--no-index" in run
    assert str(MODEL_FORMAT_EXTRAS).replace('"', "'") in run  # the build fails if a runtime does not import
    assert any(i.keyword == "ARG" and i.value == "MODEL_EXTRAS" for i in final.instructions)
