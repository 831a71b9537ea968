"""The notebooks are launchers: a few code lines, no outputs, and they run under nbval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def _code_lines(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            lines += [line for line in source.splitlines() if line.strip()]
    return lines


def test_the_two_pages_have_notebooks() -> None:
    assert {p.name for p in PATHS} >= {"certificates.ipynb", "explore.ipynb"}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_notebook_is_a_launcher_without_outputs(path: Path) -> None:
    document = json.loads(path.read_text())
    assert document["metadata"]["kernelspec"]["name"] == "python3"
    assert len(_code_lines(path)) <= 5, "a notebook only imports and calls a page builder"
    for cell in document["cells"]:
        assert not cell.get("outputs"), f"{path.name} is committed with outputs"
        assert cell.get("execution_count") is None


@pytest.mark.slow
def test_notebooks_run_under_nbval(tmp_path: Path) -> None:
    """``pytest --nbval-lax --nbval-current-env notebooks/``; notebooks/conftest.py points
    CERTKIT_HOME at a temporary home for the kernels."""
    env = dict(os.environ)
    env.pop("CERTKIT_HOME", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(NOTEBOOKS),
        ],
        cwd=NOTEBOOKS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"{len(PATHS)} passed" in result.stdout
