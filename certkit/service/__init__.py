"""``certkit serve``: the HTTPS service where certificates really grant access.

Endpoints (DESIGN.md section 4): ``GET /whoami``; ``POST``/``DELETE /authentication/2fa``
(open or close a two-factor session; ``GET`` shows the clearance page for browsers);
``GET /auth`` for nginx ``auth_request``; ``/admin/certificates`` (GET list or show, POST
generate, PUT register, PATCH edit, DELETE delete; ``/clone`` and ``/export`` too). Errors are
JSON ``{"error": "..."}``. How client certificates are accepted: :mod:`certkit.service.tls`.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from certkit.service.server import Service

__all__ = ["Service", "serve"]

DEFAULT_PORT = 8443


def serve(
    home: Path | None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    database_url: str | None = None,
) -> int:
    """Run the service until interrupted (Ctrl-C or SIGTERM); returns the exit code.

    Prints one line ``certkit serve: listening on https://HOST:PORT`` when ready (with the
    real port when ``port`` is 0). Raises CertkitError if it cannot start.
    """
    from certkit.ops import open_certkit

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    kit = open_certkit(home, database_url=database_url)
    service = Service(kit, host, port)
    service.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    print(f"certkit serve: listening on {service.url}", flush=True)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        service.close()
    return 0
