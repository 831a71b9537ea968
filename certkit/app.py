"""``certkit app``: serve the Certificates view with Voila on this machine only.

Voila runs as a child process on ``notebooks/certificates.ipynb`` with ``CERTKIT_HOME``
in its environment, certkit's offline template (the default one without its CDN links),
no port fallback, and idle kernels culled (Voila never shuts a kernel down when a page
closes). Serving other machines needs the authenticated front door, not this command.
:class:`VoilaServer` starts and stops that process; the browser tests and the app-load
benchmark serve their notebooks with it too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

import psutil

from certkit.errors import CertkitError, InvalidInput

LOCAL_HOSTS = ("127.0.0.1", "localhost")
TEMPLATE = "certkit-offline"
CULL_IDLE_SECONDS = 120  # kernels of closed pages (Voila never shuts them down)
CULL_INTERVAL_SECONDS = 30
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 20  # then SIGKILL
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


def voila_environment(home: Path | None, database_url: str | None = None) -> dict[str, str]:
    """The child's environment: CERTKIT_HOME (and CERTKIT_DATABASE_URL, for a registry
    elsewhere), and certkit's template on JUPYTER_PATH."""
    env = dict(os.environ)
    if home is not None:
        env["CERTKIT_HOME"] = str(Path(home).expanduser().resolve())
    if database_url:
        env["CERTKIT_DATABASE_URL"] = database_url
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
    return write_notebook(folder / "certificates.ipynb", LAUNCHER_SOURCE)


def write_notebook(path: Path, source: str) -> Path:
    """Write a notebook of one code cell, without outputs, to ``path``; returns ``path``."""
    cell: dict[str, object] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": source,
    }
    document = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(document, indent=1))
    return path


class VoilaServer:
    """One Voila process serving ``notebook`` as ``certkit app`` runs it.

    127.0.0.1 on a fixed ``port`` (``port_retries=0``: a busy port fails, never another
    one), idle kernels culled, certkit's offline template. A context manager: entering
    starts Voila, leaving stops it by its PID, kernels included.

    Args:
        notebook: The notebook to serve.
        port: The port; it must be free.
        env: The child's environment (default: :func:`voila_environment` of ``$CERTKIT_HOME``).
        log: A file for Voila's output (default: this process's stdout and stderr).
    """

    def __init__(
        self,
        notebook: Path,
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.notebook = notebook
        self.port = port
        self.env = dict(env) if env is not None else voila_environment(None)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.leaked: list[int] = []  # kernels that outlived Voila and were killed

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        command = voila_command(self.notebook, self.port)
        if self.log is None:
            self.process = subprocess.Popen(command, env=self.env)
            return
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("start() the Voila server first")
        return self.process

    def answers(self) -> bool:
        """Any HTTP answer from ``/api/status`` (a redirect in standalone Voila).

        Never ``GET /``: every request for the page starts a kernel.
        """
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/api/status")
            connection.getresponse().read()
        except OSError:
            return False
        finally:
            connection.close()
        return True

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Return once Voila answers; raise if it exits or stays silent for ``timeout`` s."""
        process = self._running()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if process.poll() is not None:
                raise CertkitError(
                    f"Voila exited with code {process.returncode} before it answered on "
                    f"port {self.port}.{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise CertkitError(
                    f"Voila did not answer on port {self.port} in {timeout:g} s.{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return f"\n{self.log.read_text(errors='replace')}"

    def wait(self) -> int:
        """Wait for Voila to exit; its exit code."""
        return self._running().wait()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> list[int]:
        """SIGTERM by PID (Voila shuts its kernels down), kill after ``timeout`` s, then kill
        any kernel left, by PID. Returns the PIDs of those kernels (none, normally)."""
        process = self._running()
        if process.poll() is not None:  # exited and reaped: its PID may be another's by now
            self.leaked = []
            return self.leaked
        try:
            kernels = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            kernels = []
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _, alive = psutil.wait_procs(kernels, timeout=10)
        for kernel in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                kernel.kill()
        psutil.wait_procs(alive, timeout=10)
        self.leaked = [kernel.pid for kernel in alive]
        return self.leaked

    def __enter__(self) -> VoilaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_app(
    home: Path | None, port: int, *, host: str = "127.0.0.1", database_url: str | None = None
) -> int:
    """Serve the Certificates view on ``http://127.0.0.1:<port>/`` until interrupted.

    Args:
        home: The certkit home (``None``: ``$CERTKIT_HOME`` or ``~/.certkit``).
        port: The port; a busy port is an error, never silently another one.
        host: Must be 127.0.0.1 or localhost.
        database_url: The registry, if not the home's DuckDB file (``postgresql://...``).

    Returns:
        Voila's exit code (0 after Ctrl-C).

    Raises:
        InvalidInput: another host, or a port outside 1-65535.
    """
    check_host(host)
    if not 1 <= port <= 65535:
        raise InvalidInput(f"Invalid port {port}; use a number from 1 to 65535.")
    env = voila_environment(home, database_url)
    server = VoilaServer(launcher_notebook(), port, env=env)
    print(f"certkit app: http://127.0.0.1:{port}/ (Ctrl-C stops it)", file=sys.stderr)
    previous = _stop_on_sigterm()
    try:
        with server:
            try:
                return server.wait()
            except KeyboardInterrupt:
                return 0  # leaving the block stops Voila and its kernels
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
