"""AuthOps: the view built from the registry, renewals, last used, two-factor sessions.

Runs in-process on a fresh home with the injected clock (conftest's ``kit`` and ``clock``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from certkit import pki, totp
from certkit.access import Need, Request, authorize
from certkit.authz import AuthStatus
from certkit.errors import InvalidInput, TotpRejected
from certkit.model import Access, Clearance, Secret
from certkit.ops import Certkit, open_certkit
from certkit.registry import Registry
from certkit.registry.auth_queries import open_sessions
from certkit.registry.schema import MIGRATIONS, SCHEMA_VERSION
from tests.conftest import CertFactory, FakeClock, on_both_backends, self_signed

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def cert_of(kit: Certkit, thumbprint: str) -> bytes:
    with kit.registry.read() as tx:
        data = tx.certificate_der(thumbprint)
    assert data is not None
    return data


def same_key_certificate(
    old: x509.Certificate,
    signer: pki.PrivateKey,
    issuer: x509.Name,
    *,
    start: object,
    days: int = 400,
) -> x509.Certificate:
    """A renewal of ``old``: its public key and subject, signed by ``signer`` as ``issuer``."""
    from datetime import datetime

    assert isinstance(start, datetime)
    return (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(issuer)
        .public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())
    )


# ---- schema version 2 ------------------------------------------------------------------


def test_schema_version_2_adds_sessions(tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 2  # later versions (3: expiry) run after it
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(MIGRATIONS[1])
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.close()
    registry = Registry(path)
    with registry.read() as tx:
        assert tx.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert open_sessions(tx, FakeClock()()) == []


# ---- the view ---------------------------------------------------------------------------


def test_a_generated_certificate_authenticates_with_its_settings(kit: Certkit) -> None:
    made = kit.generate_client_certificate(
        "alice", clearance="ValidUser", permissions={"HR": "ReadWrite", "Sales": "Read"}
    )
    result = kit.authenticate_request([cert_of(kit, made.record.thumbprint)])
    assert result.status is AuthStatus.REGISTERED
    assert (result.name, result.clearance) == ("alice", Clearance.VALID_USER)
    assert dict(result.permissions) == {"HR": Access.READ_WRITE, "Sales": Access.READ}
    assert authorize(result, Request.write("hr")).allowed
    assert not authorize(result, Request.write("sales")).allowed
    assert not authorize(result, Request(Need.OPERATOR)).allowed


def test_a_deleted_certificate_is_unknown_after_a_refresh(kit: Certkit) -> None:
    made = kit.generate_client_certificate("bob", clearance="Operator")
    chain = [cert_of(kit, made.record.thumbprint)]
    assert kit.authenticate_request(chain).status is AuthStatus.REGISTERED
    assert kit.refresh_auth_view() is False  # nothing changed
    kit.delete(made.record.thumbprint)
    assert kit.refresh_auth_view() is True
    assert kit.authenticate_request(chain).status is AuthStatus.UNKNOWN


def test_a_downgrade_is_seen_after_a_refresh(kit: Certkit) -> None:
    made = kit.generate_client_certificate("carol", clearance="Operator")
    chain = [cert_of(kit, made.record.thumbprint)]
    assert authorize(kit.authenticate_request(chain), Request(Need.OPERATOR)).allowed
    kit.edit(made.record.thumbprint, clearance="ValidUser", permissions={"HR": "Read"})
    kit.refresh_auth_view()
    result = kit.authenticate_request(chain)
    assert result.clearance is Clearance.VALID_USER
    assert not authorize(result, Request(Need.OPERATOR)).allowed
    assert authorize(result, Request.read("HR")).allowed


def test_another_process_change_is_seen(kit: Certkit, home: Path, clock: FakeClock) -> None:
    made = kit.generate_client_certificate("dave", clearance="Operator")
    chain = [cert_of(kit, made.record.thumbprint)]
    assert kit.authenticate_request(chain).status is AuthStatus.REGISTERED
    other = open_certkit(home, clock=clock)  # another service replica or CLI on the same home
    other.delete(made.record.thumbprint)
    kit.refresh_auth_view()
    assert kit.authenticate_request(chain).status is AuthStatus.UNKNOWN


def test_members_of_a_collection_authenticate_with_the_entry(
    kit: Certkit, certs: CertFactory
) -> None:
    first, second = certs.client("m1")[1], certs.client("m2")[1]
    kit.register(
        certs.pem(first, second), clearance="ValidUser", name="pair", permissions={"HR": "Read"}
    )
    for cert in (first, second):
        result = kit.authenticate_request([der(cert)])
        assert result.status is AuthStatus.REGISTERED
        assert result.name == "pair"
        assert result.entry is not None and result.entry.members == (pki.thumbprint(second),)


def test_the_server_certificate_is_cluster_node(kit: Certkit) -> None:
    _, cert, _ = kit.server_identity()
    result = kit.authenticate_request([der(cert)])
    assert result.status is AuthStatus.CLUSTER_NODE
    assert result.name == "Server certificate (node A)"


def test_well_known_admin_and_issuer(kit: Certkit, certs: CertFactory) -> None:
    _, admin = certs.client("well-known admin")
    kit.add_well_known_admin(pki.thumbprint(admin))
    kit.refresh_auth_view()
    assert kit.authenticate_request([der(admin)]).status is AuthStatus.WELL_KNOWN_ADMIN
    issued = certs.client("issued by the foreign CA")[1]
    assert kit.authenticate_request([der(issued)]).status is AuthStatus.UNKNOWN
    kit.add_well_known_issuer(certs.pem(certs.ca))
    kit.refresh_auth_view()
    result = kit.authenticate_request([der(issued)])
    assert result.status is AuthStatus.WELL_KNOWN_ISSUER
    assert result.clearance is Clearance.CLUSTER_ADMIN


def test_trust_anchors_hold_the_cas_servers_and_clients_no_ca_signed(
    kit: Certkit, certs: CertFactory
) -> None:
    made = kit.generate_client_certificate("erin", clearance="ValidUser")  # certkit's CA
    foreign = certs.client("foreign")[1]  # the foreign CA is not known (yet)
    kit.register(certs.pem(foreign), clearance="ValidUser")
    _, server, _ = kit.server_identity()
    anchors = set(kit.trust_anchors())
    assert der(kit.authority().certificate) in anchors
    assert der(server) in anchors
    assert der(foreign) in anchors  # trusted directly, as a partial chain
    assert cert_of(kit, made.record.thumbprint) not in anchors  # its CA is enough
    kit.add_well_known_issuer(certs.pem(certs.ca))
    kit.refresh_auth_view()
    anchors = set(kit.trust_anchors())
    assert der(certs.ca) in anchors
    assert der(foreign) not in anchors  # now its issuer is an anchor


# ---- renewals ---------------------------------------------------------------------------


def test_a_renewal_by_certkits_ca_is_registered_with_the_same_settings(
    kit: Certkit, clock: FakeClock
) -> None:
    made = kit.generate_client_certificate(
        "frank", clearance="Operator", permissions={"HR": "Admin"}
    )
    old = x509.load_der_x509_certificate(cert_of(kit, made.record.thumbprint))
    ca = kit.authority()
    renewal = same_key_certificate(
        old, ca.key, ca.certificate.subject, start=clock() - timedelta(minutes=1)
    )
    result = kit.authenticate_request([der(renewal)])
    assert result.status is AuthStatus.REGISTERED
    assert result.thumbprint == pki.thumbprint(renewal)
    assert (result.name, result.clearance) == ("frank", Clearance.OPERATOR)
    assert dict(result.permissions) == {"HR": Access.ADMIN}
    new = kit.show(pki.thumbprint(renewal))
    previous = kit.show(made.record.thumbprint)
    assert new.name == "frank" and previous.replaced_by == pki.thumbprint(renewal)  # type: ignore[union-attr]
    with kit.registry.read() as tx:
        events = [e for e in tx.audit_events() if e.action == "renew"]
    assert len(events) == 1
    assert events[0].thumbprint == pki.thumbprint(renewal)
    assert made.record.thumbprint in events[0].details
    # the old certificate still works until it expires
    assert kit.authenticate_request([der(old)]).status is AuthStatus.REGISTERED


def test_a_self_signed_renewal_keeps_two_factor_with_the_same_secret(
    kit: Certkit, clock: FakeClock
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    old = self_signed("gina", now=clock(), days=10, key=key)
    name = old.subject
    registration = kit.register(
        pki.certificate_pem(old), clearance="ValidUser", two_factor=True, name="gina"
    )
    secret = registration.totp[pki.thumbprint(old)].secret
    renewal = same_key_certificate(old, key, name, start=clock())
    result = kit.authenticate_request([der(renewal)])
    assert result.status is AuthStatus.TWO_FACTOR_REQUIRED
    assert result.name == "gina"
    clock.advance(timedelta(seconds=30))
    opened = kit.open_two_factor_session(
        pki.thumbprint(renewal), totp.code_at(secret, clock()), browser_only=False
    )
    assert opened.name == "gina"
    assert kit.authenticate_request([der(renewal)]).status is AuthStatus.REGISTERED


def test_a_renewal_is_registered_once(kit: Certkit, clock: FakeClock) -> None:
    made = kit.generate_client_certificate("hal", clearance="ValidUser")
    old = x509.load_der_x509_certificate(cert_of(kit, made.record.thumbprint))
    ca = kit.authority()
    renewal = same_key_certificate(old, ca.key, ca.certificate.subject, start=clock())
    for _ in range(3):
        assert kit.authenticate_request([der(renewal)]).status is AuthStatus.REGISTERED
    names = [r.name for r in kit.list_certificates().records]
    assert names.count("hal") == 2


# ---- last used ----------------------------------------------------------------------------


def test_last_used_is_written_at_most_once_a_minute(kit: Certkit, clock: FakeClock) -> None:
    made = kit.generate_client_certificate("ivy", clearance="ValidUser")
    chain = [cert_of(kit, made.record.thumbprint)]
    start = clock()
    kit.authenticate_request(chain)
    assert kit.flush_last_used() == 1
    assert kit.show(made.record.thumbprint).last_used == start.replace(microsecond=0)  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=30))
    kit.authenticate_request(chain)
    assert kit.flush_last_used() == 0  # throttled
    assert kit.show(made.record.thumbprint).last_used == start.replace(microsecond=0)  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=31))
    kit.authenticate_request(chain)
    assert kit.flush_last_used() == 1
    assert kit.show(made.record.thumbprint).last_used == clock().replace(microsecond=0)  # type: ignore[union-attr]


def test_last_used_never_goes_backwards_and_is_not_a_view_change(
    kit: Certkit, clock: FakeClock
) -> None:
    made = kit.generate_client_certificate("jo", clearance="ValidUser")
    kit.auth_view()
    kit.note_use(made.record.thumbprint, clock())
    kit.note_use(made.record.thumbprint, clock() - timedelta(hours=1))
    assert kit.flush_last_used(force=True) == 1
    kit.note_use(made.record.thumbprint, clock() - timedelta(hours=2))
    assert kit.flush_last_used(force=True) == 1
    assert kit.show(made.record.thumbprint).last_used == clock().replace(microsecond=0)  # type: ignore[union-attr]
    assert kit.refresh_auth_view() is False  # last used is not part of the view


def test_an_unauthenticated_certificate_is_not_noted(kit: Certkit, certs: CertFactory) -> None:
    kit.authenticate_request([der(certs.client("stranger")[1])])
    assert kit.flush_last_used(force=True) == 0


# ---- two-factor sessions ------------------------------------------------------------------


TwoFactor = tuple[list[bytes], str, Secret]


@pytest.fixture
def two_factor(kit: Certkit) -> TwoFactor:
    made = kit.generate_client_certificate(
        "kim", clearance="ValidUser", permissions={"HR": "Read"}, two_factor=True
    )
    assert made.totp is not None
    return [cert_of(kit, made.record.thumbprint)], made.record.thumbprint, made.totp.secret


def test_a_session_for_every_client(kit: Certkit, clock: FakeClock, two_factor: TwoFactor) -> None:
    chain, thumbprint, secret = two_factor
    assert kit.authenticate_request(chain).status is AuthStatus.TWO_FACTOR_REQUIRED
    opened = kit.open_two_factor_session(
        thumbprint, totp.code_at(secret, clock()), duration_minutes=10, browser_only=False
    )
    assert opened.cookie is None
    assert opened.expires_at == clock() + timedelta(minutes=10)
    result = kit.authenticate_request(chain)
    assert result.status is AuthStatus.REGISTERED
    assert authorize(result, Request.read("hr")).allowed
    clock.advance(timedelta(minutes=10))
    assert kit.authenticate_request(chain).status is AuthStatus.TWO_FACTOR_REQUIRED


def test_a_browser_only_session_needs_its_cookie(
    kit: Certkit, clock: FakeClock, two_factor: TwoFactor
) -> None:
    chain, thumbprint, secret = two_factor
    opened = kit.open_two_factor_session(thumbprint, totp.code_at(secret, clock()))
    assert opened.browser_only and opened.cookie is not None
    assert opened.expires_at == clock() + timedelta(minutes=120)
    assert "'***'" in repr(opened.cookie)
    cookie = opened.cookie.reveal_text()
    assert kit.authenticate_request(chain, cookie=cookie).status is AuthStatus.REGISTERED
    assert kit.authenticate_request(chain).status is AuthStatus.TWO_FACTOR_REQUIRED
    assert kit.authenticate_request(chain, cookie="x" + cookie).status is (
        AuthStatus.TWO_FACTOR_REQUIRED
    )
    with kit.registry.read() as tx:
        (row,) = open_sessions(tx, clock(), thumbprint)
    assert row.cookie_hash and cookie not in row.cookie_hash  # only the hash is stored


def test_sessions_are_shared_through_the_registry(
    kit: Certkit, home: Path, clock: FakeClock, two_factor: TwoFactor
) -> None:
    chain, thumbprint, secret = two_factor
    replica = open_certkit(home, clock=clock)
    assert replica.authenticate_request(chain).status is AuthStatus.TWO_FACTOR_REQUIRED
    kit.open_two_factor_session(thumbprint, totp.code_at(secret, clock()), browser_only=False)
    replica.refresh_auth_view()
    assert replica.authenticate_request(chain).status is AuthStatus.REGISTERED
    assert replica.close_two_factor_sessions(thumbprint) == 1
    kit.refresh_auth_view()
    assert kit.authenticate_request(chain).status is AuthStatus.TWO_FACTOR_REQUIRED


def test_reused_wrong_and_locked_out_codes_open_nothing(
    kit: Certkit, clock: FakeClock, two_factor: TwoFactor
) -> None:
    chain, thumbprint, secret = two_factor
    code = totp.code_at(secret, clock() + timedelta(seconds=30))  # next step: still valid after
    kit.open_two_factor_session(thumbprint, code, browser_only=False, duration_minutes=1)
    clock.advance(timedelta(minutes=1))  # that session ended; the same code opens no other
    with pytest.raises(TotpRejected, match="already used"):
        kit.open_two_factor_session(thumbprint, code, browser_only=False)
    wrong = f"{(int(totp.code_at(secret, clock())) + 1) % 1_000_000:06d}"
    with pytest.raises(TotpRejected, match="Wrong code"):
        kit.open_two_factor_session(thumbprint, wrong, browser_only=False)
    for _ in range(4):
        with pytest.raises(TotpRejected):
            kit.open_two_factor_session(thumbprint, wrong, browser_only=False)
    clock.advance(timedelta(seconds=30))
    with pytest.raises(TotpRejected, match="Too many wrong codes"):
        kit.open_two_factor_session(thumbprint, totp.code_at(secret, clock()), browser_only=False)
    assert kit.authenticate_request(chain).status is AuthStatus.TWO_FACTOR_REQUIRED


@pytest.mark.parametrize("minutes", [0, -5, 1441, True, 2.5, "60"])
def test_session_length_is_checked(kit: Certkit, two_factor: TwoFactor, minutes: object) -> None:
    _, thumbprint, _ = two_factor
    with pytest.raises(InvalidInput, match="1 to 1440 minutes"):
        kit.open_two_factor_session(thumbprint, "000000", duration_minutes=minutes)  # type: ignore[arg-type]


def test_a_certificate_without_two_factor_cannot_open_a_session(kit: Certkit) -> None:
    made = kit.generate_client_certificate("lee", clearance="ValidUser")
    with pytest.raises(InvalidInput, match="does not use two-factor"):
        kit.open_two_factor_session(made.record.thumbprint, "123456")
