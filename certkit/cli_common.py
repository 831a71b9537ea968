"""What the ``certkit`` command modules share: the parser class that exits 2 with one
``error:`` line, passphrase options and reading, upload files, JSON output."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, NoReturn

from certkit.errors import InvalidInput
from certkit.model import Secret


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def passphrase_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--passphrase-env", metavar="VAR", help="read the passphrase from $VAR")
    group.add_argument("--passphrase-file", metavar="F", help="read the passphrase from file F")


def read_passphrase(args: argparse.Namespace) -> Secret | None:
    if getattr(args, "passphrase_env", None):
        value = os.environ.get(args.passphrase_env)
        if value is None:
            raise InvalidInput(f"The environment variable {args.passphrase_env} is not set.")
        return Secret(value) if value else None
    if getattr(args, "passphrase_file", None):
        try:
            text = Path(args.passphrase_file).read_text().rstrip("\r\n")
        except OSError as error:
            raise InvalidInput(f"Cannot read {args.passphrase_file}: {error.strerror}.") from None
        return Secret(text) if text else None
    return None


def read_file(path: str) -> bytes:
    from certkit.ops import read_upload

    return read_upload(Path(path))


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
