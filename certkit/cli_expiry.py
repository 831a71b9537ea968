"""``certkit expiry`` and ``certkit purge``: expiry alerts for scripts, and the clean-up.

``certkit expiry [--within 30d] [--json | --csv] [--fail]`` lists the client certificates
that expire within the window from now (renewed ones never; those already expired are only
counted, in the text output) and certkit's own certificates that are due: a server
certificate or the CA warns within 20 days, is an error within 3, and stays listed once
expired. With ``--fail`` it exits 1 when it lists anything (cron, CI).

``certkit purge --expired [--older-than 30d] [--yes]`` deletes the entries (whole
collections) that expired longer ago than ``--older-than``; ``--unused 90d`` instead deletes
those unused for that long. Both are audit events ``purge``.

:func:`add_parsers` adds both subcommands to the ``certkit`` parser; the handlers take the
opened :class:`~certkit.ops.Certkit` and the parsed arguments and return the exit code.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from certkit.errors import InvalidInput
from certkit.model import add_period, parse_period

if TYPE_CHECKING:
    from certkit.ops import Certkit
    from certkit.ops.expiry import ExpiryAlerts

CSV_COLUMNS = (
    "kind", "name", "thumbprint", "node", "clearance", "not_after", "days_left", "state", "level",
)  # fmt: skip
_SHOWN = 20


def add_parsers(sub: Any) -> None:
    """Add ``expiry`` and ``purge`` to the subparsers of the ``certkit`` parser."""
    p = sub.add_parser("expiry", help="what expires soon; with --fail, exit 1 when anything does")
    p.add_argument(
        "--within",
        metavar="PERIOD",
        help="client certificates that expire within PERIOD: 30d (default), 8w, 3m",
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON record per certificate")
    output.add_argument("--csv", action="store_true", help="CSV with a header line")
    p.add_argument(
        "--fail", action="store_true", help="exit 1 when anything expires within the window"
    )

    p = sub.add_parser("purge", help="delete expired (or unused) client certificates")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--expired", action="store_true", help="entries whose certificate expired")
    what.add_argument(
        "--unused",
        metavar="PERIOD",
        help="entries not used (or, never used, registered) for PERIOD",
    )
    p.add_argument(
        "--older-than",
        metavar="PERIOD",
        help="with --expired: only those expired longer ago than PERIOD, e.g. 30d",
    )
    p.add_argument("--yes", action="store_true", help="do not ask")


def period(text: str, now: datetime) -> timedelta:
    """``30d``, ``8w``, ``3m`` or ``1y`` as a timedelta from ``now`` (calendar months)."""
    parsed = parse_period(text)
    return parsed if isinstance(parsed, timedelta) else add_period(now, parsed) - now


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} day" + ("" if days == 1 else "s")


# ------------------------------------------------------------------ expiry
def expiry_command(kit: Certkit, args: argparse.Namespace) -> int:
    """``certkit expiry``: 0, or 1 with ``--fail`` when anything is listed."""
    now = kit.now()
    within = period(args.within, now) if args.within else None
    alerts = kit.expiry_alerts(within=within)
    rows = alert_rows(alerts)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif args.csv:
        writer = csv.DictWriter(
            sys.stdout, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in CSV_COLUMNS})
    else:
        _print_alerts(alerts)
    return 1 if args.fail and alerts.failing else 0


def alert_rows(alerts: ExpiryAlerts) -> list[dict[str, Any]]:
    """The JSON records of what the alerts list: client records (the ``--json`` keys of
    ``certkit list``) and own certificates, each with ``days_left`` and ``level``."""
    from certkit.ops.expiry import AlertLevel, days_left

    rows: list[dict[str, Any]] = []
    for record in alerts.clients:
        rows.append(
            record.to_json(alerts.now, alerts.within)
            | {
                "node": None,
                "days_left": days_left(record.not_after, alerts.now),
                "level": AlertLevel.WARNING.value,
            }
        )
    for own in alerts.own_alerts:
        state = "expired" if own.not_after <= alerts.now else "expiring"
        rows.append(
            own.to_json(alerts.now, alerts.thresholds) | {"clearance": None, "state": state}
        )
    return rows


def _print_alerts(alerts: ExpiryAlerts) -> None:
    from certkit.ops.expiry import days_left

    now, limits = alerts.now, alerts.thresholds
    clients = alerts.clients
    print(f"Client certificates expiring within {_days(alerts.within)}: {len(clients)}")
    if clients:
        print(f"  {'NAME':<24} {'THUMBPRINT':<40} {'CLEARANCE':<13} {'EXPIRES':<10} DAYS LEFT")
    for r in clients[:_SHOWN]:
        clearance = r.clearance.label if r.clearance else ""
        print(
            f"  {r.name[:24]:<24} {r.thumbprint} {clearance:<13} {r.not_after:%Y-%m-%d} "
            f"{days_left(r.not_after, now):>9g}"
        )
    if len(clients) > _SHOWN:
        print(f"  ... and {len(clients) - _SHOWN} more (--json or --csv lists them all)")
    if alerts.expired:
        print(
            f"({alerts.expired:,} expired client certificate(s) still registered: "
            "'certkit purge --expired' removes them)"
        )
    print(
        f"Server and CA certificates (warning within {_days(limits.server_warning)}, "
        f"error within {_days(limits.server_error)}):"
    )
    for own in alerts.own:
        level = limits.server_level(own.not_after, now).value.upper()
        print(
            f"  {level:<8} {own.name}: {own.thumbprint}, expires {own.not_after:%Y-%m-%d} "
            f"({days_left(own.not_after, now):g} days)"
        )


# ------------------------------------------------------------------- purge
def purge_command(kit: Certkit, args: argparse.Namespace) -> int:
    """``certkit purge``: 0 when done (or nothing to do), 1 when the confirmation is refused."""
    now = kit.now()
    if args.unused and args.older_than:
        raise InvalidInput("--older-than goes with --expired; --unused takes its own period.")
    if args.expired:
        older = period(args.older_than, now) if args.older_than else timedelta(0)
        found = kit.count_expired(older_than=older)
        what = "expired" + (f" more than {_days(older)} ago" if older else "")
    else:
        idle = period(args.unused, now)
        found = kit.count_unused(unused_for=idle)
        what = f"unused for more than {_days(idle)}"
    if not found:
        print(f"Nothing to purge: no client certificate {what}.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput(
                f"Purging {found:,} client certificate(s) {what} needs confirmation: add --yes."
            )
        answer = input(
            f"Delete {found:,} client certificate(s) {what}, with their collections? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    result = (
        kit.purge_expired(older_than=older) if args.expired else kit.purge_unused(unused_for=idle)
    )
    print(f"Purged {len(result.deleted):,} client certificate(s) {what}.")
    for record in result.deleted[:_SHOWN]:
        extra = f" (+{len(record.collection)} in collection)" if record.collection else ""
        print(f"  {record.name!r} {record.thumbprint}, expires {record.not_after:%Y-%m-%d}{extra}")
    if len(result.deleted) > _SHOWN:
        print(f"  ... and {len(result.deleted) - _SHOWN} more (see the audit log)")
    for record, reason in result.skipped:
        print(f"Kept {record.name!r} {record.thumbprint}: {reason}", file=sys.stderr)
    return 0
