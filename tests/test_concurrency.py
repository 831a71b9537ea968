"""Several processes on one registry, and a failure in the middle of a bulk upload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cryptography import x509

from certkit import pki
from certkit.errors import NotFound
from certkit.model import CertificateRecord
from certkit.ops import Certkit, open_certkit
from certkit.registry import Store
from tests.conftest import CertFactory, registry_digest

PER_PROCESS = 8
CERTKIT = [sys.executable, "-m", "certkit"]


def _env() -> dict[str, str]:
    # a generous busy timeout: on a loaded CI machine the other process may hold the file a while
    return {**os.environ, "CERTKIT_BUSY_TIMEOUT": "60"}


def _worker(
    home: Path, out: Path, prefix: str, results: list[subprocess.CompletedProcess[str]]
) -> None:
    """Generate PER_PROCESS certificates one after another, each by a real certkit process."""
    for number in range(PER_PROCESS):
        results.append(
            subprocess.run(
                [
                    *CERTKIT,
                    "--home",
                    str(home),
                    "generate",
                    f"{prefix}-{number}",
                    "--clearance",
                    "User",
                    "--out",
                    str(out),
                    "--json",
                ],
                capture_output=True,
                text=True,
                timeout=300,
                env=_env(),
            )
        )


def _run_together(jobs: Sequence[threading.Thread]) -> None:
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=600)
        assert not job.is_alive()


@pytest.mark.slow
def test_two_processes_generate_into_one_home_at_once(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    subprocess.run([*CERTKIT, "--home", str(home), "init"], check=True, capture_output=True)
    results: dict[str, list[subprocess.CompletedProcess[str]]] = {"left": [], "right": []}
    _run_together(
        [
            threading.Thread(target=_worker, args=(home, out, side, results[side]))
            for side in results
        ]
    )
    made: list[dict[str, Any]] = []
    for side, runs in results.items():
        assert len(runs) == PER_PROCESS
        for run in runs:
            assert run.returncode == 0, (side, run.stderr)
            assert "Traceback" not in run.stderr
            made.append(json.loads(run.stdout))
    listed = subprocess.run(
        [*CERTKIT, "--home", str(home), "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    records = json.loads(listed.stdout)
    assert len(records) == 2 * PER_PROCESS
    assert {r["thumbprint"] for r in records} == {m["thumbprint"] for m in made}
    assert sorted(r["name"] for r in records) == sorted(
        f"{side}-{n}" for side in results for n in range(PER_PROCESS)
    )
    assert len(list(out.glob("*.zip"))) == 2 * PER_PROCESS


def _race_first_use(home: Path, out: Path) -> list[subprocess.CompletedProcess[str]]:
    processes = [
        subprocess.Popen(
            [
                *CERTKIT,
                "--home",
                str(home),
                "generate",
                name,
                "--clearance",
                "User",
                "--out",
                str(out),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for name in ("first", "second")
    ]
    finished = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        finished.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    return finished


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_first_use_of_a_new_home_makes_one_ca_and_one_server_certificate(
    tmp_path: Path, attempt: int
) -> None:
    home, out = tmp_path / f"new-home-{attempt}", tmp_path / "out"
    runs = _race_first_use(home, out)
    for run in runs:
        assert run.returncode == 0, run.stderr
    kit = open_certkit(home)
    assert len(kit.server_certificates(history=True)) == 1
    assert len(list(home.glob("server-*.pfx"))) == 1
    with kit.registry.read() as tx:
        initialised = [e for e in tx.audit_events() if e.action == "initialise"]
        ca_thumbprint = tx.get_meta("ca_thumbprint")
    assert len(initialised) == 1
    ca = kit.authority().certificate
    assert pki.thumbprint(ca) == ca_thumbprint
    assert x509.load_pem_x509_certificate((home / "ca.crt").read_bytes()) == ca
    _, server, _ = kit.server_identity()
    assert pki.issued_by(server, ca)
    for run in runs:  # both processes issued with the one CA that the home keeps
        record = json.loads(run.stdout)
        found = kit.show(record["thumbprint"])
        assert isinstance(found, CertificateRecord)
        assert found.issuer == ca.subject.rfc4514_string()
        with zipfile.ZipFile(record["zip"]) as archive:
            issued = x509.load_pem_x509_certificate(archive.read(f"{record['name']}.crt"))
        assert pki.issued_by(issued, ca)
    assert kit.list_certificates().total == 2


# ---------------------------------------------------------------------- failed bulk upload


@pytest.fixture
def bulk(kit: Certkit, certs: CertFactory) -> tuple[bytes, list[str]]:
    kit.initialise(hostnames=["localhost"])
    kit.generate_client_certificate("already here", permissions={"HR": "Read"})
    members = [certs.client(f"bulk {i}")[1] for i in range(25)]
    return certs.pem(certs.ca, *members), [pki.thumbprint(c) for c in members]


def _assert_nothing_registered(kit: Certkit, thumbprints: list[str], before: str) -> None:
    assert registry_digest(kit) == before
    for thumbprint in thumbprints:
        with pytest.raises(NotFound):
            kit.show(thumbprint)
    assert [r.name for r in kit.list_certificates().records] == ["already here"]


def test_a_failure_at_the_second_insert_of_a_bulk_upload_leaves_the_registry_unchanged(
    kit: Certkit,
    certs: CertFactory,
    bulk: tuple[bytes, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entries INSERT succeeds, then the certificates INSERT fails (on the primary key of
    a certificate that the duplicate check was made to miss): everything is rolled back."""
    data, thumbprints = bulk
    last = x509.load_pem_x509_certificates(data)[-1]
    kit.register(certs.pem(last), clearance="User", name="collider")
    before = registry_digest(kit)
    inserted: list[int] = []
    original_insert = Store.insert_entries

    def counting_insert(self: Store, entries: Any) -> list[int]:
        inserted.append(len(entries))
        return original_insert(self, entries)

    monkeypatch.setattr(Store, "registered_thumbprints", lambda self, thumbprints: [])
    monkeypatch.setattr(Store, "insert_entries", counting_insert)
    with pytest.raises(duckdb.ConstraintException):
        kit.register(data, clearance="User", each=True, source="bulk.pem")
    assert inserted == [25]
    monkeypatch.undo()
    assert registry_digest(kit) == before
    for thumbprint in thumbprints[:-1]:
        with pytest.raises(NotFound):
            kit.show(thumbprint)
    assert sorted(r.name for r in kit.list_certificates().records) == ["already here", "collider"]


def test_a_failing_audit_many_rolls_back_the_inserted_entries(
    kit: Certkit, bulk: tuple[bytes, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, thumbprints = bulk
    before = registry_digest(kit)
    seen: list[int] = []

    def failing_audit(self: Store, **kwargs: Any) -> None:
        seen.append(self.count_entries())  # the entries are in, inside the transaction
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(Store, "audit_many", failing_audit)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        kit.register(data, clearance="User", each=True)
    assert seen == [1 + 25]
    monkeypatch.undo()
    _assert_nothing_registered(kit, thumbprints, before)
