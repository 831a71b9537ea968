"""The layering of DESIGN.md section 1, checked on the imports of every module."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "certkit"

# module prefix -> imports it must never make
FORBIDDEN = {
    "certkit.model": ["certkit.ops", "certkit.registry", "certkit.pki", "cryptography", "duckdb"],
    "certkit.errors": ["certkit."],
    "certkit.pki": ["duckdb", "certkit.registry", "certkit.ops", "certkit.ui", "ipywidgets"],
    "certkit.totp": ["duckdb", "certkit.registry", "certkit.ops", "ipywidgets"],
    "certkit.qr": ["duckdb", "certkit.registry", "certkit.ops", "ipywidgets"],
    "certkit.secretbox": ["duckdb", "certkit.registry", "certkit.ops", "ipywidgets"],
    "certkit.registry": ["cryptography", "certkit.pki", "certkit.ops", "certkit.ui", "ipywidgets"],
    "certkit.authz": ["duckdb", "certkit.registry", "certkit.ops", "ipywidgets"],
    "certkit.access": ["duckdb", "certkit.registry", "certkit.ops", "ipywidgets"],
    "certkit.ops": ["ipywidgets", "certkit.ui", "certkit.cli", "voila"],
    "certkit.cli": ["certkit.registry", "certkit.pki", "certkit.ui", "duckdb", "ipywidgets"],
    "certkit.service": ["certkit.registry", "duckdb", "certkit.ui", "certkit.cli", "ipywidgets"],
    "certkit.ui": ["certkit.registry", "certkit.pki", "duckdb", "certkit.cli"],
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        found.append((name, path))
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_layering(module: str, path: Path) -> None:
    rules = [bad for prefix, bads in FORBIDDEN.items() if module.startswith(prefix) for bad in bads]
    imported = _imports(path)
    violations = sorted(
        name
        for name in imported
        for bad in rules
        if name == bad.rstrip(".") or name.startswith(bad)
    )
    assert not violations, f"{module} imports {violations}, against DESIGN.md's layering"


def test_notebooks_only_launch() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for notebook in notebooks:
        cells = json.loads(notebook.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        lines = [
            line
            for cell in code
            for line in "".join(cell["source"]).splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        assert len(lines) <= 12, (
            f"{notebook.name} has {len(lines)} code lines; move logic to certkit"
        )
        assert not any(c.get("outputs") for c in code), f"{notebook.name} has stored outputs"
        for line in lines:
            if line.startswith(("import ", "from ")):
                assert line.split()[1].startswith("certkit"), f"{notebook.name}: {line}"
