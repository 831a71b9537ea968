"""Renew (regenerate) through the operations: same settings, new key, the link both ways,
the old one no longer expiring, kept or deleted, actor rules and the audit log; purge."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from certkit import pki, totp
from certkit.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TotpRejected
from certkit.model import (
    Access,
    Actor,
    CertificateRecord,
    CertState,
    Clearance,
    GeneratedCertificate,
    KeyType,
    ListQuery,
)
from certkit.ops import Certkit
from tests.conftest import on_both_backends, registry_rows

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL

OPERATOR = Actor(Clearance.OPERATOR, name="olga the operator")
USER = Actor(Clearance.VALID_USER, name="ulf the user")
DAY = timedelta(days=1)


def record(kit: Certkit, thumbprint: str) -> CertificateRecord:
    found = kit.show(thumbprint)
    assert isinstance(found, CertificateRecord)
    return found


def digest(kit: Certkit) -> list[Any]:
    rows = registry_rows(kit)
    return [sorted(rows[table]) for table in ("entries", "certificates", "audit_log")]


@pytest.fixture
def alice(kit: Certkit) -> GeneratedCertificate:
    return kit.generate_client_certificate(
        "alice",
        clearance="Operator",
        permissions={"HR": "ReadWrite", "Sales": "Read"},
        expires="20d",
    )


def test_renew_keeps_the_settings_and_links_both_ways(
    kit: Certkit, alice: GeneratedCertificate
) -> None:
    old = alice.record
    made = kit.renew(old.thumbprint, passphrase="pw", expires="1y", key_type=KeyType.EC_P384)
    new = made.record
    assert new.thumbprint != old.thumbprint
    assert (new.name, new.clearance, dict(new.permissions), new.two_factor) == (
        "alice",
        Clearance.OPERATOR,
        {"HR": Access.READ_WRITE, "Sales": Access.READ},
        False,
    )
    assert new.replaces == old.thumbprint and new.replaced_by is None
    assert record(kit, old.thumbprint).replaced_by == new.thumbprint
    assert record(kit, new.thumbprint).replaces == old.thumbprint
    assert new.not_after - kit.now() == timedelta(days=365)
    assert made.totp is None
    assert made.zip_name == "alice.zip"
    with zipfile.ZipFile(io.BytesIO(made.zip_bytes)) as archive:
        assert sorted(archive.namelist()) == ["alice.crt", "alice.key", "alice.pfx"]
        bundle = pkcs12.load_pkcs12(archive.read("alice.pfx"), b"pw")
    assert bundle.cert is not None
    cert = bundle.cert.certificate
    assert pki.thumbprint(cert) == new.thumbprint
    assert cert.issuer == x509.load_pem_x509_certificate(kit.ca_certificate_pem()).subject
    assert not pki.same_public_key(cert, _certificate(alice))  # a new key


def test_the_renewed_one_no_longer_counts_as_expiring(
    kit: Certkit, alice: GeneratedCertificate
) -> None:
    expiring = ListQuery(state=CertState.EXPIRING, limit=None)
    assert [r.thumbprint for r in kit.list_certificates(expiring).records] == [
        alice.record.thumbprint
    ]
    assert [r.thumbprint for r in kit.expiry_alerts().clients] == [alice.record.thumbprint]
    kit.renew(alice.record.thumbprint)
    assert kit.list_certificates(expiring).records == ()
    assert kit.list_certificates().counts_by_state["expiring"] == 0
    assert kit.expiry_alerts().clients == ()
    assert record(kit, alice.record.thumbprint).state(kit.now()) is CertState.VALID
    assert kit.list_certificates().total == 2  # kept until it expires


def test_renew_is_audited(kit: Certkit, alice: GeneratedCertificate) -> None:
    made = kit.renew(alice.record.thumbprint, actor=OPERATOR)
    with kit.registry.read() as tx:
        event = tx.audit_events(limit=1)[0]
    assert (event.action, event.thumbprint, event.name, event.actor) == (
        "renew",
        made.record.thumbprint,
        "alice",
        "olga the operator",
    )
    details = json.loads(event.details)
    assert details["renews"] == alice.record.thumbprint
    assert details["clearance"] == "Operator" and details["delete_old"] is False


def test_renew_and_delete_the_old_one_at_once(kit: Certkit, alice: GeneratedCertificate) -> None:
    made = kit.renew(alice.record.thumbprint, delete_old=True)
    with pytest.raises(NotFound):
        kit.show(alice.record.thumbprint)
    assert record(kit, made.record.thumbprint).replaces == alice.record.thumbprint  # history
    assert [r.name for r in kit.list_certificates().records] == ["alice"]
    with kit.registry.read() as tx:
        actions = [(e.action, e.thumbprint) for e in tx.audit_events(limit=2)]
    assert actions == [("delete", alice.record.thumbprint), ("renew", made.record.thumbprint)]


def test_two_factor_carries_over(kit: Certkit) -> None:
    made = kit.generate_client_certificate("bob", two_factor=True, expires="10d")
    assert made.totp is not None
    secret = made.totp.secret
    used = totp.code_at(secret, kit.now())
    kit.check_two_factor(made.record.thumbprint, used)
    renewal = kit.renew(made.record.thumbprint)
    assert renewal.totp is None  # the same authenticator keeps working
    assert renewal.record.two_factor
    later = kit.now() + timedelta(seconds=totp.PERIOD)
    with pytest.raises(TotpRejected, match="already used"):
        kit.check_two_factor(renewal.record.thumbprint, used)  # a used code stays used
    kit.check_two_factor(renewal.record.thumbprint, totp.code_at(secret, later), at=later)


def test_renew_by_a_collection_member(kit: Certkit, partner_pem: tuple[bytes, str, str]) -> None:
    _, primary, member = partner_pem
    made = kit.renew(member)
    assert made.record.replaces == primary
    assert record(kit, primary).replaced_by == made.record.thumbprint
    assert made.record.collection == ()


def test_a_renewed_certificate_is_not_renewed_twice(
    kit: Certkit, alice: GeneratedCertificate
) -> None:
    first = kit.renew(alice.record.thumbprint)
    before = digest(kit)
    with pytest.raises(Conflict, match=first.record.thumbprint):
        kit.renew(alice.record.thumbprint)
    assert digest(kit) == before
    second = kit.renew(first.record.thumbprint)  # the renewal can be renewed in turn
    assert second.record.replaces == first.record.thumbprint


def test_deleting_the_renewal_makes_the_old_one_count_again(
    kit: Certkit, alice: GeneratedCertificate
) -> None:
    made = kit.renew(alice.record.thumbprint)
    kit.delete(made.record.thumbprint)
    old = record(kit, alice.record.thumbprint)
    assert old.replaced_by is None
    assert old.state(kit.now()) is CertState.EXPIRING
    assert [r.thumbprint for r in kit.expiry_alerts().clients] == [old.thumbprint]


@pytest.mark.parametrize(
    ("actor", "clearance", "allowed"),
    [
        (OPERATOR, "Operator", True),
        (OPERATOR, "ValidUser", True),
        (OPERATOR, "ClusterAdmin", False),
        (USER, "ValidUser", False),
        (Actor(Clearance.CLUSTER_ADMIN, name="ada"), "ClusterAdmin", True),
    ],
)
def test_who_may_renew(kit: Certkit, actor: Actor, clearance: str, allowed: bool) -> None:
    target = kit.generate_client_certificate("target", clearance=clearance, expires="10d")
    before = digest(kit)
    if allowed:
        assert kit.renew(target.record.thumbprint, actor=actor).record.clearance == Clearance(
            clearance
        )
    else:
        with pytest.raises(PermissionDenied):
            kit.renew(target.record.thumbprint, actor=actor)
        assert digest(kit) == before


def test_nobody_deletes_the_certificate_they_renew_from(
    kit: Certkit, alice: GeneratedCertificate
) -> None:
    me = Actor(Clearance.OPERATOR, thumbprint=alice.record.thumbprint, name="alice")
    before = digest(kit)
    with pytest.raises(PermissionDenied, match="current connection"):
        kit.renew(alice.record.thumbprint, delete_old=True, actor=me)
    assert digest(kit) == before
    made = kit.renew(alice.record.thumbprint, actor=me)  # keeping it is fine
    assert made.record.replaces == alice.record.thumbprint


def test_renew_refuses_server_and_unknown_certificates(kit: Certkit) -> None:
    kit.initialise()
    server = kit.server_certificates()[0]
    with pytest.raises(InvalidInput, match="server certificate"):
        kit.renew(server.thumbprint)
    with pytest.raises(NotFound):
        kit.renew("AB" * 20)
    with pytest.raises(InvalidInput, match="expiration"):
        kit.renew(kit.generate_client_certificate("x").record.thumbprint, expires=-DAY)


@pytest.fixture
def partner_pem(kit: Certkit) -> tuple[bytes, str, str]:
    now = kit.now()
    ca_key, ca = pki.create_ca("Renew Test CA", now=now - DAY)
    pairs = [
        pki.issue_client_certificate(ca_key, ca, n, now=now, not_after=now + 20 * DAY)
        for n in ("partner-1", "partner-2")
    ]
    data = b"".join(pki.certificate_pem(c) for _, c in pairs)
    registered = kit.register(data, clearance="ValidUser", name="partner").records[0]
    return data, registered.thumbprint, registered.collection[0]


# ------------------------------------------------------------------------ purge
@pytest.fixture
def aged(kit: Certkit, clock: Any) -> dict[str, str]:
    """Expired 40 days ago, 5 days ago, a Cluster Admin expired 40 days ago, one valid."""
    start = clock.moment
    made = {}
    for name, expires, clearance in (
        ("gone-40", 60 * DAY, "ValidUser"),
        ("gone-5", 95 * DAY, "Operator"),
        ("admin-gone-40", 60 * DAY, "ClusterAdmin"),
        ("fine", 400 * DAY, "ValidUser"),
    ):
        clock.moment = start - 100 * DAY
        made[name] = kit.generate_client_certificate(
            name, clearance=clearance, expires=expires
        ).record.thumbprint
    clock.moment = start
    return made


def test_purge_expired_older_than(kit: Certkit, aged: dict[str, str]) -> None:
    assert [r.name for r in kit.expired_entries(older_than=30 * DAY)] == [
        "admin-gone-40",
        "gone-40",
    ]
    assert (kit.count_expired(older_than=30 * DAY), kit.count_expired()) == (2, 3)
    result = kit.purge_expired(older_than=30 * DAY)
    assert sorted(r.name for r in result.deleted) == ["admin-gone-40", "gone-40"]
    assert result.skipped == ()
    assert sorted(r.name for r in kit.list_certificates().records) == ["fine", "gone-5"]
    with kit.registry.read() as tx:
        events = [e for e in tx.audit_events() if e.action == "purge"]
    assert sorted(e.name or "" for e in events) == ["admin-gone-40", "gone-40"]
    assert json.loads(events[0].details)["reason"] == "expired"
    assert [r.name for r in kit.purge_expired().deleted] == ["gone-5"]
    assert kit.purge_expired().deleted == ()


def test_purge_follows_the_actor_rules(kit: Certkit, aged: dict[str, str]) -> None:
    before = digest(kit)
    with pytest.raises(PermissionDenied):
        kit.purge_expired(actor=USER)
    assert digest(kit) == before
    result = kit.purge_expired(actor=OPERATOR)
    assert sorted(r.name for r in result.deleted) == ["gone-40", "gone-5"]
    assert [(r.name, "Cluster Admin" in why) for r, why in result.skipped] == [
        ("admin-gone-40", True)
    ]
    record(kit, aged["admin-gone-40"])  # still there


def test_purge_deletes_whole_collections(kit: Certkit, clock: Any) -> None:
    start = clock.moment
    ca_key, ca = pki.create_ca("Purge Test CA", now=start - 200 * DAY)
    pairs = [
        pki.issue_client_certificate(
            ca_key, ca, n, now=start - 100 * DAY, not_after=start - 100 * DAY + d * DAY
        )
        for n, d in (("primary", 50), ("member", 500))
    ]
    clock.moment = start - 100 * DAY
    kit.register(b"".join(pki.certificate_pem(c) for _, c in pairs), clearance="ValidUser")
    clock.moment = start
    result = kit.purge_expired()  # the primary expired: the entry goes, member and all
    assert [len(r.collection) for r in result.deleted] == [1]
    with kit.registry.read() as tx:
        assert tx._con.execute("SELECT count(*) FROM certificates").fetchone() == (0,)


def test_purge_unused(kit: Certkit, aged: dict[str, str], clock: Any) -> None:
    recent = kit.generate_client_certificate("recent").record.thumbprint
    with kit.registry.transaction() as tx:
        tx.touch_last_used(aged["fine"], clock.moment - 10 * DAY)
    assert kit.unused_entries(unused_for=90 * DAY) == []
    clock.advance(85 * DAY)  # fine: used 95 days ago; recent: registered 85 days ago
    assert [r.name for r in kit.unused_entries(unused_for=90 * DAY)] == ["fine"]
    assert kit.count_unused(unused_for=90 * DAY) == 1
    result = kit.purge_unused(unused_for=90 * DAY)
    assert [r.name for r in result.deleted] == ["fine"]
    record(kit, recent)
    with pytest.raises(InvalidInput, match="a day or more"):
        kit.purge_unused(unused_for=timedelta(hours=1))


def test_purge_leaves_a_renewal_whose_old_one_goes(
    kit: Certkit, clock: Any, alice: GeneratedCertificate
) -> None:
    made = kit.renew(alice.record.thumbprint)
    clock.advance(25 * DAY)
    assert [r.thumbprint for r in kit.purge_expired().deleted] == [alice.record.thumbprint]
    renewal = record(kit, made.record.thumbprint)
    assert renewal.replaces == alice.record.thumbprint and renewal.replaced_by is None


def _certificate(made: GeneratedCertificate) -> x509.Certificate:
    with zipfile.ZipFile(io.BytesIO(made.zip_bytes)) as archive:
        return x509.load_pem_x509_certificate(archive.read(f"{made.record.name}.crt"))
