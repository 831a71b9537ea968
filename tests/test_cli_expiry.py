"""``certkit expiry`` and ``certkit purge``: exit codes, --json and --csv, confirmation.

Run through ``certkit.cli.main`` once ``expiry`` and ``purge`` are wired into it; until
then through :func:`certkit.cli_expiry.add_parsers` and the handlers, with main's error
handling (one ``error:`` line, the error's exit code).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from certkit import cli_expiry
from certkit.cli import build_parser
from certkit.errors import CertkitError
from certkit.ops import Certkit
from tests.conftest import on_both_backends

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL

DAY = timedelta(days=1)
Run = Callable[..., Any]


class Done:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def _wired() -> bool:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    return commands is not None and {"expiry", "purge"} <= set(commands)


@pytest.fixture
def run(kit: Certkit, cli: Any, capsys: pytest.CaptureFixture[str]) -> Run:
    if _wired():
        return lambda *args: cli(*args)  # type: ignore[no-any-return]

    parser = argparse.ArgumentParser(prog="certkit")
    cli_expiry.add_parsers(parser.add_subparsers(dest="command", required=True))
    handlers = {"expiry": cli_expiry.expiry_command, "purge": cli_expiry.purge_command}

    def local(*args: str) -> Done:
        capsys.readouterr()
        try:
            parsed = parser.parse_args(args)
            code = handlers[parsed.command](kit, parsed)
        except CertkitError as error:
            print(f"error: {error.message}", file=sys.stderr)
            code = error.exit_code
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Done(code, captured.out, captured.err)

    return local


@pytest.fixture
def registry(kit: Certkit, clock: Any) -> dict[str, str]:
    """At START: expired 40 days ago, expiring in 10 days, in 45 days, in a year, and one
    in 5 days that was renewed."""
    start = clock.moment
    made = {}
    for name, registered, expires in (
        ("gone", -100, -40),
        ("soon", -100, 10),
        ("later", -100, 45),
        ("fine", -100, 365),
        ("renewed", -100, 5),
    ):
        clock.moment = start + registered * DAY
        made[name] = kit.generate_client_certificate(
            name, expires=(expires - registered) * DAY
        ).record.thumbprint
    clock.moment = start
    made["renewal"] = kit.renew(made["renewed"]).record.thumbprint
    return made


def test_expiry_lists_what_expires_within_the_window(run: Run, registry: dict[str, str]) -> None:
    done = run("expiry", "--json")
    assert done.code == 0, done.err
    rows = json.loads(done.out)  # not "gone" (expired already), nor the renewed one
    assert [(r["name"], r["level"], r["days_left"]) for r in rows] == [("soon", "warning", 10.0)]
    assert rows[0]["thumbprint"] == registry["soon"]
    assert {"kind", "clearance", "permissions", "not_after", "state", "collection"} <= set(rows[0])
    assert rows[0]["state"] == "expiring"
    wider = json.loads(run("expiry", "--within", "60d", "--json").out)
    assert [r["name"] for r in wider] == ["soon", "later"]
    text = run("expiry").out
    assert "Client certificates expiring within 30 days: 1" in text
    assert "(1 expired client certificate(s) still registered" in text


def test_expiry_fail_exit_codes(run: Run, registry: dict[str, str], kit: Certkit) -> None:
    assert run("expiry", "--fail").code == 1
    assert run("expiry").code == 0  # without --fail it only reports
    kit.purge_expired()
    kit.renew(registry["soon"])
    done = run("expiry", "--fail")
    assert done.code == 0, done.out
    assert "Client certificates expiring within 30 days: 0" in done.out
    assert run("expiry", "--fail", "--within", "8w").code == 1  # "later", in 45 days


def test_expiry_fails_on_an_empty_registry_never(run: Run) -> None:
    done = run("expiry", "--fail", "--json")
    assert (done.code, json.loads(done.out)) == (0, [])


def test_expiry_csv(run: Run, registry: dict[str, str]) -> None:
    done = run("expiry", "--csv", "--within", "60d")
    assert done.code == 0
    rows = list(csv.DictReader(io.StringIO(done.out)))
    assert list(rows[0]) == list(cli_expiry.CSV_COLUMNS)
    assert [(r["kind"], r["name"], r["level"], r["days_left"]) for r in rows] == [
        ("client", "soon", "warning", "10.0"),
        ("client", "later", "warning", "45.0"),
    ]
    assert rows[0]["thumbprint"] == registry["soon"] and rows[0]["clearance"] == "ValidUser"
    assert rows[0]["node"] == "" and rows[0]["not_after"].endswith("Z")


def test_the_server_certificate_thresholds(run: Run, kit: Certkit, clock: Any) -> None:
    server = kit.server_certificates()[0]  # no client certificates: the server alone
    done = run("expiry")
    assert "warning within 20 days, error within 3 days" in done.out
    assert f"OK       Server certificate (node A): {server.thumbprint}" in done.out
    for days_before, level, code in ((25, None, 0), (15, "warning", 1), (2, "error", 1)):
        clock.moment = server.not_after - days_before * DAY
        done = run("expiry", "--fail", "--json", "--within", "1d")
        rows = [r for r in json.loads(done.out) if r["kind"] == "server"]
        assert [r["level"] for r in rows] == ([level] if level else []), days_before
        assert done.code == code
        if level:
            assert rows[0]["thumbprint"] == server.thumbprint
            assert rows[0]["node"] == "A" and rows[0]["days_left"] == days_before


def test_expiry_bad_input(run: Run) -> None:
    done = run("expiry", "--within", "soon")
    assert done.code == 2 and done.err.startswith("error: Invalid period 'soon'")
    assert "Traceback" not in done.err
    assert run("expiry", "--json", "--csv").code == 2


def test_purge_expired_with_confirmation(run: Run, registry: dict[str, str], kit: Certkit) -> None:
    done = run("purge", "--expired")
    assert done.code == 2
    assert "needs confirmation: add --yes" in done.err
    assert len(kit.list_certificates().records) == 6
    done = run("purge", "--expired", "--older-than", "60d", "--yes")
    assert done.code == 0
    assert "Nothing to purge" in done.out
    done = run("purge", "--expired", "--older-than", "30d", "--yes")
    assert done.code == 0, done.err
    assert "Purged 1 client certificate(s) expired more than 30 days ago." in done.out
    assert registry["gone"] in done.out
    assert sorted(r.name for r in kit.list_certificates().records) == [
        "fine",
        "later",
        "renewed",
        "renewed",
        "soon",
    ]
    with kit.registry.read() as tx:
        event = tx.audit_events(limit=1)[0]
    assert (event.action, event.thumbprint, event.actor) == (
        "purge",
        registry["gone"],
        "local administrator",
    )


def test_purge_unused(run: Run, registry: dict[str, str], kit: Certkit) -> None:
    done = run("purge", "--unused", "90d", "--yes")
    assert done.code == 0, done.err
    # registered 100 days ago and never used, not expired: soon, later, fine, renewed
    assert "Purged 4 client certificate(s) unused for more than 90 days." in done.out
    assert [r.name for r in kit.list_certificates().records] == ["gone", "renewed"]
    assert run("purge", "--unused", "90d", "--older-than", "3d", "--yes").code == 2
    assert run("purge", "--yes").code == 2  # --expired or --unused is required
