"""``certkit serve`` as a real process on 127.0.0.1: curl and openssl s_client with generated
certificates get exactly their permissions, changes in the registry are enforced at once.

Certificates are generated with the real clock by an in-process Certkit on the same home.
"""

from __future__ import annotations

import base64
import http.client
import io
import socket
import ssl
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from certkit import pki
from certkit.model import Secret
from certkit.ops import Certkit, open_certkit
from tests.service_helpers import (
    USER_PERMISSIONS,
    Client,
    CurlFailed,
    Serve,
    foreign_ca,
    generate,
    server_client,
    stranger,
    wait_until,
    write_pair,
)

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC)


class World:
    def __init__(self, home: Path, work: Path) -> None:
        self.home = home
        self.work = work
        self.kit = open_certkit(home)
        kit = self.kit
        self.user = generate(kit, work, "user", clearance="ValidUser", permissions=USER_PERMISSIONS)
        self.operator = generate(kit, work, "operator", clearance="Operator")
        self.admin = generate(kit, work, "admin", clearance="ClusterAdmin")
        self.proxy = server_client(kit, work)
        self.foreign_ca = foreign_ca()
        self.stranger = stranger(work, self.foreign_ca, days=2)
        self.serve = Serve(home, work / "serve.log")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("service")
    world = World(base / "home", base / "work")
    yield world
    assert world.serve.stop() == 0, world.serve.log()


def forwarded(client: Client) -> str:
    return "X-Client-Cert: " + quote(client.pem, safe="")


def auth(world: World, client: Client | None, method: str, uri: str) -> int:
    headers = [f"X-Original-Method: {method}", f"X-Original-URI: {uri}"]
    if client is not None:
        headers.append(forwarded(client))
    return world.serve.curl("/auth", world.proxy, headers=headers).status


# ---- who is calling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "clearance", "permissions"),
    [
        ("user", "ValidUser", {"HR": "ReadWrite", "Ops": "Admin", "Sales": "Read"}),
        ("operator", "Operator", {}),
        ("admin", "ClusterAdmin", {}),
    ],
)
def test_whoami_over_curl(world: World, who: str, clearance: str, permissions: dict) -> None:  # type: ignore[type-arg]
    client: Client = getattr(world, who)
    reply = world.serve.curl("/whoami", client)
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "name": who,
        "thumbprint": client.thumbprint,
        "status": "registered",
        "clearance": clearance,
        "permissions": permissions,
        "two_factor": False,
        "two_factor_session": None,
    }
    assert reply.headers["content-type"] == "application/json"


def test_no_certificate_gets_a_json_401(world: World) -> None:
    reply = world.serve.curl("/whoami")
    assert reply.status == 401
    assert "No client certificate" in reply.json()["error"]


def test_a_certificate_from_an_unknown_ca_is_refused(world: World) -> None:
    with pytest.raises(CurlFailed) as failed:
        world.serve.curl("/whoami", world.stranger)
    # the server's "unknown ca" alert (35/56), or a reset seen first (55), as curl reports it
    assert failed.value.code in (35, 55, 56), failed.value.stderr


def _s_client(world: World, client: Client, request: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{world.serve.port}",
            "-servername",
            "localhost",
            "-CAfile",
            str(world.serve.ca),
            "-verify_return_error",
            "-cert",
            str(client.cert),
            "-key",
            str(client.key),
            "-quiet",
            "-ignore_unexpected_eof",
        ],
        input=request,
        capture_output=True,
        timeout=60,
    )


def test_openssl_s_client_gets_exactly_its_permissions(world: World) -> None:
    whoami = b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    done = _s_client(world, world.user, whoami)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"HTTP/1.1 200")
    assert b'"name": "user"' in done.stdout
    listing = b"GET /admin/certificates HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    refused = _s_client(world, world.user, listing)
    assert refused.stdout.startswith(b"HTTP/1.1 403"), refused.stdout[:200]
    allowed = _s_client(world, world.operator, listing)
    assert allowed.stdout.startswith(b"HTTP/1.1 200"), allowed.stdout[:200]


def test_openssl_s_client_with_an_unknown_certificate_fails_the_handshake(world: World) -> None:
    done = _s_client(world, world.stranger, b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"HTTP/1.1" not in done.stdout
    assert b"unknown ca" in done.stderr.lower()


# ---- /auth: the decision for a front proxy, per database and access level ---------------

PERMISSIONS = [
    # (who, method, uri, expected)
    ("user", "GET", "/databases/HR/docs/1", 204),
    ("user", "GET", "/databases/hr/docs/1", 204),
    ("user", "PUT", "/databases/HR/docs/1", 204),
    ("user", "DELETE", "/databases/HR/docs/1", 204),
    ("user", "GET", "/databases/HR/admin/indexes", 403),
    ("user", "GET", "/databases/Sales/docs", 204),
    ("user", "POST", "/databases/Sales/docs", 403),
    ("user", "GET", "/databases/Sales/admin/backup", 403),
    ("user", "POST", "/databases/Ops/admin/backup", 204),
    ("user", "GET", "/databases/Payroll/docs", 403),
    ("user", "GET", "/databases/Sales/../HR/docs", 403),
    ("user", "GET", "/certkit/", 403),
    ("operator", "GET", "/certkit/", 204),
    ("operator", "POST", "/databases/Payroll/admin/x", 204),
    ("admin", "DELETE", "/databases/Payroll/docs", 204),
    ("stranger", "GET", "/databases/HR/docs", 401),
    (None, "GET", "/databases/HR/docs", 401),
]


@pytest.mark.parametrize(
    ("who", "method", "uri", "expected"),
    PERMISSIONS,
    ids=[f"{w}-{m}-{u}" for w, m, u, _ in PERMISSIONS],
)
def test_auth_per_database_and_access(
    world: World, who: str | None, method: str, uri: str, expected: int
) -> None:
    client = getattr(world, who) if who else None
    assert auth(world, client, method, uri) == expected


def test_auth_reports_who_was_allowed(world: World) -> None:
    reply = world.serve.curl(
        "/auth",
        world.proxy,
        headers=[forwarded(world.user), "X-Original-Method: GET", "X-Original-URI: /databases/HR"],
    )
    assert reply.status == 204
    assert reply.headers["x-certkit-name"] == "user"
    assert reply.headers["x-certkit-thumbprint"] == world.user.thumbprint
    assert reply.headers["x-certkit-clearance"] == "ValidUser"


def test_only_a_front_proxy_may_ask_auth_or_forward_a_certificate(world: World) -> None:
    for client in (world.user, world.admin):
        reply = world.serve.curl(
            "/auth",
            client,
            headers=["X-Original-Method: GET", "X-Original-URI: /databases/HR/x"],
        )
        assert reply.status == 403
        assert "front proxy" in reply.json()["error"]
    impersonation = world.serve.curl("/whoami", world.user, headers=[forwarded(world.admin)])
    assert impersonation.status == 403
    assert "X-Client-Cert" in impersonation.json()["error"]


def test_a_proxy_without_a_forwarded_certificate_is_nobody(world: World) -> None:
    assert world.serve.curl("/whoami", world.proxy).status == 401
    assert world.serve.curl("/admin/certificates", world.proxy).status == 401
    reply = world.serve.curl("/whoami", world.proxy, headers=[forwarded(world.operator)])
    assert (reply.status, reply.json()["name"]) == (200, "operator")


def test_auth_needs_the_original_request(world: World) -> None:
    reply = world.serve.curl("/auth", world.proxy, headers=[forwarded(world.user)])
    assert reply.status == 400


# ---- /admin/certificates with the actor rules -------------------------------------------


def test_listing_needs_operator(world: World) -> None:
    assert world.serve.curl("/admin/certificates", world.user).status == 403
    reply = world.serve.curl("/admin/certificates?search=oper", world.operator)
    assert reply.status == 200
    names = [r["name"] for r in reply.json()["certificates"]]
    assert names == ["operator"]
    assert reply.json()["servers"][0]["kind"] == "server"
    one = world.serve.curl(f"/admin/certificates?thumbprint={world.user.thumbprint}", world.admin)
    assert one.json()["permissions"] == {"HR": "ReadWrite", "Ops": "Admin", "Sales": "Read"}


def test_generate_follows_the_actor_rules(world: World) -> None:
    made = world.serve.curl(
        "/admin/certificates",
        world.operator,
        method="POST",
        data={"name": "api user", "clearance": "ValidUser", "permissions": {"HR": "Read"}},
    )
    assert made.status == 201, made.body
    record = made.json()
    assert (record["name"], record["clearance"]) == ("api user", "ValidUser")
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(record["zip_base64"]))) as archive:
        assert sorted(archive.namelist()) == ["api user.crt", "api user.key", "api user.pfx"]
    refused = world.serve.curl(
        "/admin/certificates",
        world.operator,
        method="POST",
        data={"name": "sneaky", "clearance": "ClusterNode"},
    )
    assert refused.status == 403
    assert "Cluster Admin" in refused.json()["error"]
    allowed = world.serve.curl(
        "/admin/certificates",
        world.admin,
        method="POST",
        data={"name": "second admin", "clearance": "ClusterAdmin", "two_factor": True},
    )
    assert allowed.status == 201
    assert allowed.json()["totp_uri"].startswith("otpauth://totp/")
    with world.kit.registry.read() as tx:
        actors = {e.name: e.actor for e in tx.audit_events() if e.action == "generate"}
    assert actors["api user"] == f"operator ({world.operator.thumbprint})"


def test_register_edit_clone_delete_over_the_api(world: World) -> None:
    _, cert = pki.issue_client_certificate(
        *world.foreign_ca, "uploaded", now=NOW, not_after=NOW + timedelta(days=5)
    )
    put = world.serve.curl(
        "/admin/certificates",
        world.operator,
        method="PUT",
        data={
            "certificate": pki.certificate_pem(cert).decode(),
            "clearance": "ValidUser",
            "permissions": {"Sales": "Read"},
        },
    )
    assert put.status == 201, put.body
    thumbprint = put.json()["certificates"][0]["thumbprint"]
    again = world.serve.curl(
        "/admin/certificates",
        world.operator,
        method="PUT",
        data={"certificate": pki.certificate_pem(cert).decode(), "clearance": "ValidUser"},
    )
    assert again.status == 409
    patch = world.serve.curl(
        f"/admin/certificates?thumbprint={thumbprint}",
        world.operator,
        method="PATCH",
        data={"set_permissions": {"HR": "Admin"}},
    )
    assert patch.status == 200
    assert patch.json()["permissions"] == {"HR": "Admin", "Sales": "Read"}
    upgrade = world.serve.curl(
        f"/admin/certificates?thumbprint={thumbprint}",
        world.operator,
        method="PATCH",
        data={"clearance": "ClusterAdmin"},
    )
    assert upgrade.status == 403
    cloned = world.serve.curl(
        "/admin/certificates/clone",
        world.operator,
        method="POST",
        data={"thumbprint": thumbprint, "name": "uploaded clone"},
    )
    assert cloned.status == 201
    assert cloned.json()["permissions"] == {"HR": "Admin", "Sales": "Read"}
    deleted = world.serve.curl(
        f"/admin/certificates?thumbprint={thumbprint}", world.operator, method="DELETE"
    )
    assert (deleted.status, deleted.json()["name"]) == (200, "uploaded")
    gone = world.serve.curl(
        f"/admin/certificates?thumbprint={thumbprint}", world.operator, method="DELETE"
    )
    assert gone.status == 404


def test_nobody_deletes_the_certificate_they_are_connected_with(world: World) -> None:
    reply = world.serve.curl(
        f"/admin/certificates?thumbprint={world.operator.thumbprint}",
        world.operator,
        method="DELETE",
    )
    assert reply.status == 403
    assert "current connection" in reply.json()["error"]


def test_export_gives_the_server_certificates(world: World) -> None:
    reply = world.serve.curl(
        "/admin/certificates/export", world.operator, extra=["-o", "/dev/null"]
    )
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/x-pkcs12"


@pytest.mark.parametrize(
    ("method", "path", "data", "status"),
    [
        ("GET", "/nowhere", None, 404),
        ("POST", "/whoami", None, 405),
        ("POST", "/admin/certificates", "not an object", 400),
        ("POST", "/admin/certificates", {"clearance": "ValidUser"}, 400),
        ("POST", "/admin/certificates", {"name": "x", "clearance": "Boss"}, 400),
        ("GET", "/admin/certificates?state=bogus", None, 400),
        ("PATCH", "/admin/certificates", {}, 400),
    ],
)
def test_errors_are_json(world: World, method: str, path: str, data: object, status: int) -> None:
    reply = world.serve.curl(path, world.admin, method=method, data=data)
    assert reply.status == status
    assert isinstance(reply.json()["error"], str) and reply.json()["error"]


def test_a_body_that_is_not_json_is_a_400(world: World) -> None:
    reply = world.serve.curl(
        "/admin/certificates",
        world.admin,
        method="POST",
        headers=["Content-Type: application/json"],
        extra=["--data-binary", "{broken"],
    )
    assert reply.status == 400
    assert "JSON" in reply.json()["error"]


# ---- changes in the registry are enforced at once -----------------------------------------


def _connection(world: World, client: Client) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(world.serve.ca))
    context.load_cert_chain(client.cert, client.key)
    return http.client.HTTPSConnection("localhost", world.serve.port, context=context, timeout=10)


def _status(connection: http.client.HTTPSConnection, path: str) -> int:
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response.status


def test_a_deleted_certificate_is_refused_within_a_second(world: World) -> None:
    doomed = generate(world.kit, world.work, "doomed", clearance="ValidUser")
    kept_alive = _connection(world, doomed)
    assert _status(kept_alive, "/whoami") == 200
    world.kit.delete(doomed.thumbprint)
    assert wait_until(lambda: _status(kept_alive, "/whoami") == 401, timeout=1.0)
    kept_alive.close()
    assert world.serve.curl("/whoami", doomed).status == 401


def test_a_downgraded_certificate_is_refused_within_a_second(world: World) -> None:
    demoted = generate(world.kit, world.work, "demoted", clearance="Operator")
    kept_alive = _connection(world, demoted)
    assert _status(kept_alive, "/admin/certificates") == 200
    world.kit.edit(demoted.thumbprint, clearance="ValidUser")
    assert wait_until(lambda: _status(kept_alive, "/admin/certificates") == 403, timeout=1.0)
    kept_alive.close()


def test_a_well_known_issuers_certificate_gets_in(world: World, tmp_path: Path) -> None:
    key, cert = pki.issue_client_certificate(
        *world.foreign_ca, "issued admin", now=NOW, not_after=NOW + timedelta(days=1)
    )
    issued = write_pair(tmp_path, "issued admin", key, cert)
    with pytest.raises(CurlFailed):
        world.serve.curl("/whoami", issued)
    world.kit.add_well_known_issuer(pki.certificate_pem(world.foreign_ca[1]))

    def admitted() -> bool:
        try:
            return world.serve.curl("/whoami", issued).status == 200
        except CurlFailed:
            return False

    assert wait_until(admitted, timeout=5.0)
    reply = world.serve.curl("/whoami", issued).json()
    assert reply["status"] == "well-known-issuer"
    assert reply["clearance"] == "ClusterAdmin"
    world.kit.remove_well_known(pki.thumbprint(world.foreign_ca[1]))
    assert wait_until(lambda: not admitted(), timeout=5.0)


def test_an_expired_registered_certificate_gets_a_clear_401(world: World, tmp_path: Path) -> None:
    ca = world.kit.authority()
    start = datetime.now(UTC) - timedelta(minutes=1)
    key, cert = pki.issue_client_certificate(
        ca.key,
        ca.certificate,
        "short",
        now=start,
        not_after=datetime.now(UTC) + timedelta(seconds=2),
    )
    world.kit.register(pki.certificate_pem(cert), clearance="ValidUser")
    short = write_pair(tmp_path, "short", key, cert)
    assert world.serve.curl("/whoami", short).status == 200
    assert wait_until(lambda: datetime.now(UTC) > cert.not_valid_after_utc, timeout=5.0)
    reply = world.serve.curl("/whoami", short)
    assert reply.status == 401
    assert "expired" in reply.json()["error"]


def test_a_renewal_with_the_same_key_is_registered_automatically(
    world: World, tmp_path: Path
) -> None:
    original = generate(
        world.kit, world.work, "renewing", clearance="ValidUser", permissions={"HR": "Read"}
    )
    old = x509.load_pem_x509_certificate(original.cert.read_bytes())
    key = load_pem_private_key(original.key.read_bytes(), None)
    ca = world.kit.authority()
    start = datetime.now(UTC) - timedelta(minutes=1)
    renewal = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=800))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    renewed = write_pair(tmp_path, "renewed", key, renewal)  # type: ignore[arg-type]
    reply = world.serve.curl("/whoami", renewed)
    assert reply.status == 200, reply.body
    assert reply.json()["thumbprint"] == pki.thumbprint(renewal)
    assert (reply.json()["name"], reply.json()["permissions"]) == ("renewing", {"HR": "Read"})
    with world.kit.registry.read() as tx:
        renewals = [e for e in tx.audit_events() if e.action == "renew"]
    assert [e.thumbprint for e in renewals] == [pki.thumbprint(renewal)]


# ---- a service of its own: server certificate replacement, last used on shutdown ---------


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[tuple[Certkit, Serve, Client]]:
    kit = open_certkit(tmp_path / "home")
    client = generate(kit, tmp_path, "lone", clearance="ValidUser")
    serve = Serve(tmp_path / "home", tmp_path / "serve.log")
    yield kit, serve, client
    serve.stop()


def _served_thumbprint(serve: Serve) -> str:
    context = ssl.create_default_context(cafile=str(serve.ca))
    with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return pki.thumbprint(x509.load_der_x509_certificate(der))


def test_a_replaced_server_certificate_is_served_without_a_restart(
    lone: tuple[Certkit, Serve, Client],
) -> None:
    kit, serve, client = lone
    before = _served_thumbprint(serve)
    ca = kit.authority()
    key, cert = pki.create_server_certificate(
        ca.key, ca.certificate, common_name="localhost", hostnames=kit.hostnames(), now=NOW
    )
    pfx = pki.pkcs12_bytes("new server", key, cert, [ca.certificate], passphrase=Secret("pw"))
    installed = kit.replace_server_certificate(pfx, passphrase="pw")
    assert installed.thumbprint != before
    assert wait_until(lambda: _served_thumbprint(serve) == installed.thumbprint, timeout=5.0)
    assert serve.curl("/whoami", client).status == 200
    assert serve.process.poll() is None  # the same process: no restart


def test_last_used_is_written_by_the_service(lone: tuple[Certkit, Serve, Client]) -> None:
    kit, serve, client = lone
    assert kit.show(client.thumbprint).last_used is None  # type: ignore[union-attr]
    assert serve.curl("/whoami", client).status == 200
    assert serve.stop() == 0
    last_used = kit.show(client.thumbprint).last_used  # type: ignore[union-attr]
    assert last_used is not None
    assert abs(last_used - datetime.now(UTC)) < timedelta(minutes=5)
    assert "GET /whoami -> 200 registered" in serve.log_path.read_text()
