"""Helpers for tests that run ``certkit serve`` (and nginx) as real processes on 127.0.0.1.

Processes are started here and stopped by their PID; certificates are generated with the
real clock, since curl, openssl and the service check validity against it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from certkit import pki
from certkit.model import GeneratedCertificate, Secret
from certkit.ops import Certkit

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Client:
    """A certificate and its key as PEM files, as curl and openssl take them."""

    name: str
    thumbprint: str
    cert: Path
    key: Path
    secret: Secret | None = None  # TOTP secret, for certificates with two-factor

    @property
    def pem(self) -> str:
        return self.cert.read_text()


def client_from_generated(made: GeneratedCertificate, directory: Path) -> Client:
    """Unpack the zip that generation returns: ``<name>.crt`` and ``<name>.key``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = made.zip_name.removesuffix(".zip")
    with zipfile.ZipFile(io.BytesIO(made.zip_bytes)) as archive:
        cert = directory / f"{stem}.crt"
        key = directory / f"{stem}.key"
        cert.write_bytes(archive.read(f"{stem}.crt"))
        key.write_bytes(archive.read(f"{stem}.key"))
    key.chmod(0o600)
    return Client(
        made.record.name,
        made.record.thumbprint,
        cert,
        key,
        made.totp.secret if made.totp else None,
    )


def generate(kit: Certkit, directory: Path, name: str, **options: Any) -> Client:
    return client_from_generated(kit.generate_client_certificate(name, **options), directory)


def write_pair(
    directory: Path,
    name: str,
    key: pki.PrivateKey,
    cert: x509.Certificate,
    *chain: x509.Certificate,
) -> Client:
    directory.mkdir(parents=True, exist_ok=True)
    stem = pki.safe_file_stem(name)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(b"".join(pki.certificate_pem(c) for c in (cert, *chain)))
    key_path.write_bytes(pki.private_key_pem(key, None))
    key_path.chmod(0o600)
    return Client(name, pki.thumbprint(cert), cert_path, key_path)


USER_PERMISSIONS = {"HR": "ReadWrite", "Sales": "Read", "Ops": "Admin"}  # the usual test user's


def foreign_ca() -> tuple[pki.PrivateKey, x509.Certificate]:
    """A CA that certkit knows nothing about, valid since yesterday."""
    return pki.create_ca("Foreign CA", now=datetime.now(UTC) - timedelta(days=1))


def stranger(
    directory: Path, ca: tuple[pki.PrivateKey, x509.Certificate], *, days: int = 1
) -> Client:
    """A client certificate ``CN=stranger`` from ``ca``, valid for ``days`` from now."""
    now = datetime.now(UTC)
    key, cert = pki.issue_client_certificate(
        *ca, "stranger", now=now, not_after=now + timedelta(days=days)
    )
    return write_pair(directory, "stranger", key, cert)


def server_client(kit: Certkit, directory: Path) -> Client:
    """The node's server certificate and key as a client identity (what nginx presents)."""
    key, cert, chain = kit.server_identity()
    return write_pair(directory, "server-as-client", key, cert, *chain)


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def curl(
    url: str,
    *,
    ca: Path,
    client: Client | None = None,
    method: str = "GET",
    data: Any = None,
    headers: Iterable[str] = (),
    extra: Iterable[str] = (),
) -> Reply:
    """One request with curl; a failed handshake raises :class:`CurlFailed`."""
    args = ["curl", "-sS", "--max-time", "20", "--cacert", str(ca), "-X", method, "-D", "-"]
    if client is not None:
        args += ["--cert", str(client.cert), "--key", str(client.key)]
    for header in headers:
        args += ["-H", header]
    if data is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(data)]
    args += [*extra, url]
    done = subprocess.run(args, capture_output=True, timeout=60)  # bytes: keep the CRLFs
    if done.returncode != 0:
        raise CurlFailed(done.returncode, done.stderr.decode(errors="replace").strip())
    head, _, body = done.stdout.decode(errors="replace").partition("\r\n\r\n")
    while head.startswith("HTTP/") and head.split()[1].startswith("1"):  # 100 Continue
        head, _, body = body.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    parsed = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Reply(status, body, parsed)


class CurlFailed(Exception):
    def __init__(self, code: int, stderr: str) -> None:
        super().__init__(f"curl exited {code}: {stderr}")
        self.code = code
        self.stderr = stderr


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def service_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CERTKIT_HOME"] = str(home)
    env.pop("CERTKIT_DATABASE_URL", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


class Serve:
    """A running ``certkit serve`` subprocess on 127.0.0.1 and ``port`` (0: an ephemeral
    one), on the home's DuckDB registry or the PostgreSQL registry at ``database_url``."""

    def __init__(
        self, home: Path, log: Path, *, port: int = 0, database_url: str | None = None
    ) -> None:
        self.home = home
        self.log_path = log
        self.ca = home / "ca.crt"
        self._log = log.open("wb")
        command = [sys.executable, "-m", "certkit.service", "--home", str(home)]
        command += ["--port", str(port)]
        if database_url is not None:
            command += ["--database-url", database_url]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=service_env(home),
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = _read_line(self.process, timeout=60)
        if "listening on https://" not in line:
            self.stop()
            raise RuntimeError(f"certkit serve did not start: {line!r}\n{self.log()}")
        self.url = line.split("listening on ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def curl(self, path: str, client: Client | None = None, **options: Any) -> Reply:
        return curl(self.url + path, ca=self.ca, client=client, **options)

    def stop(self) -> int:
        """SIGTERM by PID, then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()
        return self.process.returncode


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The first stdout line of ``process``, or '' if it exits or takes too long."""
    import selectors

    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    while time.monotonic() < deadline and b"\n" not in buffer:
        if not selector.select(timeout=0.2):
            if process.poll() is not None:
                break
            continue
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            break
        buffer += chunk
    selector.close()
    return buffer.decode(errors="replace").split("\n", 1)[0]


# ---- nginx and a sample upstream -----------------------------------------------------------

NGINX_CONF = ROOT / "deploy" / "nginx" / "certkit.conf"


def nginx_binary() -> str:
    import shutil

    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise RuntimeError(
            "nginx is not installed: ./run test installs Debian's nginx (apt-get install nginx)."
        )
    return found


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render_front_door(
    files: Path, *, listen: int, serve: int | Sequence[int], app: int, database: int
) -> str:
    """The shipped deploy/nginx/certkit.conf with this test's ports and files; several
    ``serve`` ports make the certkit_serve upstream list one server for each (replicas)."""
    text = NGINX_CONF.read_text()
    replicas = [serve] if isinstance(serve, int) else list(serve)
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{listen} ssl;",
        "/etc/certkit/nginx/": f"{files}/",
        "server 127.0.0.1:8443;": "\n    ".join(f"server 127.0.0.1:{p};" for p in replicas),
        "server 127.0.0.1:8866;": f"server 127.0.0.1:{app};",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{database};",
    }
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {NGINX_CONF}"
        text = text.replace(old, new)
    return text


class Nginx:
    """Debian's nginx in the foreground with a private prefix; stopped by its PID."""

    def __init__(self, prefix: Path, site: str, port: int) -> None:
        prefix.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.port = port
        (prefix / "certkit.conf").write_text(site)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"    {kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log info;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n    access_log {prefix}/access.log;\n{temp}\n"
            f"    include {prefix}/certkit.conf;\n}}\n"
        )
        binary = nginx_binary()
        conf, log = prefix / "nginx.conf", prefix / "error.log"
        options = ["-p", str(prefix), "-c", str(conf), "-e", str(log)]
        check = subprocess.run([binary, "-t", *options], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.process = subprocess.Popen(
            [binary, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_until(self._listening, timeout=20):
            self.stop()
            raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def _listening(self) -> bool:
        import socket

        if self.process.poll() is not None:
            return True  # exited: reported by the caller
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Upstream:
    """A tiny HTTP server on 127.0.0.1 that answers every request with what it received."""

    def __init__(self, label: str) -> None:
        import http.server
        import threading

        requests: list[dict[str, Any]] = []
        self.requests = requests

        class Echo(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen = {
                    "upstream": label,
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                requests.append(seen)
                body = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def do_PUT(self) -> None:
                self._answer()

            def do_PATCH(self) -> None:
                self._answer()

            def do_DELETE(self) -> None:
                self._answer()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
