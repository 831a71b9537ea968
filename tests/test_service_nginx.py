"""The front door: Debian's nginx with the shipped deploy/nginx/certkit.conf, mutual TLS with
any client certificate, ``certkit serve`` answering auth_request, a sample upstream per
database and access level, and a stand-in for the certkit web app.

nginx, certkit serve and the upstreams all run on 127.0.0.1, started here, stopped by PID.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from certkit import pki
from certkit.ops import open_certkit
from certkit.service.frontdoor import write_nginx_files
from tests.service_helpers import (
    USER_PERMISSIONS,
    Client,
    Nginx,
    Reply,
    Serve,
    Upstream,
    curl,
    foreign_ca,
    free_port,
    generate,
    render_front_door,
    stranger,
    write_pair,
)

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC)


class FrontDoor:
    def __init__(self, base: Path) -> None:
        self.base = base
        home, work = base / "home", base / "work"
        self.kit = kit = open_certkit(home)
        self.user = generate(
            kit, work, "user ü", clearance="ValidUser", permissions=USER_PERMISSIONS
        )
        self.operator = generate(kit, work, "operator", clearance="Operator")
        self.guarded = generate(
            kit, work, "guarded operator", clearance="Operator", two_factor=True
        )
        self.stranger = stranger(work, foreign_ca())
        self.ca = home / "ca.crt"
        self.files = base / "nginx-files"
        write_nginx_files(kit, self.files)
        self.serve = Serve(home, base / "serve.log")
        self.database = Upstream("database")
        self.app = Upstream("app")
        self.port = free_port()
        site = render_front_door(
            self.files,
            listen=self.port,
            serve=self.serve.port,
            app=self.app.port,
            database=self.database.port,
        )
        self.nginx = Nginx(base / "nginx", site, self.port)

    def get(self, path: str, client: Client | None = None, **options: object) -> Reply:
        return curl(
            f"https://localhost:{self.port}{path}",
            ca=self.ca,
            client=client,
            **options,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self.nginx.stop()
        self.app.close()
        self.database.close()


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontDoor]:
    door = FrontDoor(tmp_path_factory.mktemp("front-door"))
    yield door
    door.close()
    assert door.serve.stop() == 0, door.serve.log()


ACCESS = [
    # (who, method, path, status)
    ("user", "GET", "/databases/HR/docs/1", 200),
    ("user", "GET", "/databases/hr/docs/1", 200),
    ("user", "PUT", "/databases/HR/docs/1", 200),
    ("user", "POST", "/databases/HR/docs", 200),
    ("user", "DELETE", "/databases/HR/docs/1", 200),
    ("user", "GET", "/databases/HR/admin/indexes", 403),
    ("user", "GET", "/databases/Sales/docs/1", 200),
    ("user", "PUT", "/databases/Sales/docs/1", 403),
    ("user", "GET", "/databases/Sales/admin/indexes", 403),
    ("user", "PUT", "/databases/Ops/admin/indexes", 200),
    ("user", "GET", "/databases/Payroll/docs/1", 403),
    ("user", "GET", "/databases/Sales/../HR/docs", 403),
    ("operator", "DELETE", "/databases/Payroll/admin/x", 200),
    ("stranger", "GET", "/databases/HR/docs/1", 401),
    (None, "GET", "/databases/HR/docs/1", 401),
]


@pytest.mark.parametrize(
    ("who", "method", "path", "status"), ACCESS, ids=[f"{w}-{m}-{p}" for w, m, p, _ in ACCESS]
)
def test_per_database_and_access_level(
    door: FrontDoor, who: str | None, method: str, path: str, status: int
) -> None:
    client = getattr(door, who) if who else None
    before = len(door.database.requests)
    reply = door.get(path, client, method=method, extra=["--path-as-is"])
    assert reply.status == status, reply.body
    if status == 200:
        seen = reply.json()
        assert (seen["upstream"], seen["method"]) == ("database", method)
        assert unquote(seen["headers"]["x-certkit-name"]) == client.name  # type: ignore[union-attr]
        assert seen["headers"]["x-certkit-thumbprint"] == client.thumbprint  # type: ignore[union-attr]
    else:
        assert len(door.database.requests) == before  # never reached the application
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["error"]


def test_refusals_say_why(door: FrontDoor) -> None:
    refused = door.get("/databases/Sales/docs", door.user, method="POST")
    assert "Read access to 'Sales' does not allow it to write" in refused.json()["error"]
    unknown = door.get("/databases/HR/docs", door.stranger)
    assert "not registered" in unknown.json()["error"]


def test_forged_identity_headers_are_not_trusted(door: FrontDoor) -> None:
    forged = "X-Client-Cert: " + quote(door.operator.pem, safe="")
    assert door.get("/databases/Payroll/docs", headers=[forged]).status == 401
    reply = door.get(
        "/databases/HR/docs",
        door.user,
        headers=["X-Certkit-Name: operator", "X-Certkit-Clearance: ClusterAdmin", forged],
    )
    seen = reply.json()["headers"]
    assert unquote(seen["x-certkit-name"]) == "user ü"
    assert seen["x-certkit-clearance"] == "ValidUser"
    leaf = door.user.pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    assert unquote(seen["x-client-cert"]) == leaf  # nginx forwards the leaf only


def test_the_web_app_needs_operator(door: FrontDoor) -> None:
    reply = door.get("/", door.operator)
    assert (reply.status, reply.json()["upstream"]) == (200, "app")
    assert door.get("/", door.user).status == 403
    assert door.get("/voila/render/x", door.user).status == 403
    assert door.get("/").status == 401


def test_whoami_through_the_door_is_the_client(door: FrontDoor) -> None:
    reply = door.get("/whoami", door.user)
    assert reply.status == 200
    assert reply.json()["name"] == "user ü"
    assert door.get("/whoami").status == 401  # not nginx's own certificate
    assert door.get("/admin/certificates", door.user).status == 403
    assert door.get("/admin/certificates", door.operator).status == 200


def test_two_factor_through_the_door(door: FrontDoor) -> None:
    browser = door.get("/", door.guarded, headers=["Accept: text/html"])
    assert browser.status == 302
    assert browser.headers["location"].endswith("/authentication/2fa?next=/")
    api = door.get("/", door.guarded)
    assert api.status == 428
    assert "two-factor" in api.json()["error"]
    page = door.get("/authentication/2fa", door.guarded)
    assert page.status == 200 and "ck-2fa-form" in page.body
    assert door.guarded.secret is not None
    code = subprocess.run(
        ["oathtool", "--totp", "-b", door.guarded.secret.reveal_text()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    opened = door.get(
        "/authentication/2fa",
        door.guarded,
        method="POST",
        data={"code": code, "browser_only": True, "duration_minutes": 30},
    )
    assert opened.status == 200, opened.body
    cookie = opened.headers["set-cookie"].split(";")[0]
    assert cookie.startswith("certkit-2fa=")
    assert door.get("/", door.guarded, headers=[f"Cookie: {cookie}"]).status == 200
    assert door.get("/", door.guarded).status == 428  # this browser only


def test_a_certificate_nginx_cannot_use_is_refused(door: FrontDoor, tmp_path: Path) -> None:
    ca = door.kit.authority()
    key, cert = pki.issue_client_certificate(
        ca.key,
        ca.certificate,
        "expired",
        now=NOW - timedelta(days=10),
        not_after=NOW - timedelta(days=1),
    )
    expired = write_pair(tmp_path, "expired", key, cert)
    before = len(door.database.requests)
    reply = door.get("/databases/HR/docs", expired)  # nginx's own 495, as JSON
    assert reply.status == 401
    assert "could not be used" in reply.json()["error"]
    assert len(door.database.requests) == before


def test_a_renewal_is_recognised_through_the_door(door: FrontDoor, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    original = generate(
        door.kit, tmp_path, "renewed at the door", clearance="ValidUser", permissions={"HR": "Read"}
    )
    old = x509.load_pem_x509_certificate(original.cert.read_bytes())
    ca = door.kit.authority()
    renewal = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(minutes=1))
        .not_valid_after(NOW + timedelta(days=400))
        .sign(ca.key, hashes.SHA256())
    )
    key = load_pem_private_key(original.key.read_bytes(), None)
    renewed = write_pair(tmp_path / "new", "renewed", key, renewal)  # type: ignore[arg-type]
    reply = door.get("/databases/HR/docs", renewed)
    assert reply.status == 200, reply.body
    assert reply.json()["headers"]["x-certkit-thumbprint"] == pki.thumbprint(renewal)
    assert door.get("/databases/HR/docs", renewed, method="PUT").status == 403  # same settings
    with door.kit.registry.read() as tx:
        assert pki.thumbprint(renewal) in [
            e.thumbprint for e in tx.audit_events() if e.action == "renew"
        ]
