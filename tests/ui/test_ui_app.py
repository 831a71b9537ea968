"""The app launcher (Voila command line, host check) and the demo seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from certkit import app
from certkit.demo import COLLECTION_NAME, seed_demo
from certkit.errors import InvalidInput
from certkit.model import CertState, Clearance, ListQuery
from certkit.ops import Certkit


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org", "::"])
def test_the_app_refuses_other_hosts(host: str) -> None:
    with pytest.raises(InvalidInput, match=r"front door \(issue 4\)"):
        app.run_app(None, 18866, host=host)


def test_the_app_refuses_a_bad_port() -> None:
    with pytest.raises(InvalidInput, match="Invalid port"):
        app.run_app(None, 0)


def test_the_voila_command_line() -> None:
    command = app.voila_command(app.NOTEBOOK, 18866)
    assert command[1:4] == ["-m", "voila", str(app.NOTEBOOK)]
    for flag in (
        "--no-browser",
        "--port=18866",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--template=certkit-offline",
    ):
        assert flag in command
    assert any(f.startswith("--MappingKernelManager.cull_idle_timeout=") for f in command)
    assert any(f.startswith("--MappingKernelManager.cull_interval=") for f in command)


def test_the_environment_carries_the_home_and_the_template(tmp_path: Path) -> None:
    env = app.voila_environment(tmp_path / "h")
    assert env["CERTKIT_HOME"] == str((tmp_path / "h").resolve())
    root = Path(env["JUPYTER_PATH"].split(":")[0])
    template = root / "voila" / "templates" / app.TEMPLATE
    source = (template / "index.html.j2").read_text()
    assert "extends 'lab/index.html.j2'" in source
    assert "cdn.jsdelivr.net" not in source
    assert (template / "conf.json").is_file()


def test_the_launcher_notebook_exists() -> None:
    assert app.launcher_notebook() == app.NOTEBOOK
    assert "certificates_page()" in app.NOTEBOOK.read_text()


def test_demo_seed_shows_every_kind_of_entry(kit: Certkit) -> None:
    seed_demo(kit)
    page = kit.list_certificates(ListQuery(limit=None))
    records = {r.name: r for r in page.records}
    assert {c for c, n in page.counts_by_clearance.items() if n} == {"Admin", "Operator", "User"}
    assert page.counts_by_state[CertState.EXPIRED.value] >= 2
    assert page.counts_by_state[CertState.EXPIRING.value] >= 2
    assert len(records[COLLECTION_NAME].collection) == 2
    assert any(r.two_factor for r in records.values())
    assert any(r.clearance is Clearance.CLUSTER_ADMIN for r in records.values())
    assert kit.well_known()
    seed_demo(kit)  # idempotent
    assert kit.list_certificates(ListQuery(limit=None)).total == page.total
