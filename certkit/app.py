"""``certkit app``: serve the Certificates view with Voila on this machine only.

Voila runs as a child process on ``notebooks/certificates.ipynb`` with ``CERTKIT_HOME``
in its environment, certkit's offline template (the default one without its CDN links),
no port fallback, and idle kernels culled (Voila never shuts a kernel down when a page
closes). Serving other machines needs the authenticated front door, not this command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from certkit.errors import InvalidInput

LOCAL_HOSTS = ("127.0.0.1", "localhost")
TEMPLATE = "certkit-offline"
CULL_IDLE_SECONDS = 120  # kernels of closed pages (Voila never shuts them down)
CULL_INTERVAL_SECONDS = 30
_PACKAGE = Path(__file__).resolve().parent
TEMPLATE_ROOT = _PACKAGE / "ui" / "jupyter"
NOTEBOOK = _PACKAGE.parent / "notebooks" / "certificates.ipynb"
LAUNCHER_SOURCE = "from certkit.ui import certificates_page\n\ncertificates_page()"


def voila_command(notebook: Path, port: int) -> list[str]:
    """The Voila command line: 127.0.0.1 only, fixed port, culling, offline template."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        f"--template={TEMPLATE}",
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL_SECONDS}",
        "--VoilaConfiguration.show_tracebacks=False",
    ]


def voila_environment(home: Path | None) -> dict[str, str]:
    """The child's environment: CERTKIT_HOME, and certkit's template on JUPYTER_PATH."""
    env = dict(os.environ)
    if home is not None:
        env["CERTKIT_HOME"] = str(Path(home).expanduser().resolve())
    paths = [str(TEMPLATE_ROOT), *filter(None, env.get("JUPYTER_PATH", "").split(os.pathsep))]
    env["JUPYTER_PATH"] = os.pathsep.join(paths)
    return env


def check_host(host: str) -> None:
    """Refuse anything but this machine: the app has no login of its own."""
    if host.strip().lower() not in LOCAL_HOSTS:
        raise InvalidInput(
            f"The web app serves 127.0.0.1 only, not {host!r}: it acts as the local "
            "administrator without any login. Serving other machines needs the authenticated "
            "front door (issue 4)."
        )


def launcher_notebook() -> Path:
    """``notebooks/certificates.ipynb`` from the source tree, or a copy written to a temp dir
    when certkit is installed without it."""
    if NOTEBOOK.is_file():
        return NOTEBOOK
    folder = Path(tempfile.mkdtemp(prefix="certkit-app-"))
    notebook = folder / "certificates.ipynb"
    cell: dict[str, object] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
    }
    document = {
        "cells": [{**cell, "source": LAUNCHER_SOURCE}],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    notebook.write_text(json.dumps(document, indent=1))
    return notebook


def run_app(home: Path | None, port: int, *, host: str = "127.0.0.1") -> int:
    """Serve the Certificates view on ``http://127.0.0.1:<port>/`` until interrupted.

    Args:
        home: The certkit home (``None``: ``$CERTKIT_HOME`` or ``~/.certkit``).
        port: The port; a busy port is an error, never silently another one.
        host: Must be 127.0.0.1 or localhost.

    Returns:
        Voila's exit code (0 after Ctrl-C).

    Raises:
        InvalidInput: another host, or a port outside 1-65535.
    """
    check_host(host)
    if not 1 <= port <= 65535:
        raise InvalidInput(f"Invalid port {port}; use a number from 1 to 65535.")
    command = voila_command(launcher_notebook(), port)
    print(f"certkit app: http://127.0.0.1:{port}/ (Ctrl-C stops it)", file=sys.stderr)
    process = subprocess.Popen(command, env=voila_environment(home))
    previous = _stop_on_sigterm()
    try:
        return process.wait()
    except KeyboardInterrupt:
        _stop(process)
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm() -> signal.Handlers | Callable[[int, FrameType | None], object] | int | None:
    """Turn SIGTERM into KeyboardInterrupt so stopping ``certkit app`` stops Voila too."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM shuts Voila and its kernels down; kill it if it takes too long."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
