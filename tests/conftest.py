"""Shared fixtures: a fresh certkit home per test, an injected clock, CLI runner."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certkit.ops import Certkit, open_certkit

START = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """An injected clock that tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.moment = now

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.certkit or key passphrase."""
    monkeypatch.setenv("CERTKIT_HOME", str(tmp_path / "default-home"))
    monkeypatch.delenv("CERTKIT_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("CERTKIT_DATABASE_URL", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def kit(home: Path, clock: FakeClock) -> Certkit:
    return open_certkit(home, clock=clock)


def registry_digest(kit: Certkit) -> str:
    """A digest of every row of every table: equal digests mean an unchanged registry."""
    digest = hashlib.sha256()
    with kit.registry.read() as tx:
        con = tx._con
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY table_name"
            ).fetchall()
        ]
        for table in tables:
            for row in con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall():
                digest.update(repr(row).encode())
    return digest.hexdigest()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[object]:
    """Run ``certkit --home HOME ...`` in-process and capture its output."""
    from certkit.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main(["--home", str(home), *args])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run
    os.environ.pop("CERTKIT_TEST_PASS", None)
