"""``certkit backup``, ``restore`` and ``migrate``: the whole home in one file, and back;
the registry copied to another backend.

``certkit backup --out FILE`` writes a ``certkit-backup`` zip (``docs/backup-format.md``) of
the registry and the home's key files; it refuses to overwrite an existing file and writes it
readable by its owner only. The key passphrase is not in it: keep ``CERTKIT_KEY_PASSPHRASE``
(or the home's ``secret.key``) safe separately.

``certkit restore FILE [--replace] [--yes]`` checks the whole file and that this home's key
passphrase opens its secrets, then puts it in place. A registry with content is only replaced
with ``--replace``, which asks for confirmation unless ``--yes``.

``certkit migrate --to URL [--replace] [--yes]`` copies the registry to the one a database
URL names (``postgresql://...`` or ``duckdb:PATH``); a target with content is only replaced
with ``--replace``, confirmed as for restore.

:func:`add_parsers` adds the subcommands to the ``certkit`` parser; the handlers take the
opened :class:`~certkit.ops.Certkit` (any :class:`~certkit.ops.backup.BackupOps`) and the
parsed arguments and return the exit code.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certkit.errors import InvalidInput

if TYPE_CHECKING:
    from certkit.ops.backup import BackupOps
    from certkit.ops.migrate import MigrateOps


def add_parsers(sub: Any) -> None:
    """Add ``backup`` and ``restore`` to the subparsers of the ``certkit`` parser."""
    p = sub.add_parser("backup", help="write the registry and key files to one backup file")
    p.add_argument("--out", required=True, metavar="FILE", help="the backup file to create")

    p = sub.add_parser("restore", help="restore the registry and key files from a backup")
    p.add_argument("file", help="a file written by 'certkit backup'")
    p.add_argument("--replace", action="store_true", help="discard a registry that is not empty")
    p.add_argument("--yes", action="store_true", help="do not ask before replacing")

    p = sub.add_parser("migrate", help="copy the registry to another database (URL)")
    p.add_argument("--to", required=True, metavar="URL", help="postgresql://... or duckdb:PATH")
    p.add_argument("--replace", action="store_true", help="discard a target that is not empty")
    p.add_argument("--yes", action="store_true", help="do not ask before replacing")


def _create_exclusive(path: Path, data: bytes) -> None:
    """Write a complete 0600 file at ``path``, failing if anything is there already."""
    if path.exists() or path.is_symlink():
        raise InvalidInput(f"{path} already exists; choose another --out file.")
    if not path.parent.is_dir():
        raise InvalidInput(f"The directory {path.parent} does not exist.")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # unlike a rename, never replaces a file made meanwhile
    except FileExistsError:
        raise InvalidInput(f"{path} already exists; choose another --out file.") from None
    except OSError as error:
        raise InvalidInput(f"Cannot write {path}: {error.strerror}.") from None
    finally:
        tmp.unlink(missing_ok=True)


def backup_command(kit: BackupOps, args: argparse.Namespace) -> int:
    """``certkit backup --out FILE``."""
    out = Path(args.out).expanduser()
    if out.exists() or out.is_symlink():
        raise InvalidInput(f"{out} already exists; choose another --out file.")
    data = kit.backup()
    _create_exclusive(out, data)
    print(f"Backed up {kit.home.path} to {out} ({len(data):,} bytes).")
    print(
        "The key passphrase is not in the backup; restoring needs the same "
        "CERTKIT_KEY_PASSPHRASE (or this home's secret.key).",
        file=sys.stderr,
    )
    return 0


def _confirmed(args: argparse.Namespace, question: str) -> bool:
    """``--yes``, or a yes from the terminal; without a terminal, an error asking for --yes."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise InvalidInput(f"{question.rstrip('?')}: this needs confirmation, add --yes.")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def restore_command(kit: BackupOps, args: argparse.Namespace) -> int:
    """``certkit restore FILE [--replace] [--yes]``."""
    path = Path(args.file).expanduser()
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not a backup file.") from None
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error.strerror}.") from None
    if args.replace and not _confirmed(
        args, f"Replace the registry and key files in {kit.home.path}?"
    ):
        print("Nothing restored.")
        return 1
    summary = kit.restore(data, replace=args.replace)
    print(summary)
    if summary.replaced:
        print("The registry that was there before has been replaced.", file=sys.stderr)
    return 0


def migrate_command(kit: MigrateOps, args: argparse.Namespace) -> int:
    """``certkit migrate --to URL [--replace] [--yes]``."""
    if args.replace and not _confirmed(args, "Replace the registry at the target?"):
        print("Nothing migrated.")
        return 1
    summary = kit.migrate(args.to, replace=args.replace)
    print(summary)
    print(
        "The source registry is unchanged. Point certkit at the new one: "
        "--database-url or CERTKIT_DATABASE_URL (with the same home and key passphrase).",
        file=sys.stderr,
    )
    return 0
