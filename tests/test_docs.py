"""The README stays in step with the code (datasette's habit)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import certkit
from certkit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", certkit.__all__)
def test_public_name_in_readme(name: str) -> None:
    assert f"`{name}`" in README, f"{name} is public but not in the README"
    assert getattr(certkit, name) is not None


def test_notebooks_in_readme() -> None:
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{notebook.name}" in README


def test_readme_opens_with_the_two_setup_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert [c for c in commands if c] == ["./run app", "./run test"]
    assert "./run test" in (ROOT / ".ci" / "run").read_text()


def test_every_cli_command_in_readme() -> None:
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert subcommands is not None
    for command in subcommands:
        assert re.search(rf"certkit {command}\b", README), f"'certkit {command}' is not in README"
