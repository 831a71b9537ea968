"""Authentication and authorization decisions (certkit.authz): the table of issue 4, case by case.

Every certificate is generated here with certkit.pki or cryptography's builder, at a fixed
time; the views are built by hand, so these tests need no registry.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkit import authz, pki
from certkit.access import Need, Request, authorize, http_request
from certkit.authz import (
    AuthStatus,
    AuthView,
    EntrySettings,
    RegisteredCertificate,
    TwoFactorSession,
    authenticate,
    session_cookie_hash,
)
from certkit.errors import InvalidInput, PermissionDenied
from certkit.model import Access, Clearance

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
Pair = tuple[pki.PrivateKey, x509.Certificate]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def build(
    subject: str,
    issuer_name: x509.Name | None,
    signer: pki.PrivateKey,
    public: ec.EllipticCurvePublicKey,
    *,
    start: datetime = NOW - timedelta(days=1),
    days: float = 30,
    ca: bool = False,
    subject_name: x509.Name | None = None,
) -> x509.Certificate:
    """A certificate for ``public`` signed by ``signer`` (self-signed when issuer_name is None)."""
    name = subject_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class World:
    """Certificates for every row of the table, and the registry entries that name them."""

    ca: Pair
    user: Pair  # ValidUser, HR=ReadWrite, Sales=Read, Ops=Admin
    member: x509.Certificate  # second certificate of user's collection
    operator: Pair
    admin: Pair  # registered ClusterAdmin
    two_factor: Pair  # ValidUser with 2FA
    expired: Pair
    future: Pair
    server: Pair
    well_known_admin: Pair
    issuer: Pair  # a well-known issuer
    issued: x509.Certificate  # issued directly by the well-known issuer
    intermediate: x509.Certificate  # CA issued by the well-known issuer
    via_intermediate: x509.Certificate
    forged_issuer: x509.Certificate  # same name as the well-known issuer, another key
    forged: x509.Certificate  # "issued" by the forged issuer
    renewal: x509.Certificate  # user's key, certkit's CA, new validity
    self_signed: Pair  # registered self-signed (openssl req -x509 style)
    self_renewal: x509.Certificate
    stranger: x509.Certificate  # unregistered, from certkit's CA
    entries: dict[str, EntrySettings]


def _entry(entry_id: int, name: str, clearance: Clearance, **kw: object) -> EntrySettings:
    return EntrySettings.create(
        entry_id=entry_id,
        name=name,
        primary="",
        clearance=clearance,
        permissions=kw.get("permissions", {}),  # type: ignore[arg-type]
        two_factor=bool(kw.get("two_factor", False)),
    )


@pytest.fixture(scope="module")
def world() -> World:
    ca = pki.create_ca("certkit test CA", now=NOW - timedelta(days=30))

    def client(name: str, **kw: object) -> Pair:
        start = kw.get("start", NOW - timedelta(hours=1))
        assert isinstance(start, datetime)
        days = kw.get("days", 365)
        assert isinstance(days, int | float)
        return pki.issue_client_certificate(
            *ca, name, now=start, not_after=start + timedelta(days=days)
        )

    issuer_key = ec_key()
    issuer = build("Well-known issuer", None, issuer_key, issuer_key.public_key(), ca=True)
    inter_key = ec_key()
    intermediate = build(
        "Intermediate", issuer.subject, issuer_key, inter_key.public_key(), ca=True
    )
    forged_key = ec_key()
    forged_issuer = build("Well-known issuer", None, forged_key, forged_key.public_key(), ca=True)
    user = client("user")
    self_key = ec_key()
    self_signed = build("self", None, self_key, self_key.public_key(), days=60)
    ca_key, ca_cert = ca
    assert isinstance(user[0], ec.EllipticCurvePrivateKey)
    renewal = build(
        "user",
        ca_cert.subject,
        ca_key,
        user[0].public_key(),
        start=NOW - timedelta(minutes=5),
        days=400,
    )
    entries = {
        "user": EntrySettings.create(
            entry_id=1,
            name="user",
            primary="",
            clearance=Clearance.VALID_USER,
            permissions={"HR": Access.READ_WRITE, "Sales": Access.READ, "Ops": Access.ADMIN},
            two_factor=False,
        ),
        "operator": _entry(2, "operator", Clearance.OPERATOR),
        "admin": _entry(3, "admin", Clearance.CLUSTER_ADMIN),
        "two_factor": _entry(
            4,
            "two factor",
            Clearance.VALID_USER,
            permissions={"HR": Access.READ},
            two_factor=True,
        ),
        "expired": _entry(5, "expired", Clearance.CLUSTER_ADMIN),
        "future": _entry(6, "future", Clearance.CLUSTER_ADMIN),
        "self": _entry(7, "self", Clearance.OPERATOR),
    }
    return World(
        ca=ca,
        user=user,
        member=client("user member")[1],
        operator=client("operator"),
        admin=client("admin"),
        two_factor=client("two factor"),
        expired=client("expired", start=NOW - timedelta(days=40), days=30),
        future=client("future", start=NOW + timedelta(days=1)),
        server=pki.create_server_certificate(
            *ca, common_name="localhost", hostnames=["localhost"], now=NOW - timedelta(days=1)
        ),
        well_known_admin=client("well-known admin"),
        issuer=(issuer_key, issuer),
        issued=build("issued", issuer.subject, issuer_key, ec_key().public_key()),
        intermediate=intermediate,
        via_intermediate=build("via", intermediate.subject, inter_key, ec_key().public_key()),
        forged_issuer=forged_issuer,
        forged=build("forged", forged_issuer.subject, forged_key, ec_key().public_key()),
        renewal=renewal,
        self_signed=(self_key, self_signed),
        self_renewal=build(
            "self", None, self_key, self_key.public_key(), start=NOW - timedelta(minutes=1)
        ),
        stranger=client("stranger")[1],
        entries=entries,
    )


def registered(cert: x509.Certificate, entry: EntrySettings) -> RegisteredCertificate:
    return RegisteredCertificate(
        thumbprint=pki.thumbprint(cert),
        entry=entry,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issuer=cert.issuer.rfc4514_string(),
        spki=authz.spki_hash(cert),
        der=der(cert),
    )


def make_view(
    w: World, *, sessions: tuple[TwoFactorSession, ...] = (), **extra: object
) -> AuthView:
    e = w.entries
    clients = [
        registered(w.user[1], e["user"]),
        registered(w.member, e["user"]),
        registered(w.operator[1], e["operator"]),
        registered(w.admin[1], e["admin"]),
        registered(w.two_factor[1], e["two_factor"]),
        registered(w.expired[1], e["expired"]),
        registered(w.future[1], e["future"]),
        registered(w.self_signed[1], e["self"]),
    ]
    clients += extra.get("clients", [])  # type: ignore[operator]
    return AuthView.build(
        clients,
        admin_thumbprints=[pki.thumbprint(w.well_known_admin[1]).lower()],
        issuers=[w.issuer[1]],
        servers={pki.thumbprint(w.server[1]): "A"},
        authorities=[w.ca[1]],
        sessions=sessions,
    )


def auth(view: AuthView, *certs: x509.Certificate, cookie: str | None = None) -> authz.AuthResult:
    return authenticate(view, [der(c) for c in certs], NOW, cookie=cookie)


# ---- authentication: each status, in order --------------------------------------------


def test_no_certificate(world: World) -> None:
    view = make_view(world)
    for chain in ([], [b""]):
        result = authenticate(view, chain, NOW)
        assert result.status is AuthStatus.NO_CERTIFICATE
        assert not result.authenticated
        assert "No client certificate" in result.message
    assert authorize(result, Request(Need.AUTHENTICATED)).http_status == 401


def test_expired_registered_admin_is_refused(world: World) -> None:
    result = auth(make_view(world), world.expired[1])
    assert result.status is AuthStatus.EXPIRED
    assert "expired on" in result.message
    decision = authorize(result, Request(Need.AUTHENTICATED))
    assert (decision.allowed, decision.http_status) == (False, 401)


def test_expiry_is_checked_before_well_known_trust(world: World) -> None:
    view = AuthView.build(admin_thumbprints=[pki.thumbprint(world.expired[1])])
    assert auth(view, world.expired[1]).status is AuthStatus.EXPIRED
    # the exact moment of not_after is already expired, as certificate_state says
    at = world.user[1].not_valid_after_utc
    assert authenticate(make_view(world), [der(world.user[1])], at).status is AuthStatus.EXPIRED


def test_not_yet_valid(world: World) -> None:
    result = auth(make_view(world), world.future[1])
    assert result.status is AuthStatus.NOT_YET_VALID
    assert "not valid before" in result.message
    assert authorize(result, Request(Need.AUTHENTICATED)).http_status == 401


def test_the_servers_own_certificate_is_cluster_node(world: World) -> None:
    view = make_view(world)
    result = auth(view, world.server[1])
    assert result.status is AuthStatus.CLUSTER_NODE
    assert result.clearance is Clearance.CLUSTER_NODE
    assert result.name == "Server certificate (node A)"
    assert authorize(result, Request(Need.CLUSTER_ADMIN)).allowed
    # also listed as a well-known admin: the server check comes first
    both = AuthView.build(
        servers={pki.thumbprint(world.server[1]): "B"},
        admin_thumbprints=[pki.thumbprint(world.server[1])],
    )
    assert auth(both, world.server[1]).status is AuthStatus.CLUSTER_NODE


def test_well_known_admin_thumbprint_is_cluster_admin(world: World) -> None:
    result = auth(make_view(world), world.well_known_admin[1])
    assert result.status is AuthStatus.WELL_KNOWN_ADMIN
    assert result.clearance is Clearance.CLUSTER_ADMIN
    assert authorize(result, Request(Need.CLUSTER_ADMIN)).allowed
    assert result.actor().clearance is Clearance.CLUSTER_ADMIN


def test_well_known_admin_comes_before_registration(world: World) -> None:
    view = AuthView.build(
        [registered(world.user[1], world.entries["user"])],
        admin_thumbprints=[pki.thumbprint(world.user[1])],
    )
    assert auth(view, world.user[1]).status is AuthStatus.WELL_KNOWN_ADMIN


def test_a_certificate_issued_by_a_well_known_issuer_is_cluster_admin(world: World) -> None:
    result = auth(make_view(world), world.issued)
    assert result.status is AuthStatus.WELL_KNOWN_ISSUER
    assert result.clearance is Clearance.CLUSTER_ADMIN
    assert "CN=Well-known issuer" in (result.name or "")


def test_a_chain_through_an_intermediate_reaches_the_well_known_issuer(world: World) -> None:
    view = make_view(world)
    assert auth(view, world.via_intermediate, world.intermediate).status is (
        AuthStatus.WELL_KNOWN_ISSUER
    )
    # without the intermediate the chain does not reach the issuer
    assert auth(view, world.via_intermediate).status is AuthStatus.UNKNOWN


def test_a_forged_issuer_with_the_same_name_does_not_count(world: World) -> None:
    view = make_view(world)
    assert auth(view, world.forged).status is AuthStatus.UNKNOWN
    assert auth(view, world.forged, world.forged_issuer).status is AuthStatus.UNKNOWN


def test_an_expired_well_known_issuer_grants_nothing(world: World) -> None:
    key = ec_key()
    old = build("Old issuer", None, key, key.public_key(), start=NOW - timedelta(days=90), ca=True)
    leaf = build("leaf", old.subject, key, ec_key().public_key(), start=NOW - timedelta(days=1))
    view = AuthView.build(issuers=[old])
    assert auth(view, leaf).status is AuthStatus.UNKNOWN


def test_the_well_known_issuer_itself_is_not_a_client(world: World) -> None:
    assert auth(make_view(world), world.issuer[1]).status is AuthStatus.UNKNOWN


def test_well_known_issuer_comes_before_registration(world: World) -> None:
    view = make_view(world, clients=[registered(world.issued, world.entries["user"])])
    assert auth(view, world.issued).status is AuthStatus.WELL_KNOWN_ISSUER


def test_registered_certificate_has_its_clearance_and_permissions(world: World) -> None:
    view = make_view(world)
    result = auth(view, world.user[1])
    assert result.status is AuthStatus.REGISTERED
    assert result.authenticated
    assert result.name == "user"
    assert result.clearance is Clearance.VALID_USER
    assert dict(result.permissions) == {
        "HR": Access.READ_WRITE,
        "Sales": Access.READ,
        "Ops": Access.ADMIN,
    }
    actor = result.actor()
    assert (actor.clearance, actor.thumbprint, actor.name) == (
        Clearance.VALID_USER,
        pki.thumbprint(world.user[1]),
        "user",
    )
    assert auth(view, world.operator[1]).clearance is Clearance.OPERATOR
    assert auth(view, world.admin[1]).clearance is Clearance.CLUSTER_ADMIN
    assert auth(view, world.self_signed[1]).status is AuthStatus.REGISTERED


def test_every_member_of_a_collection_has_the_entrys_settings(world: World) -> None:
    result = auth(make_view(world), world.member)
    assert result.status is AuthStatus.REGISTERED
    assert result.entry is not None and result.entry.entry_id == 1
    assert result.thumbprint == pki.thumbprint(world.member)


def test_two_factor_without_a_session_is_required(world: World) -> None:
    result = auth(make_view(world), world.two_factor[1])
    assert result.status is AuthStatus.TWO_FACTOR_REQUIRED
    assert "/authentication/2fa" in result.message
    assert result.two_factor
    decision = authorize(result, Request.read("HR"))
    assert (decision.allowed, decision.http_status) == (False, 428)
    with pytest.raises(PermissionDenied):
        result.actor()


def _session(w: World, *, minutes: int = 30, browser: bool = False, token: str | None = None):
    return TwoFactorSession(
        pki.thumbprint(w.two_factor[1]),
        NOW + timedelta(minutes=minutes),
        browser,
        session_cookie_hash(token) if token else None,
    )


def test_a_session_for_every_client_opens_two_factor(world: World) -> None:
    result = auth(make_view(world, sessions=(_session(world),)), world.two_factor[1])
    assert result.status is AuthStatus.REGISTERED
    assert result.session is not None and not result.session.browser_only
    assert authorize(result, Request.read("hr")).allowed


def test_an_expired_session_is_refused(world: World) -> None:
    view = make_view(world, sessions=(_session(world, minutes=-1), _session(world, minutes=0)))
    assert auth(view, world.two_factor[1]).status is AuthStatus.TWO_FACTOR_REQUIRED


def test_a_browser_only_session_needs_its_cookie(world: World) -> None:
    view = make_view(world, sessions=(_session(world, browser=True, token="right-token"),))
    assert auth(view, world.two_factor[1], cookie="right-token").status is AuthStatus.REGISTERED
    for cookie in (None, "", "wrong-token"):
        refused = auth(view, world.two_factor[1], cookie=cookie)
        assert refused.status is AuthStatus.TWO_FACTOR_REQUIRED
        assert "browser" in refused.message


def test_sessions_of_another_certificate_do_not_count(world: World) -> None:
    other = TwoFactorSession(pki.thumbprint(world.user[1]), NOW + timedelta(hours=1), False)
    view = make_view(world, sessions=(other,))
    assert auth(view, world.two_factor[1]).status is AuthStatus.TWO_FACTOR_REQUIRED


def test_with_sessions_replaces_one_certificates_sessions(world: World) -> None:
    view = make_view(world)
    opened = view.with_sessions(pki.thumbprint(world.two_factor[1]), [_session(world)])
    assert auth(opened, world.two_factor[1]).status is AuthStatus.REGISTERED
    assert auth(view, world.two_factor[1]).status is AuthStatus.TWO_FACTOR_REQUIRED
    closed = opened.with_sessions(pki.thumbprint(world.two_factor[1]), [])
    assert auth(closed, world.two_factor[1]).status is AuthStatus.TWO_FACTOR_REQUIRED


def test_a_renewal_with_the_same_key_and_issuer_is_to_be_registered(world: World) -> None:
    result = auth(make_view(world), world.renewal)
    assert result.status is AuthStatus.RENEWAL
    assert result.renews is not None
    assert result.renews.thumbprint == pki.thumbprint(world.user[1])
    assert result.entry is world.entries["user"]
    assert not result.authenticated
    assert authorize(result, Request.read("HR")).http_status == 401


def test_a_self_signed_renewal_with_the_same_key_is_to_be_registered(world: World) -> None:
    result = auth(make_view(world), world.self_renewal)
    assert result.status is AuthStatus.RENEWAL
    assert result.renews is not None and result.renews.entry.name == "self"


def test_same_key_from_another_issuer_is_not_a_renewal(world: World) -> None:
    other_ca = pki.create_ca("Other CA", now=NOW - timedelta(days=1))
    user_key = world.user[0]
    assert isinstance(user_key, ec.EllipticCurvePrivateKey)
    other = build("user", other_ca[1].subject, other_ca[0], user_key.public_key())
    view = make_view(world)
    assert auth(view, other).status is AuthStatus.UNKNOWN
    assert auth(view, other, other_ca[1]).status is AuthStatus.UNKNOWN
    # the same issuer name on a CA with another key is not the same issuer either
    fake_ca = build(
        "",
        None,
        other_ca[0],
        other_ca[0].public_key(),
        ca=True,
        subject_name=world.ca[1].subject,
    )
    assert world.ca[1].subject == fake_ca.subject
    faked = build("user", fake_ca.subject, other_ca[0], user_key.public_key())
    assert auth(view, faked, fake_ca).status is AuthStatus.UNKNOWN


def test_another_key_from_the_same_issuer_is_unknown(world: World) -> None:
    result = auth(make_view(world), world.stranger)
    assert result.status is AuthStatus.UNKNOWN
    assert "not registered" in result.message
    assert authorize(result, Request(Need.AUTHENTICATED)).http_status == 401


def test_a_renewal_by_a_presented_foreign_issuer(world: World) -> None:
    foreign = pki.create_ca("Foreign CA", now=NOW - timedelta(days=10))
    key = ec_key()
    old = build("svc", foreign[1].subject, foreign[0], key.public_key(), days=20)
    new = build("svc", foreign[1].subject, foreign[0], key.public_key(), days=200)
    view = make_view(world, clients=[registered(old, world.entries["operator"])])
    assert auth(view, new).status is AuthStatus.UNKNOWN  # the issuer is unknown to certkit
    renewed = auth(view, new, foreign[1])
    assert renewed.status is AuthStatus.RENEWAL
    assert renewed.renews is not None and renewed.renews.thumbprint == pki.thumbprint(old)


def test_an_expired_renewal_is_expired(world: World) -> None:
    ca_key, ca_cert = world.ca
    user_key = world.user[0]
    assert isinstance(user_key, ec.EllipticCurvePrivateKey)
    stale = build(
        "user",
        ca_cert.subject,
        ca_key,
        user_key.public_key(),
        start=NOW - timedelta(days=90),
        days=10,
    )
    assert auth(make_view(world), stale).status is AuthStatus.EXPIRED


def test_unreadable_bytes_are_unknown(world: World) -> None:
    result = authenticate(make_view(world), [b"\x30\x03garbage"], NOW)
    assert result.status is AuthStatus.UNKNOWN
    assert "cannot be read" in result.message


def test_an_empty_view_knows_nobody(world: World) -> None:
    assert auth(AuthView.build(), world.user[1]).status is AuthStatus.UNKNOWN


# ---- authorization ------------------------------------------------------------------------

ADMIN_LEVEL = {Clearance.CLUSTER_ADMIN, Clearance.CLUSTER_NODE}


def _expected(clearance: Clearance, access: Access | None, need: Need) -> bool:
    """The rules of issue 4, written out independently of the implementation."""
    if clearance in ADMIN_LEVEL:
        return True
    if clearance is Clearance.OPERATOR:
        return need is not Need.CLUSTER_ADMIN
    if need is Need.AUTHENTICATED:
        return True
    if need in (Need.CLUSTER_ADMIN, Need.OPERATOR) or access is None:
        return False
    return {
        Access.ADMIN: True,
        Access.READ_WRITE: need is not Need.DATABASE_ADMIN,
        Access.READ: need is Need.READ,
    }[access]


CASES = list(itertools.product(Clearance, [None, *Access], Need))


@pytest.mark.parametrize(
    ("clearance", "access", "need"),
    CASES,
    ids=[f"{c.value}-{a.value if a else 'none'}-{n.value}" for c, a, n in CASES],
)
def test_authorize_matrix(clearance: Clearance, access: Access | None, need: Need) -> None:
    permissions = {"Orders": access} if access else {}
    entry = EntrySettings.create(
        entry_id=9,
        name="x",
        primary="",
        clearance=clearance,
        permissions=permissions,
        two_factor=False,
    )
    result = authz.AuthResult(AuthStatus.REGISTERED, "x", "AB" * 20, "x", clearance, entry)
    database = "orders" if need in (Need.READ, Need.WRITE, Need.DATABASE_ADMIN) else None
    decision = authorize(result, Request(need, database))
    assert decision.allowed is _expected(clearance, access, need)
    assert decision.http_status == (204 if decision.allowed else 403)
    if not decision.allowed:
        assert "'x'" in decision.reason


def test_a_database_not_in_the_permissions_allows_nothing(world: World) -> None:
    result = auth(make_view(world), world.user[1])
    for request in (Request.read("Payroll"), Request.write("Payroll"), Request.read("HR2")):
        decision = authorize(result, request)
        assert (decision.allowed, decision.http_status) == (False, 403)
        assert "no access to the database" in decision.reason


def test_database_names_match_case_insensitively(world: World) -> None:
    result = auth(make_view(world), world.user[1])
    assert authorize(result, Request.write("hr")).allowed
    assert authorize(result, Request.write("HR")).allowed
    assert authorize(result, Request.read("SALES")).allowed
    refused = authorize(result, Request.write("sales"))
    assert not refused.allowed and "Read access" in refused.reason
    assert authorize(result, Request.database_admin("ops")).allowed
    assert not authorize(result, Request.database_admin("hr")).allowed


def test_a_database_request_without_a_database_is_refused(world: World) -> None:
    result = auth(make_view(world), world.user[1])
    assert not authorize(result, Request(Need.READ)).allowed


@pytest.mark.parametrize(
    ("method", "uri", "need", "database"),
    [
        ("GET", "/databases/HR/docs", Need.READ, "HR"),
        ("HEAD", "/databases/HR/docs?id=1", Need.READ, "HR"),
        ("options", "/databases/HR", Need.READ, "HR"),
        ("POST", "/databases/HR/docs", Need.WRITE, "HR"),
        ("PUT", "/databases/HR/docs/1", Need.WRITE, "HR"),
        ("DELETE", "/databases/HR/docs/1", Need.WRITE, "HR"),
        ("PATCH", "//databases//HR//docs", Need.WRITE, "HR"),
        ("GET", "/databases/HR/admin/indexes", Need.DATABASE_ADMIN, "HR"),
        ("GET", "/databases/HR/Admin", Need.DATABASE_ADMIN, "HR"),
        ("GET", "/databases/My%20DB/docs", Need.READ, "My DB"),
        ("GET", "/", Need.OPERATOR, None),
        ("GET", "/certkit/voila/render", Need.OPERATOR, None),
        ("GET", "/databases/", Need.OPERATOR, None),
        ("GET", "/Databases/HR/docs", Need.OPERATOR, None),
    ],
)
def test_http_request_mapping(method: str, uri: str, need: Need, database: str | None) -> None:
    assert http_request(method, uri) == Request(need, database)


@pytest.mark.parametrize(
    "uri",
    [
        "/databases/Sales/../HR/docs",
        "/databases/./HR/docs",
        "/databases/HR%2Fadmin/x",
        "/databases/HR%5cadmin",
        "/databases/%2e%2e/HR",
        "/databases/HR\\admin",
        "/databases/HR%00/docs",
        "/databases/%ff/docs",
        "databases/HR",
    ],
)
def test_ambiguous_paths_are_refused(uri: str) -> None:
    with pytest.raises(InvalidInput):
        http_request("GET", uri)
