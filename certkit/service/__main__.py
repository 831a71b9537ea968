"""``python -m certkit.service [--home DIR] [--host H] [--port P]``: the service alone.

``--nginx-files DIR`` writes the files the nginx front door needs and exits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from certkit.errors import CertkitError
from certkit.service import DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certkit.service")
    parser.add_argument("--home", type=Path, help="certkit home (default $CERTKIT_HOME)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--database-url", metavar="URL")
    parser.add_argument(
        "--nginx-files", metavar="DIR", type=Path, help="write nginx's TLS files and exit"
    )
    args = parser.parse_args(argv)
    try:
        if args.nginx_files:
            from certkit.ops import open_certkit
            from certkit.service.frontdoor import write_nginx_files

            kit = open_certkit(args.home, database_url=args.database_url)
            for path in write_nginx_files(kit, args.nginx_files):
                print(path)
            return 0
        return serve(args.home, args.host, args.port, database_url=args.database_url)
    except CertkitError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
