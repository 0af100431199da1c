"""Find the modelops checkout the dev stack works from (the stack applies its generated CRDs).

The dev stack is an installed distribution, not a fixed depth inside the product's tree, so
it looks for the checkout by its marker files, from this file (an editable install) and
from the working directory, and says what it looked for when there is none.
"""

from __future__ import annotations

from pathlib import Path

# files only a modelops checkout has at its top
MARKERS = ("pyproject.toml", "crds/modelops.dev_modeldeployments.yaml", "charts/modelops-operator/Chart.yaml")


class RepoNotFoundError(RuntimeError):
    """Neither this package nor the working directory is inside a modelops checkout."""


def is_root(directory: Path) -> bool:
    return all((directory / marker).is_file() for marker in MARKERS)


def find_root(*starts: Path) -> Path:
    """The nearest directory at or above one of `starts` that holds every marker file."""
    starts = starts or (Path(__file__).resolve().parent, Path.cwd().resolve())
    for start in starts:
        for directory in (start, *start.parents):
            if is_root(directory):
                return directory
    looked = ", ".join(str(s) for s in starts)
    raise RepoNotFoundError(f"no modelops checkout (a directory with {', '.join(MARKERS)}) at or above {looked}")


def crds_dir(root: Path | None = None) -> Path:
    """The generated CRDs the stack installs (`make crds` writes them)."""
    return (root or find_root()) / "crds"
