"""certkit.ui calls the Certkit facade and model values only (DESIGN.md section 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import certkit.ui

FORBIDDEN = (
    "certkit.registry",
    "certkit.pki",
    "certkit.totp",
    "certkit.qr",
    "certkit.secretbox",
    "certkit.cli",
    "duckdb",
)
UI = Path(certkit.ui.__file__).parent


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_ui_uses_only_the_facade() -> None:
    for path in sorted(UI.glob("*.py")):
        bad = [m for m in imports(path) if m.startswith(FORBIDDEN)]
        assert not bad, f"{path.name} imports {bad}"


def test_no_builder_displays_anything() -> None:
    for path in sorted(UI.glob("*.py")):
        source = path.read_text()
        assert "display(" not in source, path.name


def test_modules_stay_small() -> None:
    for path in sorted(UI.glob("*.py")):
        assert len(path.read_text().splitlines()) <= 400, path.name
