"""``certkit server`` and ``certkit well-known``: the server certificates and what is
trusted besides the registered clients.

:func:`add_parsers` adds both subcommands to the ``certkit`` parser; the handlers take the
opened :class:`~certkit.ops.Certkit` and the parsed arguments and return the exit code.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certkit.cli_common import Parser, passphrase_options, print_json, read_file, read_passphrase
from certkit.errors import InvalidInput

if TYPE_CHECKING:
    from certkit.ops import Certkit


def add_parsers(sub: Any) -> None:
    """Add ``server`` and ``well-known`` to the subparsers of the ``certkit`` parser."""
    server = sub.add_parser("server", help="server certificates").add_subparsers(
        dest="server_command", required=True, parser_class=Parser
    )
    p = server.add_parser("show")
    p.add_argument("--json", action="store_true")
    p.add_argument("--history", action="store_true")
    p = server.add_parser("export")
    p.add_argument("--out", required=True, metavar="FILE")
    p = server.add_parser("replace")
    p.add_argument("file")
    passphrase_options(p)
    p.add_argument("--node")

    known = sub.add_parser("well-known", help="well-known admin certificates and issuers")
    known_sub = known.add_subparsers(dest="known_command", required=True, parser_class=Parser)
    known_sub.add_parser("add-admin").add_argument("thumbprint")
    p = known_sub.add_parser("add-issuer")
    p.add_argument("file")
    known_sub.add_parser("remove").add_argument("id")
    known_sub.add_parser("list").add_argument("--json", action="store_true")


def server_command(kit: Certkit, args: argparse.Namespace) -> int:
    """``certkit server show | export | replace``."""
    if args.server_command == "show":
        servers = kit.server_certificates(history=args.history)
        if args.json:
            print_json([s.to_json(kit.now()) for s in servers])
        for s in [] if args.json else servers:
            status = f"replaced {s.retired_at:%Y-%m-%d}" if s.retired_at else "active"
            print(
                f"node {s.node}  {s.thumbprint}  {s.subject}  valid {s.not_before:%Y-%m-%d} "
                f"to {s.not_after:%Y-%m-%d}  {status}  ({', '.join(s.hostnames)})"
            )
        return 0
    if args.server_command == "export":
        data = kit.export_server_certificates()
        target = Path(args.out)
        if target.is_dir():
            raise InvalidInput(f"--out {args.out} is a directory; give a file name.")
        try:
            target.write_bytes(data)
        except OSError as error:
            raise InvalidInput(f"Cannot write {target}: {error.strerror}.") from None
        print(f"Wrote {target}")
        return 0
    installed = kit.replace_server_certificate(
        read_file(args.file),
        passphrase=read_passphrase(args),
        node=args.node,
        source=Path(args.file).name,
    )
    print(
        f"Node {installed.node} now uses {installed.thumbprint} ({installed.subject}), "
        f"valid until {installed.not_after:%Y-%m-%d}; the previous one is kept in history."
    )
    return 0


def well_known_command(kit: Certkit, args: argparse.Namespace) -> int:
    """``certkit well-known add-admin | add-issuer | remove | list``."""
    command = args.known_command
    if command == "add-admin":
        entry = kit.add_well_known_admin(args.thumbprint)
        print(f"Added well-known admin certificate {entry.thumbprint} (id {entry.id}).")
    elif command == "add-issuer":
        for entry in kit.add_well_known_issuer(read_file(args.file), source=Path(args.file).name):
            print(f"Added well-known issuer {entry.subject} {entry.thumbprint} (id {entry.id}).")
    elif command == "remove":
        entry = kit.remove_well_known(args.id)
        print(f"Removed {entry.kind.value} {entry.thumbprint}.")
    else:
        entries = kit.well_known()
        if args.json:
            print_json([e.to_json(kit.now()) for e in entries])
        for e in [] if args.json else entries:
            print(f"{e.id:>4}  {e.kind.value:<18} {e.thumbprint}  {e.subject or ''}")
    return 0
