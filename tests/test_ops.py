"""The use cases (certkit.ops): generate, register, edit, clone, delete, actors, server
certificates, well-known certificates and two-factor checks."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkit import pki, totp
from certkit.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TotpRejected,
    WrongPassphrase,
)
from certkit.model import (
    Access,
    Actor,
    CertificateRecord,
    CertKind,
    Clearance,
    GeneratedCertificate,
    KeyType,
    ListQuery,
    Pkcs12Profile,
    Secret,
    ServerCertificate,
    WellKnownEntry,
    add_period,
    parse_period,
    validate_name,
)
from certkit.ops import Certkit, open_certkit
from certkit.ops.twofactor import LOCKOUT, MAX_FAILURES
from tests.conftest import (
    START,
    CertFactory,
    FakeClock,
    on_both_backends,
    registry_bytes,
    registry_digest,
    self_signed,
)

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL

PASSPHRASE = "Correct-Horse-Battery-Staple-42"
HOSTNAMES = ["localhost", "127.0.0.1", "certkit.test"]
STEP = timedelta(seconds=totp.PERIOD)
OPERATOR = Actor(Clearance.OPERATOR, name="olga the operator")
USER = Actor(Clearance.VALID_USER, name="ulf the user")
ADMIN = Actor(Clearance.CLUSTER_ADMIN, name="ada the admin")


@pytest.fixture
def ready(kit: Certkit) -> Certkit:
    """An initialised home with known host names."""
    kit.initialise(cluster_name="Blue Cluster", hostnames=HOSTNAMES)
    return kit


def _zip(made: GeneratedCertificate) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(made.zip_bytes)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _crt(made: GeneratedCertificate) -> x509.Certificate:
    return x509.load_pem_x509_certificates(_zip(made)[f"{made.record.name}.crt"])[0]


def _home_bytes(kit: Certkit) -> dict[str, bytes]:
    """Every file of the home, and every value stored in the registry (on either backend)."""
    files = {str(p): p.read_bytes() for p in kit.home.path.rglob("*") if p.is_file()}
    return {**files, "registry rows": registry_bytes(kit)}


def _wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def _secret_of(enrolment: object) -> Secret:
    secret = getattr(enrolment, "secret", None)
    assert isinstance(secret, Secret)
    return secret


# --------------------------------------------------------------------------- generate


@pytest.mark.parametrize("key_type", list(KeyType), ids=[k.value for k in KeyType])
def test_generate_every_key_type(ready: Certkit, key_type: KeyType) -> None:
    made = ready.generate_client_certificate(
        "alice", passphrase=PASSPHRASE, key_type=key_type, permissions={"HR": "ReadWrite"}
    )
    files = _zip(made)
    assert sorted(files) == ["alice.crt", "alice.key", "alice.pfx"]
    assert made.zip_name == "alice.zip"
    key, cert, chain = pkcs12.load_key_and_certificates(files["alice.pfx"], PASSPHRASE.encode())
    assert cert is not None and key is not None
    assert pki.thumbprint(cert) == made.record.thumbprint
    assert pki.same_public_key(cert, _crt(made))
    assert [pki.thumbprint(c) for c in chain] == [pki.thumbprint(ready.authority().certificate)]
    assert pki.issued_by(cert, ready.authority().certificate)
    pem_key = serialization.load_pem_private_key(files["alice.key"], PASSPHRASE.encode())
    with pytest.raises(TypeError):  # the .key file is encrypted with the passphrase
        serialization.load_pem_private_key(files["alice.key"], None)
    expected = {
        KeyType.EC_P256: (ec.EllipticCurvePrivateKey, 256),
        KeyType.EC_P384: (ec.EllipticCurvePrivateKey, 384),
        KeyType.RSA_2048: (rsa.RSAPrivateKey, 2048),
        KeyType.RSA_3072: (rsa.RSAPrivateKey, 3072),
        KeyType.RSA_4096: (rsa.RSAPrivateKey, 4096),
        KeyType.ED25519: (ed25519.Ed25519PrivateKey, None),
    }[key_type]
    assert isinstance(pem_key, expected[0])
    if expected[1] is not None:
        assert getattr(pem_key, "key_size", None) == expected[1]


def test_generate_record(ready: Certkit, clock: FakeClock) -> None:
    made = ready.generate_client_certificate(
        "  Alice Smith  ",
        clearance="Operator",
        permissions={"HR": Access.READ_WRITE, "Sales": "Read"},
    )
    record = made.record
    cert = _crt(made)
    assert record.name == "Alice Smith"  # trimmed
    assert record.kind is CertKind.CLIENT
    assert record.clearance is Clearance.OPERATOR
    assert dict(record.permissions) == {"HR": Access.READ_WRITE, "Sales": Access.READ}
    assert record.two_factor is False and made.totp is None
    assert record.thumbprint == pki.thumbprint(cert)
    assert record.sha256 == pki.sha256_fingerprint(cert)
    assert record.subject == "CN=Alice Smith"
    assert record.issuer == ready.authority().certificate.subject.rfc4514_string()
    assert record.serial == pki.serial_hex(cert)
    assert record.collection == ()
    assert record.last_used is None
    assert record.not_before == clock() - timedelta(minutes=5)
    assert record.created_at == clock()
    assert ready.show(record.thumbprint) == record
    assert [r.name for r in ready.list_certificates().records] == ["Alice Smith"]
    assert record.to_json(clock())["state"] == "valid"


@pytest.mark.parametrize(
    ("expires", "not_after"),
    [
        pytest.param("90d", START + timedelta(days=90), id="90d"),
        pytest.param("18m", datetime(2028, 5, 28, 12, tzinfo=UTC), id="18m"),
        pytest.param("5y", datetime(2031, 11, 28, 12, tzinfo=UTC), id="5y"),
        pytest.param(None, datetime(2031, 11, 28, 12, tzinfo=UTC), id="default-5y"),
        pytest.param(timedelta(days=7), START + timedelta(days=7), id="timedelta"),
    ],
)
def test_generate_expiration(
    ready: Certkit, expires: str | timedelta | None, not_after: datetime
) -> None:
    if expires is None:
        made = ready.generate_client_certificate("e")
    else:
        made = ready.generate_client_certificate("e", expires=expires)
    assert made.record.not_after == not_after
    assert _crt(made).not_valid_after_utc == not_after


@pytest.mark.parametrize(
    ("start", "period", "end"),
    [
        pytest.param(datetime(2026, 1, 31, tzinfo=UTC), "1m", datetime(2026, 2, 28, tzinfo=UTC)),
        pytest.param(datetime(2024, 2, 29, tzinfo=UTC), "1y", datetime(2025, 2, 28, tzinfo=UTC)),
        pytest.param(datetime(2026, 8, 31, tzinfo=UTC), "18m", datetime(2028, 2, 29, tzinfo=UTC)),
        pytest.param(datetime(2026, 1, 1, tzinfo=UTC), "2w", datetime(2026, 1, 15, tzinfo=UTC)),
    ],
)
def test_calendar_periods_clamp_the_day(start: datetime, period: str, end: datetime) -> None:
    assert add_period(start, parse_period(period)) == end


def test_a_period_past_the_year_9999_is_refused() -> None:
    with pytest.raises(InvalidInput, match="after the year 9999"):
        add_period(START, parse_period("99999y"))


def test_generate_without_passphrase_and_legacy_pkcs12(ready: Certkit) -> None:
    made = ready.generate_client_certificate("plain")
    files = _zip(made)
    assert serialization.load_pem_private_key(files["plain.key"], None) is not None
    key, cert, _ = pkcs12.load_key_and_certificates(files["plain.pfx"], None)
    assert key is not None and cert is not None
    legacy = ready.generate_client_certificate(
        "legacy", passphrase=PASSPHRASE, pkcs12=Pkcs12Profile.LEGACY
    )
    key, cert, _ = pkcs12.load_key_and_certificates(_zip(legacy)["legacy.pfx"], PASSPHRASE.encode())
    assert cert is not None and pki.thumbprint(cert) == legacy.record.thumbprint


def test_generate_with_two_factor_returns_the_enrolment_once_and_never_stores_it_in_clear(
    ready: Certkit, clock: FakeClock
) -> None:
    made = ready.generate_client_certificate(
        "alice", passphrase=PASSPHRASE, two_factor=True, key_type=KeyType.EC_P256
    )
    assert made.totp is not None and made.record.two_factor
    secret = made.totp.secret.reveal_text()
    assert len(secret) == 32  # 160 bits of base32
    assert made.totp.uri.startswith("otpauth://totp/Blue%20Cluster:alice?")
    assert f"secret={secret}" in made.totp.uri
    assert "issuer=Blue%20Cluster" in made.totp.uri
    assert made.totp.qr_png.startswith(b"\x89PNG")
    assert secret not in repr(made) and secret not in repr(made.totp)
    # never again: not in a record, a listing or the JSON contract
    shown = ready.show(made.record.thumbprint)
    listed = ready.list_certificates().records
    for text in (repr(shown), repr(listed), json.dumps(made.record.to_json(clock()))):
        assert secret not in text
    # not in any file of the home (the DuckDB file included), nor the passphrase or the key
    zipped_key = serialization.load_pem_private_key(_zip(made)["alice.key"], PASSPHRASE.encode())
    assert isinstance(zipped_key, ec.EllipticCurvePrivateKey)
    scalar = zipped_key.private_numbers().private_value.to_bytes(32, "big")
    files = _home_bytes(ready)
    duckdb_file = any(name.endswith("registry.duckdb") for name in files)
    assert duckdb_file == (ready.registry.dialect == "duckdb")
    for name, data in files.items():
        for needle in (secret.encode(), secret.lower().encode(), PASSPHRASE.encode(), scalar):
            assert needle not in data, f"{needle!r} found in {name}"
    # the stored form is encrypted and still works
    with ready.registry.read() as tx:
        entry_id = tx.entry_id_of(made.record.thumbprint)
        assert entry_id is not None
        stored = tx.totp_state(entry_id).secret
    assert stored is not None and stored.startswith("v1:") and secret not in stored
    ready.check_two_factor(made.record.thumbprint, totp.code_at(made.totp.secret, clock()))


def test_generate_refuses_a_taken_name_case_insensitively(ready: Certkit) -> None:
    ready.generate_client_certificate("Alice")
    before = registry_digest(ready)
    with pytest.raises(Conflict, match="already registered"):
        ready.generate_client_certificate("ALICE")
    assert registry_digest(ready) == before


def test_generate_initialises_a_new_home(kit: Certkit) -> None:
    made = kit.generate_client_certificate("first")
    assert len(kit.server_certificates()) == 1
    assert pki.issued_by(_crt(made), kit.authority().certificate)
    assert (kit.home.path / "ca.pfx").stat().st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------- register


def test_register_pem(ready: Certkit, certs: CertFactory) -> None:
    _, cert = certs.client("pem user")
    result = ready.register(
        certs.pem(cert), clearance="Operator", permissions={"hr": "Admin"}, source="a.pem"
    )
    (record,) = result.records
    assert record.name == "pem user"  # from the common name
    assert record.thumbprint == pki.thumbprint(cert)
    assert record.clearance is Clearance.OPERATOR
    assert dict(record.permissions) == {"hr": Access.ADMIN}
    assert record.issuer == certs.ca.subject.rfc4514_string()
    assert result.skipped == () and dict(result.totp) == {}


def test_register_der_with_a_name(ready: Certkit, certs: CertFactory) -> None:
    _, cert = certs.client("der user")
    (record,) = ready.register(certs.der(cert), clearance="User", name="  Der  ").records
    assert (record.name, record.thumbprint) == ("Der", pki.thumbprint(cert))
    assert record.clearance is Clearance.VALID_USER


def test_register_pkcs12_drops_the_key_and_skips_the_chain(
    ready: Certkit, certs: CertFactory
) -> None:
    key, cert = certs.client("p12 user")
    data = certs.pfx(key, cert, certs.ca, passphrase=PASSPHRASE)
    result = ready.register(data, clearance="User", passphrase=PASSPHRASE)
    (record,) = result.records
    assert record.thumbprint == pki.thumbprint(cert)
    assert record.collection == ()
    assert [subject for subject, _ in result.skipped] == [certs.ca.subject.rfc4514_string()]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    for data in _home_bytes(ready).values():
        assert scalar not in data and PASSPHRASE.encode() not in data


def test_register_a_collection(ready: Certkit, certs: CertFactory) -> None:
    pairs = [certs.client(f"node {i}") for i in range(3)]
    members = [c for _, c in pairs]
    data = certs.pem(members[0], certs.ca, members[1], members[2])
    result = ready.register(data, clearance="Operator", name="cluster nodes", two_factor=True)
    (record,) = result.records
    assert record.name == "cluster nodes"
    assert record.thumbprint == pki.thumbprint(members[0])  # the first is the primary
    assert record.collection == tuple(pki.thumbprint(c) for c in members[1:])
    assert [s for s, _ in result.skipped] == [certs.ca.subject.rfc4514_string()]
    assert "chain material" in result.skipped[0][1]
    assert list(result.totp) == [record.thumbprint]
    for member in members:  # each thumbprint authenticates with the same settings
        found = ready.show(pki.thumbprint(member))
        assert isinstance(found, CertificateRecord)
        assert found == record
    assert ready.list_certificates().total == 1


def test_register_each(ready: Certkit, certs: CertFactory) -> None:
    members = [certs.client(name)[1] for name in ("ann", "ben", "cat")]
    progress: list[tuple[int, int]] = []
    result = ready.register(
        certs.pem(certs.ca, *members),
        clearance="User",
        permissions={"Sales": "Read"},
        each=True,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert [r.name for r in result.records] == ["ann", "ben", "cat"]
    assert [r.thumbprint for r in result.records] == [pki.thumbprint(c) for c in members]
    assert all(r.collection == () for r in result.records)
    assert all(dict(r.permissions) == {"Sales": Access.READ} for r in result.records)
    assert len(result.skipped) == 1
    assert progress[-1] == (3, 3)
    assert ready.list_certificates().total == 3


def test_register_each_with_a_name_is_refused(ready: Certkit, certs: CertFactory) -> None:
    with pytest.raises(InvalidInput, match="--each"):
        ready.register(certs.pem(certs.client("x")[1]), clearance="User", name="n", each=True)


def test_register_each_refuses_two_certificates_with_one_name(
    ready: Certkit, certs: CertFactory
) -> None:
    data = certs.pem(certs.client("twin")[1], certs.client("TWIN")[1])
    before = registry_digest(ready)
    with pytest.raises(Conflict, match=r"(?i)both be named .twin"):
        ready.register(data, clearance="User", each=True)
    assert registry_digest(ready) == before


def test_register_is_all_or_nothing(ready: Certkit, certs: CertFactory) -> None:
    good = certs.client("good")[1]
    expired = certs.expired("old")[1]
    before = registry_digest(ready)
    with pytest.raises(InvalidInput, match="expired"):
        ready.register(certs.pem(good, expired), clearance="User", each=True)
    assert registry_digest(ready) == before
    with pytest.raises(NotFound):
        ready.show(pki.thumbprint(good))


def test_register_accepts_a_plain_self_signed_certificate(ready: Certkit) -> None:
    # what `openssl req -x509` makes: CA:TRUE, no key usage, no EKU
    cert = self_signed("openssl default", (x509.BasicConstraints(ca=True, path_length=None), True))
    (record,) = ready.register(CertFactory.pem(cert), clearance="User").records
    assert record.name == "openssl default"


@pytest.mark.parametrize(
    ("common_name", "name"),
    [
        pytest.param("evil\x1b[2Jname", "evil?[2Jname", id="terminal-escape"),
        pytest.param("  padded  ", "padded", id="trimmed"),
        pytest.param("x" * 99 + " y" * 10, "x" * 99, id="over-100-characters"),
        pytest.param("zero\u200bwidth", "zero?width", id="format-character"),
        pytest.param("Zoë Ünal", "Zoë Ünal", id="unicode-kept"),
    ],
)
@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
def test_names_from_certificates_are_valid_names(
    ready: Certkit, common_name: str, name: str
) -> None:
    (record,) = ready.register(CertFactory.pem(self_signed(common_name)), clearance="User").records
    assert record.name == name
    assert validate_name(record.name) == record.name


def test_the_server_certificate_cannot_be_registered_as_a_client(ready: Certkit) -> None:
    (server,) = ready.server_certificates()
    _, cert, _ = ready.server_identity()
    before = registry_digest(ready)
    for data in (ready.export_server_certificates(), CertFactory.pem(cert)):
        with pytest.raises(InvalidInput, match="server's own certificate"):
            ready.register(data, clearance="ClusterAdmin")
    assert registry_digest(ready) == before
    assert server.thumbprint == pki.thumbprint(cert)


def test_another_clusters_server_certificate_can_be_registered(
    ready: Certkit, tmp_path: Path, clock: FakeClock
) -> None:
    other_home = tmp_path / "other-home"  # another cluster: a registry of its own
    other = open_certkit(
        other_home, clock=clock, database_url=f"duckdb:{other_home / 'registry.duckdb'}"
    )
    other.initialise(cluster_name="Green", hostnames=["green.test"])
    (record,) = ready.register(
        other.export_server_certificates(), clearance="ClusterNode", name="green cluster"
    ).records
    assert record.thumbprint == other.server_certificates()[0].thumbprint


def test_preview_upload(ready: Certkit, certs: CertFactory) -> None:
    good, expired = certs.client("good")[1], certs.expired("old")[1]
    preview = ready.preview_upload(certs.pem(certs.ca, good, expired), source="mixed.pem")
    assert preview.format == "PEM"
    assert [m.common_name for m in preview.members] == ["good", "old"]
    assert [p.common_name for p, _ in preview.problems] == ["old"]
    assert len(preview.skipped) == 1 and preview.private_keys == 0
    assert ready.list_certificates().total == 0


# ------------------------------------------------------------------------------- edit


@pytest.fixture
def alice(ready: Certkit) -> CertificateRecord:
    return ready.generate_client_certificate(
        "alice", clearance="Operator", permissions={"HR": "ReadWrite", "Sales": "Read"}
    ).record


def test_edit_name_clearance_and_permissions(ready: Certkit, alice: CertificateRecord) -> None:
    edited = ready.edit(
        alice.thumbprint,
        name="Alice B",
        clearance="User",
        set_permissions={"hr": "Admin", "Ops": "Read"},
        remove_databases=["SALES"],
    )
    record = edited.record
    assert edited.totp is None
    assert (record.name, record.clearance) == ("Alice B", Clearance.VALID_USER)
    assert dict(record.permissions) == {"hr": Access.ADMIN, "Ops": Access.READ}
    assert ready.show(alice.thumbprint) == record
    with ready.registry.read() as tx:
        event = tx.audit_events(limit=1)[0]
    assert (event.action, event.thumbprint, event.name) == ("edit", alice.thumbprint, "Alice B")
    details = json.loads(event.details)
    assert details["before"]["name"] == "alice" and details["after"]["clearance"] == "ValidUser"


def test_edit_replaces_all_permissions(ready: Certkit, alice: CertificateRecord) -> None:
    record = ready.edit(alice.thumbprint, permissions={"Only": "Read"}).record
    assert dict(record.permissions) == {"Only": Access.READ}
    assert dict(ready.edit(alice.thumbprint, permissions={}).record.permissions) == {}


def test_edit_keeps_its_own_name_in_another_case(ready: Certkit, alice: CertificateRecord) -> None:
    assert ready.edit(alice.thumbprint, name="ALICE").record.name == "ALICE"


def test_edit_refusals_leave_the_registry_unchanged(
    ready: Certkit, alice: CertificateRecord
) -> None:
    ready.generate_client_certificate("bob")
    before = registry_digest(ready)
    with pytest.raises(Conflict):
        ready.edit(alice.thumbprint, name="BOB")
    with pytest.raises(InvalidInput, match="no permission on database"):
        ready.edit(alice.thumbprint, remove_databases=["Nope"])
    with pytest.raises(InvalidInput):
        ready.edit(alice.thumbprint, set_permissions={"a/b": "Read"})
    with pytest.raises(InvalidInput):
        ready.edit(alice.thumbprint, clearance="Boss")
    with pytest.raises(NotFound):
        ready.edit("00" * 20, name="x")
    with pytest.raises(InvalidInput, match="server certificate"):
        ready.edit(ready.server_certificates()[0].thumbprint, name="x")
    assert registry_digest(ready) == before


def test_edit_two_factor_on_and_off(
    ready: Certkit, alice: CertificateRecord, clock: FakeClock
) -> None:
    on = ready.edit(alice.thumbprint, two_factor=True)
    assert on.record.two_factor and on.totp is not None
    first = on.totp.secret
    assert "alice" in on.totp.uri
    ready.check_two_factor(alice.thumbprint, totp.code_at(first, clock()))
    # asking for 2FA again while it is on changes nothing and shows nothing
    again = ready.edit(alice.thumbprint, two_factor=True, name="alice 2")
    assert again.totp is None
    with ready.registry.read() as tx:
        assert alice.entry_id is not None
        kept = tx.totp_state(alice.entry_id)
    assert kept.secret is not None and kept.last_timecode is not None
    # off forgets the secret and the replay state
    off = ready.edit(alice.thumbprint, two_factor=False)
    assert not off.record.two_factor and off.totp is None
    with ready.registry.read() as tx:
        state = tx.totp_state(alice.entry_id)
    assert (state.secret, state.last_timecode, state.failures) == (None, None, 0)
    with pytest.raises(InvalidInput, match="does not use two-factor"):
        ready.check_two_factor(alice.thumbprint, totp.code_at(first, clock()))
    # on again: a new secret; the old one no longer works
    back = ready.edit(alice.thumbprint, two_factor=True)
    assert back.totp is not None and back.totp.secret != first
    clock.advance(STEP * 3)
    with pytest.raises(TotpRejected):
        ready.check_two_factor(alice.thumbprint, totp.code_at(first, clock()))
    ready.check_two_factor(alice.thumbprint, totp.code_at(back.totp.secret, clock()))


def test_edit_applies_to_the_whole_collection(ready: Certkit, certs: CertFactory) -> None:
    members = [certs.client(f"m{i}")[1] for i in range(2)]
    (record,) = ready.register(certs.pem(*members), clearance="User", name="pair").records
    member = pki.thumbprint(members[1])
    edited = ready.edit(member, clearance="Operator", set_permissions={"HR": "Read"}).record
    assert edited.thumbprint == record.thumbprint
    for thumbprint in (record.thumbprint, member):
        found = ready.show(thumbprint)
        assert isinstance(found, CertificateRecord)
        assert found.clearance is Clearance.OPERATOR
        assert dict(found.permissions) == {"HR": Access.READ}
        assert found.collection == (member,)


# ------------------------------------------------------------------------------ clone


def test_clone_makes_a_new_key_with_the_same_settings(ready: Certkit, clock: FakeClock) -> None:
    source = ready.generate_client_certificate(
        "source", clearance="Operator", permissions={"HR": "Admin"}, two_factor=True
    )
    clone = ready.clone(source.record.thumbprint, "copy", passphrase=PASSPHRASE)
    record = clone.record
    assert record.name == "copy"
    assert record.thumbprint != source.record.thumbprint
    assert not pki.same_public_key(_crt(clone), _crt(source))
    assert record.clearance is Clearance.OPERATOR
    assert dict(record.permissions) == {"HR": Access.ADMIN}
    assert record.two_factor
    assert clone.totp is not None and source.totp is not None
    assert clone.totp.secret != source.totp.secret
    assert "copy" in clone.totp.uri
    ready.check_two_factor(record.thumbprint, totp.code_at(clone.totp.secret, clock()))
    with pytest.raises(TotpRejected):  # the source's secret does not open the clone
        ready.check_two_factor(record.thumbprint, totp.code_at(source.totp.secret, clock() + STEP))
    assert pkcs12.load_key_and_certificates(_zip(clone)["copy.pfx"], PASSPHRASE.encode())[1]


def test_clone_without_two_factor_and_refusals(ready: Certkit, alice: CertificateRecord) -> None:
    clone = ready.clone(alice.thumbprint, "alice copy", expires="90d")
    assert clone.totp is None and not clone.record.two_factor
    assert clone.record.not_after == START + timedelta(days=90)
    before = registry_digest(ready)
    with pytest.raises(Conflict):
        ready.clone(alice.thumbprint, "Alice Copy")
    with pytest.raises(NotFound):
        ready.clone("AB" * 20, "ghost")
    with pytest.raises(InvalidInput, match="server certificate"):
        ready.clone(ready.server_certificates()[0].thumbprint, "ghost")
    assert registry_digest(ready) == before


# ----------------------------------------------------------------------------- delete


def test_delete_is_audited(ready: Certkit, alice: CertificateRecord, clock: FakeClock) -> None:
    clock.advance(timedelta(hours=3))
    deleted = ready.delete(alice.thumbprint.lower(), actor=ADMIN)
    assert deleted.thumbprint == alice.thumbprint
    with pytest.raises(NotFound):
        ready.show(alice.thumbprint)
    with ready.registry.read() as tx:
        event = tx.audit_events(limit=1)[0]
    assert (event.action, event.thumbprint, event.name) == ("delete", alice.thumbprint, "alice")
    assert event.actor == "ada the admin"
    assert event.at == clock()
    assert ready.list_certificates().total == 0
    # the name is free again
    ready.generate_client_certificate("alice")


def test_delete_removes_the_whole_collection_but_refuses_a_member(
    ready: Certkit, certs: CertFactory
) -> None:
    members = [certs.client(f"m{i}")[1] for i in range(3)]
    (record,) = ready.register(certs.pem(*members), clearance="User", name="trio").records
    before = registry_digest(ready)
    with pytest.raises(InvalidInput, match="delete its primary"):
        ready.delete(pki.thumbprint(members[2]))
    assert registry_digest(ready) == before
    deleted = ready.delete(record.thumbprint)
    assert deleted.collection == tuple(pki.thumbprint(c) for c in members[1:])
    for member in members:
        with pytest.raises(NotFound):
            ready.show(pki.thumbprint(member))
    with ready.registry.read() as tx:
        event = tx.audit_events(limit=1)[0]
    assert json.loads(event.details)["collection"] == list(deleted.collection)


def test_delete_refuses_the_server_certificate_and_unknown_ones(ready: Certkit) -> None:
    before = registry_digest(ready)
    with pytest.raises(InvalidInput, match="server certificate"):
        ready.delete(ready.server_certificates()[0].thumbprint)
    with pytest.raises(NotFound):
        ready.delete("12" * 20)
    with pytest.raises(InvalidInput, match="not a thumbprint"):
        ready.delete("not-a-thumbprint")
    assert registry_digest(ready) == before


# ----------------------------------------------------------------------------- actors


# Who may generate, register, clone or delete a certificate of a clearance (DESIGN.md 2).
MANAGES = [
    pytest.param(ADMIN, Clearance.CLUSTER_ADMIN, True, id="admin-manages-admin"),
    pytest.param(ADMIN, Clearance.CLUSTER_NODE, True, id="admin-manages-node"),
    pytest.param(OPERATOR, Clearance.CLUSTER_ADMIN, False, id="operator-not-admin"),
    pytest.param(OPERATOR, Clearance.CLUSTER_NODE, False, id="operator-not-node"),
    pytest.param(OPERATOR, Clearance.OPERATOR, True, id="operator-manages-operator"),
    pytest.param(OPERATOR, Clearance.VALID_USER, True, id="operator-manages-user"),
    pytest.param(USER, Clearance.VALID_USER, False, id="user-manages-nothing"),
    pytest.param(USER, Clearance.OPERATOR, False, id="user-not-operator"),
]


@pytest.mark.parametrize(("actor", "clearance", "allowed"), MANAGES)
def test_who_may_generate_and_register(
    ready: Certkit, certs: CertFactory, actor: Actor, clearance: Clearance, allowed: bool
) -> None:
    upload = certs.pem(certs.client(f"up {clearance.value} {actor.name}")[1])
    before = registry_digest(ready)
    if allowed:
        made = ready.generate_client_certificate("made", clearance=clearance, actor=actor)
        (registered,) = ready.register(upload, clearance=clearance, actor=actor).records
        assert made.record.clearance is clearance and registered.clearance is clearance
        with ready.registry.read() as tx:
            assert {e.actor for e in tx.audit_events(limit=2)} == {actor.label}
        return
    with pytest.raises(PermissionDenied, match=actor.clearance.label):
        ready.generate_client_certificate("made", clearance=clearance, actor=actor)
    with pytest.raises(PermissionDenied):
        ready.register(upload, clearance=clearance, actor=actor)
    assert registry_digest(ready) == before


@pytest.mark.parametrize(
    ("actor", "old", "new", "allowed"),
    [
        pytest.param(ADMIN, Clearance.VALID_USER, Clearance.CLUSTER_ADMIN, True, id="admin-up"),
        pytest.param(ADMIN, Clearance.CLUSTER_NODE, Clearance.OPERATOR, True, id="admin-down"),
        pytest.param(OPERATOR, Clearance.VALID_USER, Clearance.OPERATOR, True, id="op-user-op"),
        pytest.param(OPERATOR, Clearance.OPERATOR, Clearance.VALID_USER, True, id="op-op-user"),
        pytest.param(OPERATOR, Clearance.VALID_USER, Clearance.VALID_USER, True, id="op-same"),
        pytest.param(OPERATOR, Clearance.VALID_USER, Clearance.CLUSTER_ADMIN, False, id="op-to-ad"),
        pytest.param(OPERATOR, Clearance.OPERATOR, Clearance.CLUSTER_NODE, False, id="op-to-nd"),
        pytest.param(OPERATOR, Clearance.CLUSTER_ADMIN, Clearance.VALID_USER, False, id="op-fr-ad"),
        pytest.param(OPERATOR, Clearance.CLUSTER_NODE, Clearance.CLUSTER_NODE, False, id="op-nd"),
        pytest.param(USER, Clearance.VALID_USER, Clearance.VALID_USER, False, id="user-edits"),
    ],
)
def test_who_may_edit(
    ready: Certkit, actor: Actor, old: Clearance, new: Clearance, allowed: bool
) -> None:
    target = ready.generate_client_certificate("target", clearance=old).record
    before = registry_digest(ready)
    if allowed:
        edited = ready.edit(target.thumbprint, clearance=new, name="renamed", actor=actor)
        assert edited.record.clearance is new
        return
    with pytest.raises(PermissionDenied):
        ready.edit(target.thumbprint, clearance=new, name="renamed", actor=actor)
    if old.is_admin or actor is USER:  # not even the name or the 2FA setting
        with pytest.raises(PermissionDenied):
            ready.edit(target.thumbprint, two_factor=True, actor=actor)
    assert registry_digest(ready) == before


@pytest.mark.parametrize(("actor", "clearance", "allowed"), MANAGES)
def test_who_may_delete_and_clone(
    ready: Certkit, actor: Actor, clearance: Clearance, allowed: bool
) -> None:
    target = ready.generate_client_certificate("target", clearance=clearance).record
    before = registry_digest(ready)
    if allowed:
        assert ready.clone(target.thumbprint, "copy", actor=actor).record.clearance is clearance
        ready.delete(target.thumbprint, actor=actor)
        return
    with pytest.raises(PermissionDenied):
        ready.clone(target.thumbprint, "copy", actor=actor)
    with pytest.raises(PermissionDenied):
        ready.delete(target.thumbprint, actor=actor)
    assert registry_digest(ready) == before


@pytest.mark.parametrize("clearance", [Clearance.CLUSTER_ADMIN, Clearance.OPERATOR])
def test_nobody_deletes_the_certificate_they_are_connected_with(
    ready: Certkit, certs: CertFactory, clearance: Clearance
) -> None:
    mine = ready.generate_client_certificate("mine", clearance=clearance).record
    members = [certs.client(f"m{i}")[1] for i in range(2)]
    (pair,) = ready.register(certs.pem(*members), clearance=clearance, name="pair").records
    before = registry_digest(ready)
    with pytest.raises(PermissionDenied, match="current connection"):
        ready.delete(mine.thumbprint, actor=Actor(clearance, thumbprint=mine.thumbprint))
    # connected with a member of a collection: its primary (the whole entry) is refused too
    member = pki.thumbprint(members[1])
    with pytest.raises(PermissionDenied, match="current connection"):
        ready.delete(pair.thumbprint, actor=Actor(clearance, thumbprint=member))
    assert registry_digest(ready) == before
    ready.delete(mine.thumbprint, actor=Actor(clearance, thumbprint=pair.thumbprint))


@pytest.mark.parametrize("actor", [OPERATOR, USER], ids=["operator", "user"])
def test_only_a_cluster_admin_changes_server_and_well_known_certificates(
    ready: Certkit, certs: CertFactory, actor: Actor
) -> None:
    key, cert = certs.server(HOSTNAMES)
    data = certs.pfx(key, cert, certs.ca, passphrase=PASSPHRASE)
    admin = ready.add_well_known_admin("CD" * 20)
    before = registry_digest(ready)
    with pytest.raises(PermissionDenied, match="Cluster Admin"):
        ready.replace_server_certificate(data, passphrase=PASSPHRASE, actor=actor)
    with pytest.raises(PermissionDenied):
        ready.add_well_known_admin("AB" * 20, actor=actor)
    with pytest.raises(PermissionDenied):
        ready.add_well_known_issuer(certs.pem(certs.ca), actor=actor)
    with pytest.raises(PermissionDenied):
        ready.remove_well_known(admin.id, actor=actor)
    assert registry_digest(ready) == before


# ------------------------------------------------------------------ server certificates


def test_server_certificate_of_a_new_home(ready: Certkit) -> None:
    (server,) = ready.server_certificates()
    assert server.node == "A" and ready.local_node() == "A"
    assert server.hostnames == tuple(HOSTNAMES)
    assert ready.hostnames() == HOSTNAMES
    assert ready.cluster_name() == "Blue Cluster"
    key, cert, chain = ready.server_identity()
    assert pki.thumbprint(cert) == server.thumbprint
    assert pki.public_key_der(key.public_key()) == pki.public_key_der(cert.public_key())
    assert pki.issued_by(cert, ready.authority().certificate)
    assert [pki.thumbprint(c) for c in chain] == [pki.thumbprint(ready.authority().certificate)]
    assert ready.show(server.thumbprint) == server
    assert ready.ca_certificate_pem() == pki.certificate_pem(ready.authority().certificate)


def test_initialise_twice(ready: Certkit) -> None:
    assert ready.initialise() is False
    with pytest.raises(InvalidInput, match="already initialised"):
        ready.initialise(cluster_name="Other")
    with pytest.raises(InvalidInput, match="already initialised"):
        ready.initialise(hostnames=["x.test"])


def test_server_export_is_read_by_openssl(ready: Certkit, tmp_path: Path) -> None:
    (server,) = ready.server_certificates()
    target = tmp_path / "server.p12"
    target.write_bytes(ready.export_server_certificates())
    loaded = pkcs12.load_pkcs12(target.read_bytes(), None)
    assert loaded.key is None
    assert [pki.thumbprint(c.certificate) for c in loaded.additional_certs] == [server.thumbprint]
    out = subprocess.run(
        ["openssl", "pkcs12", "-in", str(target), "-passin", "pass:", "-nokeys", "-info"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "BEGIN CERTIFICATE" in out.stdout
    assert "subject=CN=localhost" in out.stdout.replace(" = ", "=")


def _replacement(
    certs: CertFactory, passphrase: str | None = PASSPHRASE, hostnames: list[str] = HOSTNAMES
) -> tuple[bytes, x509.Certificate]:
    key, cert = certs.server(hostnames)
    return certs.pfx(key, cert, certs.ca, passphrase=passphrase), cert


def test_replace_the_server_certificate(
    ready: Certkit, certs: CertFactory, clock: FakeClock
) -> None:
    (old,) = ready.server_certificates()
    data, cert = _replacement(certs)
    clock.advance(timedelta(hours=1))
    installed = ready.replace_server_certificate(data, passphrase=PASSPHRASE, source="new.pfx")
    assert installed.thumbprint == pki.thumbprint(cert)
    assert installed.node == "A" and installed.retired_at is None
    assert installed.installed_at == clock()
    (active,) = ready.server_certificates()
    assert active == installed
    history = ready.server_certificates(history=True)
    assert [s.thumbprint for s in history] == [installed.thumbprint, old.thumbprint]
    assert history[1].retired_at == clock()
    key, served, _ = ready.server_identity()
    assert pki.thumbprint(served) == installed.thumbprint
    assert pki.public_key_der(key.public_key()) == pki.public_key_der(cert.public_key())
    assert (ready.home.path / installed.key_file).stat().st_mode & 0o777 == 0o600
    # the old certificate is still known (history), and is no longer the server's own
    assert isinstance(ready.show(old.thumbprint), ServerCertificate)
    with ready.registry.read() as tx:
        event = tx.audit_events(limit=1)[0]
    assert event.action == "replace-server-certificate"
    assert json.loads(event.details) == {"previous": old.thumbprint}
    exported = pkcs12.load_pkcs12(ready.export_server_certificates(), None)
    assert [pki.thumbprint(c.certificate) for c in exported.additional_certs] == [
        installed.thumbprint
    ]


def test_replace_another_nodes_certificate_exports_a_collection(
    ready: Certkit, certs: CertFactory
) -> None:
    data, cert = _replacement(certs, hostnames=["node-b.test"])
    installed = ready.replace_server_certificate(data, passphrase=PASSPHRASE, node="b")
    assert installed.node == "B" and installed.hostnames == ("node-b.test",)
    assert [s.node for s in ready.server_certificates()] == ["A", "B"]
    exported = pkcs12.load_pkcs12(ready.export_server_certificates(), None)
    assert len(exported.additional_certs) == 2
    assert pki.thumbprint(cert) in {
        pki.thumbprint(c.certificate) for c in exported.additional_certs
    }


def _expired_server(certs: CertFactory) -> tuple[bytes, str | None]:
    key, cert = certs.server(HOSTNAMES, valid_from=START - timedelta(days=100), days=10)
    return certs.pfx(key, cert, passphrase=PASSPHRASE), PASSPHRASE


def _mismatched_key(certs: CertFactory) -> tuple[bytes, str | None]:
    other_key, _ = certs.server(HOSTNAMES)
    _, cert = certs.server(HOSTNAMES)
    return certs.pfx(other_key, None, cert, passphrase=PASSPHRASE), PASSPHRASE


def _no_server_auth(certs: CertFactory) -> tuple[bytes, str | None]:
    key, cert = certs.client("localhost")
    return certs.pfx(key, cert, passphrase=PASSPHRASE), PASSPHRASE


def _no_client_auth(certs: CertFactory) -> tuple[bytes, str | None]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(certs.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START - timedelta(days=1))
        .not_valid_after(START + timedelta(days=90))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTNAMES]), critical=False
        )
        .sign(certs.ca_key, hashes.SHA256())
    )
    return certs.pfx(key, cert, passphrase=PASSPHRASE), PASSPHRASE


def _hostname_not_covered(certs: CertFactory) -> tuple[bytes, str | None]:
    return _replacement(certs, hostnames=["localhost", "127.0.0.1"])[0], PASSPHRASE


def _wrong_passphrase(certs: CertFactory) -> tuple[bytes, str | None]:
    return _replacement(certs)[0], "not the passphrase"


def _missing_passphrase(certs: CertFactory) -> tuple[bytes, str | None]:
    return _replacement(certs)[0], None


def _without_key(certs: CertFactory) -> tuple[bytes, str | None]:
    return certs.pfx(None, None, certs.server(HOSTNAMES)[1], passphrase=PASSPHRASE), PASSPHRASE


def _pem_instead(certs: CertFactory) -> tuple[bytes, str | None]:
    return certs.pem(certs.server(HOSTNAMES)[1]), None


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        pytest.param(_expired_server, InvalidInput, "expired", id="expired"),
        pytest.param(_mismatched_key, InvalidInput, "does not match", id="key-mismatch"),
        pytest.param(_no_server_auth, InvalidInput, "serverAuth", id="no-serverAuth"),
        pytest.param(_no_client_auth, InvalidInput, "clientAuth", id="no-clientAuth"),
        pytest.param(_hostname_not_covered, InvalidInput, "certkit.test", id="host-not-covered"),
        pytest.param(_wrong_passphrase, WrongPassphrase, "Wrong passphrase", id="wrong-pass"),
        pytest.param(_missing_passphrase, WrongPassphrase, "passphrase", id="missing-pass"),
        pytest.param(_without_key, InvalidInput, "no private key", id="no-key"),
        pytest.param(_pem_instead, InvalidInput, "PKCS#12", id="not-pkcs12"),
    ],
)
def test_replace_refusals_change_nothing(
    ready: Certkit,
    certs: CertFactory,
    make: object,
    error: type[Exception],
    message: str,
) -> None:
    assert callable(make)
    data, passphrase = make(certs)
    before = registry_digest(ready)
    files = _home_bytes(ready)
    with pytest.raises(error, match=message):
        ready.replace_server_certificate(data, passphrase=passphrase, source="new.pfx")
    assert registry_digest(ready) == before
    assert _home_bytes(ready) == files


def test_replace_refuses_the_current_certificate_and_a_client_one(
    ready: Certkit, certs: CertFactory
) -> None:
    key, cert = certs.server(HOSTNAMES)
    data = certs.pfx(key, cert, passphrase=PASSPHRASE)
    ready.replace_server_certificate(data, passphrase=PASSPHRASE)
    with pytest.raises(Conflict, match="already"):
        ready.replace_server_certificate(data, passphrase=PASSPHRASE)
    key, cert = certs.server(HOSTNAMES)
    ready.register(certs.pem(cert), clearance="ClusterNode", name="a client now")
    before = registry_digest(ready)
    with pytest.raises(Conflict, match="client certificate"):
        ready.replace_server_certificate(
            certs.pfx(key, cert, passphrase=PASSPHRASE), passphrase=PASSPHRASE
        )
    assert registry_digest(ready) == before


# ------------------------------------------------------------------------- well-known


def test_well_known_admin_add_list_remove(ready: Certkit, certs: CertFactory) -> None:
    thumbprint = pki.thumbprint(certs.client("outside admin")[1])
    colons = ":".join(thumbprint[i : i + 2] for i in range(0, 40, 2)).lower()
    entry = ready.add_well_known_admin(colons)
    assert (entry.kind, entry.thumbprint, entry.added_by) == (
        CertKind.WELL_KNOWN_ADMIN,
        thumbprint,
        "local administrator",
    )
    assert ready.well_known() == [entry]
    assert ready.show(thumbprint) == entry
    assert entry.to_json(START)["clearance"] == "ClusterAdmin"
    before = registry_digest(ready)
    with pytest.raises(Conflict, match="already"):
        ready.add_well_known_admin(thumbprint)
    with pytest.raises(InvalidInput, match="not a thumbprint"):
        ready.add_well_known_admin("xyz")
    assert registry_digest(ready) == before
    assert ready.remove_well_known(entry.id) == entry
    assert ready.well_known() == []
    with pytest.raises(NotFound):
        ready.remove_well_known(entry.id)
    again = ready.add_well_known_admin(thumbprint)
    assert ready.remove_well_known(thumbprint.lower()).id == again.id


def test_well_known_issuer_add_list_remove(ready: Certkit, certs: CertFactory) -> None:
    (issuer,) = ready.add_well_known_issuer(certs.pem(certs.ca), source="ca.pem")
    assert isinstance(issuer, WellKnownEntry)
    assert issuer.kind is CertKind.WELL_KNOWN_ISSUER
    assert issuer.thumbprint == pki.thumbprint(certs.ca)
    assert issuer.subject == certs.ca.subject.rfc4514_string()
    assert issuer.not_after == certs.ca.not_valid_after_utc
    with ready.registry.read() as tx:
        assert tx.well_known_issuer_ders() == [certs.der(certs.ca)]
    before = registry_digest(ready)
    with pytest.raises(Conflict, match="already a well-known issuer"):
        ready.add_well_known_issuer(certs.der(certs.ca))
    with pytest.raises(InvalidInput, match="not a CA certificate"):
        ready.add_well_known_issuer(certs.pem(certs.client("leaf")[1]), source="leaf.pem")
    expired_key, expired_ca = pki.create_ca("old CA", now=START - timedelta(days=20 * 366))
    assert expired_key is not None
    with pytest.raises(InvalidInput, match="expired"):
        ready.add_well_known_issuer(certs.pem(expired_ca))
    with pytest.raises(InvalidInput, match="empty"):
        ready.add_well_known_issuer(b"")
    assert registry_digest(ready) == before
    assert ready.remove_well_known(str(issuer.id)).thumbprint == issuer.thumbprint
    assert ready.well_known() == []


# ------------------------------------------------------------------------------ 2FA


@pytest.fixture
def guarded(ready: Certkit) -> GeneratedCertificate:
    return ready.generate_client_certificate("guarded", two_factor=True)


def _code(made: GeneratedCertificate, at: datetime) -> str:
    return totp.code_at(_secret_of(made.totp), at)


def test_two_factor_accepts_the_right_code_once(
    ready: Certkit, guarded: GeneratedCertificate, clock: FakeClock
) -> None:
    thumbprint = guarded.record.thumbprint
    code = _code(guarded, clock())
    record = ready.check_two_factor(thumbprint, code)
    assert record.thumbprint == thumbprint
    with pytest.raises(TotpRejected, match="already used"):
        ready.check_two_factor(thumbprint, code)
    clock.advance(STEP)
    ready.check_two_factor(
        thumbprint, f" {_code(guarded, clock())[:3]} {_code(guarded, clock())[3:]} "
    )


def test_two_factor_window_is_one_step(
    ready: Certkit, guarded: GeneratedCertificate, clock: FakeClock
) -> None:
    thumbprint = guarded.record.thumbprint
    now = clock()
    with pytest.raises(TotpRejected, match="Wrong code"):
        ready.check_two_factor(thumbprint, _code(guarded, now - 2 * STEP))
    with pytest.raises(TotpRejected, match="Wrong code"):
        ready.check_two_factor(thumbprint, _code(guarded, now + 2 * STEP))
    ready.check_two_factor(thumbprint, _code(guarded, now - STEP))
    ready.check_two_factor(thumbprint, _code(guarded, now))
    ready.check_two_factor(thumbprint, _code(guarded, now + STEP))
    # after the newest step was used, an older one in the window is a replay
    with pytest.raises(TotpRejected, match="already used"):
        ready.check_two_factor(thumbprint, _code(guarded, now - STEP))


def test_two_factor_lockout_after_five_wrong_codes(
    ready: Certkit, guarded: GeneratedCertificate, clock: FakeClock
) -> None:
    thumbprint = guarded.record.thumbprint
    assert MAX_FAILURES == 5
    for attempt in range(1, MAX_FAILURES):
        with pytest.raises(TotpRejected, match="Wrong code") as caught:
            ready.check_two_factor(thumbprint, _wrong(_code(guarded, clock())))
        assert "locked" not in str(caught.value), attempt
    with pytest.raises(TotpRejected, match="locked"):
        ready.check_two_factor(thumbprint, _wrong(_code(guarded, clock())))
    # while locked, even the right code is refused, in a new Certkit instance as well
    with pytest.raises(TotpRejected, match="Too many wrong codes"):
        ready.check_two_factor(thumbprint, _code(guarded, clock()))
    clock.advance(LOCKOUT - timedelta(seconds=1))
    fresh = open_certkit(ready.home.path, clock=clock)
    with pytest.raises(TotpRejected, match="try again in 1 min"):
        fresh.check_two_factor(thumbprint, _code(guarded, clock()))
    clock.advance(timedelta(seconds=1))
    fresh.check_two_factor(thumbprint, _code(guarded, clock()))
    with ready.registry.read() as tx:
        actions = [e.action for e in tx.audit_events(limit=10)]
    assert "2fa-lockout" in actions and actions.count("2fa-refused") == MAX_FAILURES - 1


def test_two_factor_failures_must_be_in_a_row(
    ready: Certkit, guarded: GeneratedCertificate, clock: FakeClock
) -> None:
    thumbprint = guarded.record.thumbprint
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(TotpRejected):
            ready.check_two_factor(thumbprint, _wrong(_code(guarded, clock())))
    ready.check_two_factor(thumbprint, _code(guarded, clock()))  # resets the count
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(TotpRejected, match="Wrong code"):
            ready.check_two_factor(thumbprint, _wrong(_code(guarded, clock())))
    clock.advance(STEP)
    ready.check_two_factor(thumbprint, _code(guarded, clock()))


def test_two_factor_state_persists_across_instances(
    ready: Certkit, guarded: GeneratedCertificate, clock: FakeClock
) -> None:
    thumbprint = guarded.record.thumbprint
    code = _code(guarded, clock())
    ready.check_two_factor(thumbprint, code)
    other = open_certkit(ready.home.path, clock=clock)
    with pytest.raises(TotpRejected, match="already used"):
        other.check_two_factor(thumbprint, code)
    for _ in range(MAX_FAILURES - 2):  # with the replay above: 4 failures in a row
        with pytest.raises(TotpRejected, match="Wrong code"):
            open_certkit(ready.home.path, clock=clock).check_two_factor(
                thumbprint, _wrong(_code(guarded, clock()))
            )
    clock.advance(STEP)
    with pytest.raises(TotpRejected, match="locked"):
        open_certkit(ready.home.path, clock=clock).check_two_factor(thumbprint, "12345x")
    with pytest.raises(TotpRejected, match="Too many wrong codes"):
        open_certkit(ready.home.path, clock=clock).check_two_factor(
            thumbprint, _code(guarded, clock())
        )


def test_two_factor_checks_by_any_member_and_refuses_non_2fa(
    ready: Certkit, certs: CertFactory, clock: FakeClock, alice: CertificateRecord
) -> None:
    members = [certs.client(f"m{i}")[1] for i in range(2)]
    result = ready.register(certs.pem(*members), clearance="User", name="pair", two_factor=True)
    (record,) = result.records
    secret = result.totp[record.thumbprint].secret
    ready.check_two_factor(pki.thumbprint(members[1]), totp.code_at(secret, clock()))
    with pytest.raises(TotpRejected, match="already used"):
        ready.check_two_factor(record.thumbprint, totp.code_at(secret, clock()))
    with pytest.raises(InvalidInput, match="does not use two-factor"):
        ready.check_two_factor(alice.thumbprint, "123456")
    with pytest.raises(NotFound):
        ready.check_two_factor("EE" * 20, "123456")


def test_listing_query_through_ops(ready: Certkit, clock: FakeClock) -> None:
    for name, clearance in (("b", "Operator"), ("a", "User"), ("c", "ClusterAdmin")):
        ready.generate_client_certificate(name, clearance=clearance)
    page = ready.list_certificates(ListQuery(clearance="Admin"))
    assert [r.name for r in page.records] == ["c"]
    assert dict(page.counts_by_clearance) == {"Admin": 1, "Operator": 1, "User": 1}
    clock.advance(timedelta(days=5 * 365 - 20))
    assert ready.list_certificates().counts_by_state["expiring"] == 3
