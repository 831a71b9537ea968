"""Who is this certificate, and may it do this? Pure decisions, no I/O.

Managing certificates (DESIGN.md section 2): only a ClusterAdmin may create, change to or
from, or delete an admin-level (ClusterAdmin or ClusterNode) certificate, or replace the
server certificate; an Operator manages Operator and ValidUser certificates; a ValidUser
manages none. These checks raise rather than return False.

Access (issue 4): :func:`authenticate` classifies a presented certificate chain against an
immutable snapshot of the registry (:class:`AuthView`); :func:`certkit.access.authorize`
decides one request for the result. The operations layer builds and refreshes the view.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

from cryptography import x509

from certkit.errors import PermissionDenied
from certkit.model import Access, Actor, Clearance
from certkit.pki_inspect import extension_value, issued_by, public_key_der


def require_operator(actor: Actor, action: str) -> None:
    """Managing certificates at all needs Operator or above."""
    if actor.clearance.rank < Clearance.OPERATOR.rank:
        raise PermissionDenied(
            f"Cannot {action}: it needs Operator or Cluster Admin clearance, and "
            f"{actor.label} has {actor.clearance.label}."
        )


def require_cluster_admin(actor: Actor, action: str) -> None:
    if not actor.clearance.is_admin:
        raise PermissionDenied(
            f"Cannot {action}: only a Cluster Admin can do that, and {actor.label} has "
            f"{actor.clearance.label} clearance."
        )


def check_manage(actor: Actor, clearance: Clearance, action: str, name: str) -> None:
    """May ``actor`` create, change or delete a certificate of ``clearance``?"""
    require_operator(actor, f"{action} the certificate {name!r}")
    if clearance.is_admin and not actor.clearance.is_admin:
        raise PermissionDenied(
            f"Cannot {action} the certificate {name!r} with {clearance.label} clearance: "
            f"only a Cluster Admin can do that, and {actor.label} has "
            f"{actor.clearance.label} clearance."
        )


def check_edit(actor: Actor, old: Clearance, new: Clearance, name: str) -> None:
    """Editing needs the right to manage both the old and the new clearance."""
    check_manage(actor, old, "edit", name)
    if new != old:
        check_manage(actor, new, f"give {new.label} clearance to", name)


def check_delete(
    actor: Actor, clearance: Clearance, thumbprints: tuple[str, ...], name: str
) -> None:
    """Deleting also refuses the certificate the actor is connected with."""
    check_manage(actor, clearance, "delete", name)
    if actor.thumbprint and actor.thumbprint in thumbprints:
        raise PermissionDenied(
            f"Cannot delete {name!r}: it is the certificate of the current connection."
        )


# ===================================================================================
# Authentication and authorization of a presented certificate (issue 4)
#
# ``authenticate`` classifies a presented chain against an immutable in-memory snapshot of
# the registry (:class:`AuthView`); ``authorize`` decides one request for that result. Both
# are pure: no file, database or clock access, so a warm view answers in microseconds.
# ===================================================================================


class AuthStatus(StrEnum):
    """The outcome of :func:`authenticate`, checked in this order (first match wins)."""

    NO_CERTIFICATE = "no-certificate"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    CLUSTER_NODE = "cluster-node"  # the server's own certificate (a node of this cluster)
    WELL_KNOWN_ADMIN = "well-known-admin"
    WELL_KNOWN_ISSUER = "well-known-issuer"
    REGISTERED = "registered"
    TWO_FACTOR_REQUIRED = "two-factor-required"
    RENEWAL = "renewal"  # the caller registers it (same settings), then authenticates again
    UNKNOWN = "unknown"

    @property
    def authenticated(self) -> bool:
        """Whether the certificate is known and may be authorized for requests."""
        return self in _AUTHENTICATED


_AUTHENTICATED = frozenset(
    {
        AuthStatus.CLUSTER_NODE,
        AuthStatus.WELL_KNOWN_ADMIN,
        AuthStatus.WELL_KNOWN_ISSUER,
        AuthStatus.REGISTERED,
    }
)


@dataclass(frozen=True, slots=True)
class EntrySettings:
    """The settings of one registry entry, shared by every certificate of its collection."""

    entry_id: int
    name: str
    primary: str
    clearance: Clearance
    permissions: Mapping[str, Access]  # as stored and shown
    two_factor: bool
    members: tuple[str, ...] = ()  # the other thumbprints of the collection
    access: Mapping[str, Access] = field(default_factory=dict)  # lower-cased database names

    @classmethod
    def create(
        cls,
        *,
        entry_id: int,
        name: str,
        primary: str,
        clearance: Clearance,
        permissions: Mapping[str, Access],
        two_factor: bool,
        members: tuple[str, ...] = (),
    ) -> EntrySettings:
        return cls(
            entry_id=entry_id,
            name=name,
            primary=primary,
            clearance=clearance,
            permissions=MappingProxyType(dict(permissions)),
            two_factor=two_factor,
            members=members,
            access=MappingProxyType({db.lower(): a for db, a in permissions.items()}),
        )


@dataclass(frozen=True, slots=True)
class RegisteredCertificate:
    """One registered client certificate: its own validity and key, its entry's settings."""

    thumbprint: str
    entry: EntrySettings
    not_before: datetime
    not_after: datetime
    issuer: str  # RFC 4514, as stored (a quick filter before any signature check)
    spki: str  # SHA-256 of the DER SubjectPublicKeyInfo, hex (renewal detection)
    der: bytes = field(default=b"", repr=False)  # needed only to check a renewal's issuer


@dataclass(frozen=True, slots=True)
class TwoFactorSession:
    """An open two-factor session of one certificate (browser-only ones need the cookie)."""

    thumbprint: str
    expires_at: datetime
    browser_only: bool
    cookie_hash: str | None = field(default=None, repr=False)


def session_cookie_hash(token: str) -> str:
    """What the registry keeps of a browser session cookie: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def spki_hash(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER SubjectPublicKeyInfo, hex: same key, same hash."""
    return hashlib.sha256(public_key_der(cert.public_key())).hexdigest()


@dataclass(frozen=True, slots=True)
class AuthView:
    """An immutable snapshot of what authentication needs from the registry.

    Build it with :meth:`build`; a changed registry gives a new view (never mutate one).
    """

    clients: Mapping[str, RegisteredCertificate]
    admin_thumbprints: frozenset[str]
    issuers: tuple[x509.Certificate, ...]  # well-known issuers (public CA certificates)
    servers: Mapping[str, str]  # active server certificate thumbprint -> node tag
    authorities: tuple[x509.Certificate, ...]  # certkit's own CA (known issuers for renewals)
    by_spki: Mapping[str, tuple[RegisteredCertificate, ...]]  # newest not_after first
    sessions: Mapping[str, tuple[TwoFactorSession, ...]]
    issuer_subjects: frozenset[str]
    generation: int = 0
    _memo: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        clients: Iterable[RegisteredCertificate] = (),
        *,
        admin_thumbprints: Iterable[str] = (),
        issuers: Iterable[x509.Certificate] = (),
        servers: Mapping[str, str] | None = None,
        authorities: Iterable[x509.Certificate] = (),
        sessions: Iterable[TwoFactorSession] = (),
        generation: int = 0,
    ) -> AuthView:
        by_thumbprint = {c.thumbprint: c for c in clients}
        by_spki: dict[str, list[RegisteredCertificate]] = {}
        for cert in by_thumbprint.values():
            by_spki.setdefault(cert.spki, []).append(cert)
        session_map: dict[str, list[TwoFactorSession]] = {}
        for session in sessions:
            session_map.setdefault(session.thumbprint, []).append(session)
        issuer_list = tuple(issuers)
        return cls(
            clients=MappingProxyType(by_thumbprint),
            admin_thumbprints=frozenset(t.upper() for t in admin_thumbprints),
            issuers=issuer_list,
            servers=MappingProxyType(dict(servers or {})),
            authorities=tuple(authorities),
            by_spki=MappingProxyType(
                {
                    k: tuple(sorted(v, key=lambda c: c.not_after, reverse=True))
                    for k, v in by_spki.items()
                }
            ),
            sessions=MappingProxyType({k: tuple(v) for k, v in session_map.items()}),
            issuer_subjects=frozenset(i.subject.rfc4514_string() for i in issuer_list),
            generation=generation,
        )

    def with_sessions(self, thumbprint: str, sessions: Iterable[TwoFactorSession]) -> AuthView:
        """A copy whose sessions of ``thumbprint`` are replaced (after a login or logout)."""
        changed = dict(self.sessions)
        kept = tuple(sessions)
        if kept:
            changed[thumbprint] = kept
        else:
            changed.pop(thumbprint, None)
        return replace(self, sessions=MappingProxyType(changed), _memo=self._memo)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who a presented certificate is: a status, and for known ones their settings."""

    status: AuthStatus
    message: str
    thumbprint: str | None = None
    name: str | None = None
    clearance: Clearance | None = None
    entry: EntrySettings | None = None
    session: TwoFactorSession | None = None
    renews: RegisteredCertificate | None = None  # RENEWAL: the registered certificate renewed

    @property
    def authenticated(self) -> bool:
        return self.status.authenticated

    @property
    def permissions(self) -> Mapping[str, Access]:
        return self.entry.permissions if self.entry else {}

    @property
    def two_factor(self) -> bool:
        return bool(self.entry and self.entry.two_factor)

    def actor(self) -> Actor:
        """The actor for operations done with this certificate (it must be authenticated)."""
        if not self.authenticated or self.clearance is None:
            raise PermissionDenied(self.message)
        return Actor(self.clearance, self.thumbprint, self.name or "certificate")


class _Parsed:
    """What authentication reads from a certificate it has not seen registered."""

    __slots__ = ("cert", "issuer", "not_after", "not_before", "spki")

    def __init__(self, der: bytes) -> None:
        self.cert = x509.load_der_x509_certificate(der)
        self.not_before = self.cert.not_valid_before_utc
        self.not_after = self.cert.not_valid_after_utc
        self.issuer = self.cert.issuer.rfc4514_string()
        self.spki: str | None = None

    def key_hash(self) -> str:
        if self.spki is None:
            self.spki = spki_hash(self.cert)
        return self.spki


@lru_cache(maxsize=4096)
def _parse(der: bytes) -> _Parsed | None:
    try:
        return _Parsed(der)
    except ValueError:
        return None


def authenticate(
    view: AuthView, chain: Sequence[bytes], now: datetime, *, cookie: str | None = None
) -> AuthResult:
    """Classify a presented chain (DER, leaf first) at ``now`` (see :class:`AuthStatus`).

    ``cookie`` is the browser's two-factor session cookie, if it sent one.
    """
    if not chain or not chain[0]:
        return _NO_CERTIFICATE
    der = chain[0]
    thumbprint = hashlib.sha1(der).hexdigest().upper()
    registered = view.clients.get(thumbprint)
    parsed: _Parsed | None = None
    if registered is not None:
        not_before, not_after, issuer = (
            registered.not_before,
            registered.not_after,
            registered.issuer,
        )
    else:
        parsed = _parse(der)
        if parsed is None:
            return AuthResult(
                AuthStatus.UNKNOWN, "The client certificate cannot be read.", thumbprint
            )
        not_before, not_after, issuer = parsed.not_before, parsed.not_after, parsed.issuer
    if now >= not_after:
        return AuthResult(
            AuthStatus.EXPIRED,
            f"The client certificate {thumbprint} expired on {_when(not_after)}.",
            thumbprint,
        )
    if now < not_before:
        return AuthResult(
            AuthStatus.NOT_YET_VALID,
            f"The client certificate {thumbprint} is not valid before {_when(not_before)}.",
            thumbprint,
        )
    node = view.servers.get(thumbprint)
    if node is not None:
        name = f"Server certificate (node {node})"
        return AuthResult(AuthStatus.CLUSTER_NODE, name, thumbprint, name, Clearance.CLUSTER_NODE)
    if thumbprint in view.admin_thumbprints:
        return AuthResult(
            AuthStatus.WELL_KNOWN_ADMIN,
            "Well-known admin certificate",
            thumbprint,
            "Well-known admin certificate",
            Clearance.CLUSTER_ADMIN,
        )
    if view.issuers and (issuer in view.issuer_subjects or len(chain) > 1):
        trusted = _well_known_issuer(view, chain, thumbprint, now)
        if trusted is not None:
            name = f"Well-known issuer: {trusted.subject.rfc4514_string()}"
            return AuthResult(
                AuthStatus.WELL_KNOWN_ISSUER, name, thumbprint, name, Clearance.CLUSTER_ADMIN
            )
    if registered is not None:
        return _registered(view, registered, now, cookie)
    assert parsed is not None
    renewed = _renewal_of(view, parsed, chain, thumbprint)
    if renewed is not None:
        return AuthResult(
            AuthStatus.RENEWAL,
            f"The client certificate {thumbprint} renews {renewed.thumbprint} "
            f"({renewed.entry.name!r}): same public key and issuer.",
            thumbprint,
            renewed.entry.name,
            renewed.entry.clearance,
            renewed.entry,
            renews=renewed,
        )
    return AuthResult(
        AuthStatus.UNKNOWN,
        f"The client certificate {thumbprint} is not registered with this server.",
        thumbprint,
    )


_NO_CERTIFICATE = AuthResult(
    AuthStatus.NO_CERTIFICATE, "No client certificate was presented; this server needs one."
)


def _admitted(
    registered: RegisteredCertificate, session: TwoFactorSession | None = None
) -> AuthResult:
    """A registered certificate let in (with the two-factor session that lets it in)."""
    entry = registered.entry
    return AuthResult(
        AuthStatus.REGISTERED,
        entry.name,
        registered.thumbprint,
        entry.name,
        entry.clearance,
        entry,
        session,
    )


def _registered(
    view: AuthView, registered: RegisteredCertificate, now: datetime, cookie: str | None
) -> AuthResult:
    entry = registered.entry
    thumbprint = registered.thumbprint
    if not entry.two_factor:
        return _admitted(registered)
    open_sessions = [s for s in view.sessions.get(thumbprint, ()) if s.expires_at > now]
    for session in open_sessions:
        if not session.browser_only:
            return _admitted(registered, session)
    if cookie:
        presented = session_cookie_hash(cookie)
        for session in open_sessions:
            if session.cookie_hash and hmac.compare_digest(session.cookie_hash, presented):
                return _admitted(registered, session)
    if open_sessions:
        why = (
            "its two-factor session is limited to the browser that opened it; send that "
            "browser's session cookie, or POST a new code to /authentication/2fa"
        )
    else:
        why = "POST a TOTP code to /authentication/2fa to open a session"
    return AuthResult(
        AuthStatus.TWO_FACTOR_REQUIRED,
        f"The client certificate {entry.name!r} ({thumbprint}) requires two-factor "
        f"authentication: {why}.",
        thumbprint,
        entry.name,
        entry.clearance,
        entry,
    )


_MAX_CHAIN_DEPTH = 8


def _well_known_issuer(
    view: AuthView, chain: Sequence[bytes], thumbprint: str, now: datetime
) -> x509.Certificate | None:
    """The well-known issuer that ``chain`` leads to with valid signatures, if any.

    Intermediates come from the presented chain; the well-known issuer need not be a root.
    Signature results are remembered per view (issuers only change with a new view).
    """
    key = thumbprint if len(chain) == 1 else "|".join(hashlib.sha1(c).hexdigest() for c in chain)
    index = view._memo.get(key)
    if index is None:
        index = _walk_to_issuer(view.issuers, chain)
        if len(view._memo) > 50_000:
            view._memo.clear()
        view._memo[key] = index
    if index < 0:
        return None
    issuer = view.issuers[index]
    if not issuer.not_valid_before_utc <= now < issuer.not_valid_after_utc:
        return None
    return issuer


def _walk_to_issuer(issuers: Sequence[x509.Certificate], chain: Sequence[bytes]) -> int:
    parsed = [_parse(der) for der in chain]
    if any(p is None for p in parsed):
        return -1
    certs = [p.cert for p in parsed if p is not None]
    leaf = certs[0]
    current = leaf
    for _ in range(_MAX_CHAIN_DEPTH):
        for index, issuer in enumerate(issuers):
            if issuer != leaf and issued_by(current, issuer):
                return index
        step = next(
            (c for c in certs[1:] if c != current and _is_ca(c) and issued_by(current, c)),
            None,
        )
        if step is None:
            return -1
        current = step
    return -1


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = extension_value(cert, x509.BasicConstraints)
    return bool(constraints and constraints.ca)


def _renewal_of(
    view: AuthView, parsed: _Parsed, chain: Sequence[bytes], thumbprint: str
) -> RegisteredCertificate | None:
    """A registered certificate that this one renews: same public key and same issuer.

    "Same issuer" means one issuer key signed both: the registered certificate's own key
    when it is self-signed, else a CA certificate that certkit knows (its own CA, a
    well-known issuer) or that the client presented in its chain.
    """
    candidates = view.by_spki.get(parsed.key_hash())
    if not candidates:
        return None
    new = parsed.cert
    for known in candidates:
        if known.thumbprint == thumbprint or not known.der:
            continue
        old = _parse(known.der)
        if old is None or old.cert.issuer != new.issuer:
            continue
        if old.cert.subject == old.cert.issuer and issued_by(old.cert, old.cert):
            if issued_by(new, old.cert):  # self-signed by the same key
                return known
            continue
        presented = [p.cert for p in (_parse(c) for c in chain[1:]) if p is not None]
        for issuer in (*view.authorities, *view.issuers, *presented):
            if issuer.subject == new.issuer and issued_by(new, issuer):
                if issued_by(old.cert, issuer):
                    return known
    return None


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
