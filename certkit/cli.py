"""The ``certkit`` command line: the stable contract for scripts.

Exit codes: 0 success, 1 a check that said no, 2 any user error (one ``error:`` line on
stderr, never a traceback). Commands that only read import no pandas or widgets.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from certkit import cli_backup, cli_expiry, cli_server
from certkit.cli_common import Parser, passphrase_options, print_json, read_file, read_passphrase
from certkit.errors import CertkitError, InvalidInput
from certkit.model import GeneratedCertificate, Secret

if TYPE_CHECKING:
    from certkit.ops import Certkit

Handler = Callable[[argparse.Namespace], int]


def _count(text: str) -> int:
    """A whole number, zero or more (for --limit and --offset)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of zero or more")
    return value


def _generate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expires", default="5y", help="validity: 5y, 18m, 90d (default 5y)")
    parser.add_argument(
        "--key",
        default="ec-p256",
        choices=["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"],
    )
    parser.add_argument("--pkcs12", default="modern", choices=["modern", "legacy"])
    passphrase_options(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the zip")
    parser.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="certkit", description="Client and server certificates.")
    parser.add_argument(
        "--home", metavar="DIR", help="certkit home (default $CERTKIT_HOME or ~/.certkit)"
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="registry: postgresql://... or duckdb:PATH (default $CERTKIT_DATABASE_URL, "
        "else the DuckDB file in the home)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("init", help="initialise a home: CA and server certificate")
    p.add_argument("--cluster-name")
    p.add_argument("--node")
    p.add_argument("--hostname", action="append", default=[])

    p = sub.add_parser("generate", help="generate a client certificate")
    p.add_argument("name")
    p.add_argument("--clearance", required=True)
    p.add_argument("--db", action="append", default=[], metavar="DB=ACCESS")
    p.add_argument("--two-factor", action="store_true")
    _generate_options(p)

    p = sub.add_parser("upload", help="register existing certificates from a file")
    p.add_argument("file")
    passphrase_options(p)
    p.add_argument("--name")
    p.add_argument("--clearance", required=True)
    p.add_argument("--db", action="append", default=[], metavar="DB=ACCESS")
    p.add_argument("--two-factor", action="store_true")
    p.add_argument("--each", action="store_true", help="one entry per certificate")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("list", help="list client certificates")
    p.add_argument("--json", action="store_true")
    p.add_argument("--search", default="")
    p.add_argument("--clearance", choices=["Admin", "Operator", "User"])
    p.add_argument("--state", choices=["valid", "expiring", "expired", "not-yet-valid"])
    p.add_argument("--database")
    p.add_argument(
        "--sort", default="name", choices=["name", "expiration", "valid-from", "last-used"]
    )
    p.add_argument("--descending", action="store_true", help="reverse the sort order")
    p.add_argument("--limit", type=_count)
    p.add_argument("--offset", type=_count, default=0)

    p = sub.add_parser("show", help="show one certificate")
    p.add_argument("thumbprint")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("edit", help="change name, clearance, permissions or 2FA")
    p.add_argument("thumbprint")
    p.add_argument("--name")
    p.add_argument("--clearance")
    p.add_argument("--db", action="append", default=[], metavar="DB=ACCESS")
    p.add_argument("--remove-db", action="append", default=[], metavar="DB")
    two = p.add_mutually_exclusive_group()
    two.add_argument("--two-factor", dest="two_factor", action="store_const", const=True)
    two.add_argument("--no-two-factor", dest="two_factor", action="store_const", const=False)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("clone", help="a new certificate with the settings of another")
    p.add_argument("thumbprint")
    p.add_argument("new_name")
    _generate_options(p)

    p = sub.add_parser("delete", help="delete a certificate and its collection")
    p.add_argument("thumbprint")
    p.add_argument("--yes", action="store_true", help="do not ask")

    cli_server.add_parsers(sub)
    cli_expiry.add_parsers(sub)
    cli_backup.add_parsers(sub)

    p = sub.add_parser("serve", help="the HTTPS service (mutual TLS)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument(
        "--nginx-files", metavar="DIR", help="write the front door's TLS files for nginx and exit"
    )

    p = sub.add_parser("demo", help="seed a demo registry")
    p = sub.add_parser("app", help="serve the web app with Voila on 127.0.0.1")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--host", default="127.0.0.1", help="only 127.0.0.1 without the front door")

    two_factor = sub.add_parser("2fa", help="two-factor authentication").add_subparsers(
        dest="twofa_command", required=True, parser_class=Parser
    )
    p = two_factor.add_parser("check", help="exit 0 if the code is accepted, 1 if refused")
    p.add_argument("thumbprint")
    p.add_argument("code")
    return parser


# ---------------------------------------------------------------- helpers
def _kit(args: argparse.Namespace) -> Certkit:
    from certkit.ops import open_certkit

    return open_certkit(args.home, database_url=args.database_url)


def _permissions(items: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        database, sep, access = item.partition("=")
        if not sep or not database.strip() or not access.strip():
            raise InvalidInput(f"--db {item!r}: write DATABASE=ACCESS, e.g. --db HR=ReadWrite.")
        result[database.strip()] = access.strip()
    return result


def _output_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {path} is a file; give a directory.")
    return out


def _write_zip(out: Path, name: str, data: bytes) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    from certkit.home import write_private_file

    write_private_file(target, data)
    return target


def _show_totp(uri: str, secret: Secret) -> None:
    print("Two-factor authentication: scan this once in an authenticator app.", file=sys.stderr)
    if sys.stdout.isatty():
        import qrcode

        code = qrcode.QRCode(border=1)
        code.add_data(uri)
        code.print_ascii(invert=True)
    print(f"  key: {secret.reveal_text()}")
    print(f"  uri: {uri}")
    print("They will not be shown again.", file=sys.stderr)


# --------------------------------------------------------------- commands
def _init(args: argparse.Namespace) -> int:
    kit = _kit(args)
    created = kit.initialise(
        cluster_name=args.cluster_name, node=args.node, hostnames=args.hostname or None
    )
    server = kit.server_certificates()[0]
    verb = "Initialised" if created else "Already initialised:"
    print(f"{verb} {kit.home.path} (cluster {kit.cluster_name()!r}, node {server.node}).")
    print(f"Server certificate {server.thumbprint} for {', '.join(server.hostnames)}.")
    return 0


def _generated(
    args: argparse.Namespace, name: str, make: Callable[[Certkit], GeneratedCertificate]
) -> int:
    """Generate (or clone) ``name`` into --out; undo the registration if the zip cannot be
    written."""
    kit = _kit(args)
    _check_zip_free(args, name)
    out = _output_dir(args.out)
    made = make(kit)
    try:
        target = _write_zip(out, made.zip_name, made.zip_bytes)
    except OSError as error:
        kit.delete(made.record.thumbprint)
        raise InvalidInput(
            f"Cannot write {out / made.zip_name}: {error.strerror}; nothing was registered."
        ) from None
    if args.json:
        record = made.record.to_json(kit.now(), kit.expiring_threshold) | {"zip": str(target)}
        if made.totp:
            record["totp_uri"] = made.totp.uri
        print_json(record)
    else:
        r = made.record
        print(
            f"Generated {r.name!r} ({r.clearance.label if r.clearance else ''}), "
            f"thumbprint {r.thumbprint}, valid until {r.not_after:%Y-%m-%d}."
        )
        print(f"Wrote {target}")
        if made.totp:
            _show_totp(made.totp.uri, made.totp.secret)
    return 0


def _check_zip_free(args: argparse.Namespace, name: str) -> None:
    from certkit.ops import zip_name

    target = Path(args.out) / zip_name(name)
    if target.exists():
        raise InvalidInput(f"{target} already exists; move it away or choose another --out.")


def _generate(args: argparse.Namespace) -> int:
    return _generated(
        args,
        args.name,
        lambda kit: kit.generate_client_certificate(
            args.name,
            clearance=args.clearance,
            permissions=_permissions(args.db),
            passphrase=read_passphrase(args),
            expires=args.expires,
            key_type=args.key,
            pkcs12=args.pkcs12,
            two_factor=args.two_factor,
        ),
    )


def _clone(args: argparse.Namespace) -> int:
    return _generated(
        args,
        args.new_name,
        lambda kit: kit.clone(
            args.thumbprint,
            args.new_name,
            passphrase=read_passphrase(args),
            expires=args.expires,
            key_type=args.key,
            pkcs12=args.pkcs12,
        ),
    )


def _progress(done: int, total: int) -> None:
    print(
        f"\rchecked {done}/{total} certificates",
        end="" if done < total else "\n",
        file=sys.stderr,
        flush=True,
    )


_SHOWN = 20  # records an upload prints (all of them with --json)


def _upload(args: argparse.Namespace) -> int:
    kit = _kit(args)
    data = read_file(args.file)
    result = kit.register(
        data,
        clearance=args.clearance,
        name=args.name,
        permissions=_permissions(args.db),
        two_factor=args.two_factor,
        passphrase=read_passphrase(args),
        each=args.each,
        source=Path(args.file).name,
        progress=_progress if sys.stderr.isatty() else None,
        records=None if args.json else _SHOWN,
    )
    if args.json:
        records = []
        for record in result.records:
            item = record.to_json(kit.now(), kit.expiring_threshold)
            if record.thumbprint in result.totp:
                item["totp_uri"] = result.totp[record.thumbprint].uri
            records.append(item)
        print_json(records)
        return 0
    for record in result.records[:_SHOWN]:
        extra = f" (+{len(record.collection)} in collection)" if record.collection else ""
        print(f"Registered {record.name!r} {record.thumbprint}{extra}")
    if result.count > _SHOWN:
        print(f"... and {result.count - _SHOWN} more")
    for subject, reason in result.skipped:
        print(f"Skipped {subject}: {reason}")
    for thumbprint, enrolment in result.totp.items():
        print(f"{thumbprint}:")
        _show_totp(enrolment.uri, enrolment.secret)
    return 0


def _list(args: argparse.Namespace) -> int:
    from certkit.model import CertState, ListQuery, SortKey

    kit = _kit(args)
    page = kit.list_certificates(
        ListQuery(
            search=args.search,
            clearance=args.clearance,
            state=CertState(args.state) if args.state else None,
            database=args.database,
            sort=SortKey(args.sort),
            descending=args.descending,
            offset=args.offset,
            limit=args.limit,
            threshold=kit.expiring_threshold,
        )
    )
    now = kit.now()
    if args.json:
        print_json([r.to_json(now, kit.expiring_threshold) for r in page.records])
        return 0
    if not page.records:
        print("No client certificates match.")
        return 0
    print(
        f"{'NAME':<24} {'THUMBPRINT':<40} {'CLEARANCE':<13} {'EXPIRES':<10} {'STATE':<15} "
        "LAST USED   DATABASES"
    )
    for r in page.records:
        databases = ", ".join(f"{db}:{a.value}" for db, a in r.permissions.items()) or "-"
        used = f"{r.last_used:%Y-%m-%d}" if r.last_used else "not used"
        twofa = " 2FA" if r.two_factor else ""
        print(
            f"{r.name[:24]:<24} {r.thumbprint} {(r.clearance.label if r.clearance else ''):<13} "
            f"{r.not_after:%Y-%m-%d} {r.state(now, kit.expiring_threshold).label:<15} "
            f"{used:<11} {databases}{twofa}"
        )
    if page.total > len(page.records):
        print(f"({len(page.records)} of {page.total} shown)")
    return 0


def _show(args: argparse.Namespace) -> int:
    kit = _kit(args)
    record = kit.show(args.thumbprint)
    data = record.to_json(kit.now(), kit.expiring_threshold)
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
            elif isinstance(value, list):
                value = ", ".join(value) or "-"
            print(f"{key:<12} {value if value is not None else '-'}")
    return 0


def _edit(args: argparse.Namespace) -> int:
    if not (
        args.name or args.clearance or args.db or args.remove_db or args.two_factor is not None
    ):
        raise InvalidInput(
            "Nothing to change: give --name, --clearance, --db, --remove-db or --[no-]two-factor."
        )
    kit = _kit(args)
    result = kit.edit(
        args.thumbprint,
        name=args.name,
        clearance=args.clearance,
        set_permissions=_permissions(args.db),
        remove_databases=args.remove_db,
        two_factor=args.two_factor,
    )
    if args.json:
        data = result.record.to_json(kit.now(), kit.expiring_threshold)
        if result.totp:
            data["totp_uri"] = result.totp.uri
        print_json(data)
    else:
        print(f"Updated {result.record.name!r} ({result.record.thumbprint}).")
        if result.totp:
            _show_totp(result.totp.uri, result.totp.secret)
    return 0


def _delete(args: argparse.Namespace) -> int:
    kit = _kit(args)
    if not args.yes:
        record = kit.show(args.thumbprint)
        name = getattr(record, "name", args.thumbprint)
        if not sys.stdin.isatty():
            raise InvalidInput(f"Deleting {name!r} needs confirmation: add --yes.")
        answer = input(f"Delete {name!r} and its whole collection? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    record = kit.delete(args.thumbprint)
    extra = f" and {len(record.collection)} more in its collection" if record.collection else ""
    print(f"Deleted {record.name!r} ({record.thumbprint}){extra}.")
    return 0


def _two_factor(args: argparse.Namespace) -> int:
    kit = _kit(args)
    record = kit.check_two_factor(args.thumbprint, args.code)
    print(f"Code accepted for {record.name!r}.")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from certkit.demo import seed_demo

    kit = _kit(args)
    before = kit.list_certificates().total
    seed_demo(kit)
    after = kit.list_certificates().total
    if after == before:
        print(f"{kit.home.path} already has certificates; nothing seeded.")
    else:
        print(f"Seeded {after - before} demo certificates into {kit.home.path}.")
    return 0


def _app(args: argparse.Namespace) -> int:
    from certkit.app import run_app

    kit = _kit(args)
    kit.initialise()
    return run_app(kit.home.path, args.port, host=args.host, database_url=args.database_url)


def _serve(args: argparse.Namespace) -> int:
    from certkit.service import serve

    if args.nginx_files:
        from certkit.service.frontdoor import write_nginx_files

        for path in write_nginx_files(_kit(args), Path(args.nginx_files)):
            print(f"Wrote {path}")
        return 0
    home = Path(args.home) if args.home else None
    return serve(home, args.host, args.port, database_url=args.database_url)


_COMMANDS: dict[str, Handler] = {
    "init": _init,
    "generate": _generate,
    "upload": _upload,
    "list": _list,
    "show": _show,
    "edit": _edit,
    "clone": _clone,
    "delete": _delete,
    "server": lambda args: cli_server.server_command(_kit(args), args),
    "well-known": lambda args: cli_server.well_known_command(_kit(args), args),
    "2fa": _two_factor,
    "demo": _demo,
    "app": _app,
    "serve": _serve,
    "expiry": lambda args: cli_expiry.expiry_command(_kit(args), args),
    "purge": lambda args: cli_expiry.purge_command(_kit(args), args),
    "backup": lambda args: cli_backup.backup_command(_kit(args), args),
    "restore": lambda args: cli_backup.restore_command(_kit(args), args),
    "migrate": lambda args: cli_backup.migrate_command(_kit(args), args),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except CertkitError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `certkit list | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # a bug, not a user error: one line unless debugging
        if os.environ.get("CERTKIT_DEBUG"):
            raise
        print(
            f"error: internal error ({type(error).__name__}: {error}); "
            "run again with CERTKIT_DEBUG=1 for the details",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
