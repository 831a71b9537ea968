"""Authentication use cases: the in-memory view, renewals, 2FA sessions and last used.

The service decides every request from an immutable :class:`~certkit.authz.AuthView`. This
mixin builds it from the registry and keeps it fresh: :meth:`AuthOps.refresh_auth_view`
costs nothing when the registry's change stamp is the same (two ``stat`` calls of the DuckDB
file; a counter of PostgreSQL notifications), and when it changed it runs one short read
transaction (DESIGN.md section 3) and rebuilds only if what authentication
depends on changed. A service calls it every quarter second, so a deleted or downgraded
certificate is refused within a second, on new and kept-alive connections alike.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certkit import authz, pki
from certkit.authz import AuthResult, AuthStatus, AuthView, TwoFactorSession
from certkit.errors import CertkitError, InvalidInput
from certkit.model import CertificateRecord, Secret, iso_utc
from certkit.ops.base import new_certificate
from certkit.ops.server import ServerOps
from certkit.ops.twofactor import TwoFactorOps
from certkit.registry import NewEntry
from certkit.registry.auth_queries import (
    AuthRows,
    SessionRow,
    add_session,
    auth_rows,
    auth_signature,
    certificate_ders,
    close_sessions,
    open_sessions,
    purge_sessions,
    touch_last_used_many,
)

DEFAULT_SESSION_MINUTES = 120
MAX_SESSION_MINUTES = 24 * 60
LAST_USED_INTERVAL = timedelta(minutes=1)
"""A certificate's last use is written at most this often (the latest time wins)."""
VIEW_MAX_AGE = 30.0
"""Seconds after which the view is checked against the registry even if no file changed."""
RENEWAL_ACTOR = "certkit (automatic renewal)"
REQUEST_CHECK_WAIT = 0.5
"""Seconds a request waits for a refresh under way before deciding with the current view."""

log = logging.getLogger("certkit.auth")
_STATE_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A two-factor session just opened; ``cookie`` only for browser-only sessions."""

    thumbprint: str
    name: str
    expires_at: datetime
    browser_only: bool
    cookie: Secret | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "name": self.name,
            "expires_at": iso_utc(self.expires_at),
            "browser_only": self.browser_only,
        }


@dataclass
class _AuthState:
    """What one process keeps between requests (guarded by ``lock``)."""

    lock: threading.RLock = field(default_factory=threading.RLock)  # view and sessions
    uses_lock: threading.Lock = field(default_factory=threading.Lock)  # used and written
    view: AuthView | None = None
    stamp: Hashable = None
    signature: tuple[Any, ...] | None = None
    checked_at: float = 0.0
    generation: int = 0
    keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # thumbprint: (spki, der)
    issuers: dict[bytes, x509.Certificate] = field(default_factory=dict)
    server_ders: tuple[bytes, ...] = ()
    signed: dict[str, bool] = field(default_factory=dict)  # thumbprint: a known CA signed it
    signed_for: tuple[bytes, ...] = ()  # the CAs (and servers) ``signed`` was computed for
    used: dict[str, datetime] = field(default_factory=dict)  # not yet written
    written: dict[str, datetime] = field(default_factory=dict)  # when last written


class AuthOps(TwoFactorOps, ServerOps):
    """Authenticate presented certificates against the registry, as the service does."""

    _auth: _AuthState | None = None

    def _auth_state(self) -> _AuthState:
        if self._auth is None:
            with _STATE_LOCK:
                if self._auth is None:
                    self._auth = _AuthState()
        return self._auth

    # ----------------------------------------------------------------- the view
    def auth_view(self) -> AuthView:
        """The current view (built on first use; kept fresh by :meth:`refresh_auth_view`)."""
        state = self._auth_state()
        view = state.view
        if view is None:
            self.refresh_auth_view(force=True)
            view = state.view
            assert view is not None
        return view

    def refresh_auth_view(self, *, force: bool = False, timeout: float = -1) -> bool:
        """Rebuild the view if the registry changed what authentication depends on.

        Returns True if a new view was built. ``timeout``: seconds to wait for another
        thread's refresh to finish (-1: as long as it takes); past it, returns False.
        """
        state = self._auth_state()
        if not state.lock.acquire(timeout=timeout):
            return False
        try:
            return self._refresh(state, force)
        finally:
            state.lock.release()

    def _refresh(self, state: _AuthState, force: bool) -> bool:
        stamp = self.registry.change_stamp()  # before reading: a later write changes it again
        fresh = time.monotonic() - state.checked_at < VIEW_MAX_AGE
        if not force and state.view is not None and stamp == state.stamp and fresh:
            return False
        self._ensure_initialised()
        with self.registry.read() as tx:
            signature = auth_signature(tx)
            if not force and state.view is not None and signature == state.signature:
                state.stamp, state.checked_at = stamp, time.monotonic()
                return False
            rows = auth_rows(tx, self.now())
            missing = [r.thumbprint for r in rows.certificates if r.thumbprint not in state.keys]
            ders = certificate_ders(tx, missing)
        state.view = self._build_view(state, rows, ders)
        state.stamp, state.signature, state.checked_at = stamp, signature, time.monotonic()
        return True

    def check_auth_view(self) -> None:
        """A quick freshness check for the request path: next to nothing when nothing
        changed; waits at most half a second for a refresh under way, never fails."""
        try:
            self.refresh_auth_view(timeout=REQUEST_CHECK_WAIT)
        except CertkitError as error:
            log.warning("registry check skipped: %s", error)

    def _build_view(self, state: _AuthState, rows: AuthRows, ders: dict[str, bytes]) -> AuthView:
        for thumbprint, der in ders.items():
            state.keys[thumbprint] = (authz.spki_hash(x509.load_der_x509_certificate(der)), der)
        live = {r.thumbprint for r in rows.certificates}
        for gone in [t for t in state.keys if t not in live]:
            del state.keys[gone]
        members: dict[int, list[str]] = {}
        for row in sorted(rows.certificates, key=lambda r: r.position):
            members.setdefault(row.entry_id, []).append(row.thumbprint)
        entries: dict[int, authz.EntrySettings] = {}
        clients = []
        for row in rows.certificates:
            entry = entries.get(row.entry_id)
            if entry is None:
                entry = entries[row.entry_id] = authz.EntrySettings.create(
                    entry_id=row.entry_id,
                    name=row.name,
                    primary=row.primary,
                    clearance=row.clearance,
                    permissions=row.permissions,
                    two_factor=row.two_factor,
                    members=tuple(t for t in members[row.entry_id] if t != row.primary),
                )
            spki, der = state.keys[row.thumbprint]
            clients.append(
                authz.RegisteredCertificate(
                    row.thumbprint, entry, row.not_before, row.not_after, row.issuer, spki, der
                )
            )
        issuers = []
        for der in rows.issuer_ders:
            if der not in state.issuers:
                state.issuers[der] = x509.load_der_x509_certificate(der)
            issuers.append(state.issuers[der])
        state.server_ders = tuple(der for _, der in rows.servers.values())
        state.generation += 1
        return AuthView.build(
            clients,
            admin_thumbprints=rows.admin_thumbprints,
            issuers=issuers,
            servers={t: node for t, (node, _) in rows.servers.items()},
            authorities=[self.authority().certificate],
            sessions=[_session(s) for s in rows.sessions],
            generation=state.generation,
        )

    def trust_anchors(self) -> list[bytes]:
        """DER certificates a TLS server may accept client chains to: certkit's CA, the
        well-known issuers, the active server certificates, and each registered client
        certificate that none of those CAs signed (self-signed or foreign-issued: trusted
        directly, as a partial chain). The view decides the rest.

        Which CA signed a certificate is checked once per certificate and remembered, so
        a registry of certificates that certkit issued needs only a handful of anchors.
        """
        view = self.auth_view()
        state = self._auth_state()
        cas = (*view.authorities, *view.issuers)
        anchors = [c.public_bytes(Encoding.DER) for c in cas]
        anchors += state.server_ders
        known = tuple(sorted(anchors))
        with state.uses_lock:
            if state.signed_for != known:
                state.signed_for, state.signed = known, {}
            signed = state.signed
        subjects: dict[str, list[x509.Certificate]] = {}
        for ca in cas:
            subjects.setdefault(ca.subject.rfc4514_string(), []).append(ca)
        for client in view.clients.values():
            if not client.der:
                continue
            verdict = signed.get(client.thumbprint)
            if verdict is None:
                candidates = subjects.get(client.issuer, [])
                cert = x509.load_der_x509_certificate(client.der) if candidates else None
                verdict = cert is not None and any(pki.issued_by(cert, ca) for ca in candidates)
                signed[client.thumbprint] = verdict
            if not verdict:
                anchors.append(client.der)
        return anchors

    # ------------------------------------------------------------ authenticate
    def authenticate_request(
        self, chain: Sequence[bytes], *, cookie: str | None = None
    ) -> AuthResult:
        """Authenticate a presented chain (DER, leaf first) with the current view.

        An unknown certificate makes the view check the registry first, so one registered a
        moment ago is known at once. A renewal of a registered certificate (same public key,
        same issuer) is registered with the same settings, recorded in the audit log, and
        authenticated at once. Every authenticated registered certificate has its use noted
        for "last used".
        """
        now = self.now()
        view = self.auth_view()
        result = authz.authenticate(view, chain, now, cookie=cookie)
        if result.status is AuthStatus.UNKNOWN:
            self.check_auth_view()  # registered a moment ago?
            if self.auth_view() is not view:
                result = authz.authenticate(self.auth_view(), chain, now, cookie=cookie)
        if result.status is AuthStatus.RENEWAL:
            self._register_renewal(chain[0], result)
            self.refresh_auth_view(force=True)
            result = authz.authenticate(self.auth_view(), chain, now, cookie=cookie)
        if result.status is AuthStatus.REGISTERED and result.thumbprint:
            self.note_use(result.thumbprint, now)
        return result

    def _register_renewal(self, der: bytes, result: AuthResult) -> CertificateRecord | None:
        renewed = result.renews
        assert renewed is not None
        row = new_certificate(x509.load_der_x509_certificate(der))
        now = self.now()
        with self._auth_state().lock, self.registry.transaction() as tx:
            if tx.registered_thumbprints([row.thumbprint]):
                return None  # another request or replica registered it first
            old = tx.find(renewed.thumbprint)
            if old is None or old.entry_id is None or old.clearance is None:
                return None  # deleted meanwhile: the next view says unknown
            totp = tx.totp_state(old.entry_id) if old.two_factor else None
            token = None
            if totp is not None and totp.secret:
                box = self.secret_box()
                plain = box.decrypt(totp.secret, context=f"totp:{old.thumbprint}")
                token = box.encrypt(plain, context=f"totp:{row.thumbprint}")
            (entry_id,) = tx.insert_entries(
                [
                    NewEntry(
                        name=old.name,
                        kind=old.kind,
                        clearance=old.clearance,
                        permissions=old.permissions,
                        two_factor=old.two_factor,
                        certificates=[row],
                        created_at=now,
                        created_by=RENEWAL_ACTOR,
                        totp_secret=token,
                    )
                ]
            )
            if totp is not None and token is not None:
                tx.set_totp_state(
                    entry_id, last_timecode=totp.last_timecode, failures=0, locked_until=None
                )
            tx.set_replaced_by(old.entry_id, row.thumbprint)
            tx.audit(
                at=now,
                actor=RENEWAL_ACTOR,
                action="renew",
                thumbprint=row.thumbprint,
                name=old.name,
                details={
                    "renews": renewed.thumbprint,
                    "entry": old.thumbprint,
                    "reason": "same public key and issuer as a registered certificate",
                    "clearance": old.clearance.value,
                    "permissions": {d: a.value for d, a in old.permissions.items()},
                    "two_factor": old.two_factor,
                },
            )
            return tx.entry(entry_id)

    # --------------------------------------------------------------- last used
    def note_use(self, thumbprint: str, at: datetime | None = None) -> None:
        """Note that a certificate authenticated; :meth:`flush_last_used` writes it."""
        moment = at or self.now()
        state = self._auth_state()
        with state.uses_lock:
            previous = state.used.get(thumbprint)
            if previous is None or moment > previous:
                state.used[thumbprint] = moment

    def flush_last_used(self, *, force: bool = False) -> int:
        """Write noted uses, at most once a minute per certificate (``force``: all now).

        Returns how many certificates were written.
        """
        state = self._auth_state()
        now = self.now()
        with state.uses_lock:
            due = {
                t: at
                for t, at in state.used.items()
                if force or t not in state.written or now - state.written[t] >= LAST_USED_INTERVAL
            }
        if not due:
            return 0
        with self.registry.transaction() as tx:  # requests keep noting uses meanwhile
            touch_last_used_many(tx, due)
        with state.uses_lock:
            for thumbprint, at in due.items():
                state.written[thumbprint] = now
                if state.used.get(thumbprint) == at:
                    del state.used[thumbprint]
        return len(due)

    # ------------------------------------------------------------- 2FA sessions
    def open_two_factor_session(
        self,
        thumbprint: str,
        code: str,
        *,
        duration_minutes: int = DEFAULT_SESSION_MINUTES,
        browser_only: bool = True,
    ) -> OpenedSession:
        """Check a TOTP code (once, with lockout) and open a session for this certificate.

        A browser-only session comes with a cookie that later requests must carry; the
        registry keeps only its hash. Sessions live in the registry, so every service
        process on it honours them.

        Raises:
            InvalidInput: a bad duration, or the certificate does not use 2FA.
            TotpRejected: the code is wrong or reused, or the certificate is locked out.
        """
        if (
            isinstance(duration_minutes, bool)
            or not isinstance(duration_minutes, int)
            or not 1 <= duration_minutes <= MAX_SESSION_MINUTES
        ):
            raise InvalidInput(
                f"The session length must be 1 to {MAX_SESSION_MINUTES} minutes "
                f"(24 hours); got {duration_minutes!r}."
            )
        record = self.check_two_factor(thumbprint, code)
        value = thumbprint.strip().upper()
        now = self.now()
        expires = now + timedelta(minutes=duration_minutes)
        token = secrets.token_urlsafe(32) if browser_only else None
        with self._auth_state().lock:
            with self.registry.transaction() as tx:
                purge_sessions(tx, now)
                add_session(
                    tx,
                    thumbprint=value,
                    created_at=now,
                    expires_at=expires,
                    browser_only=browser_only,
                    cookie_hash=authz.session_cookie_hash(token) if token else None,
                )
                tx.audit(
                    at=now,
                    actor=record.name,
                    action="2fa-session",
                    thumbprint=value,
                    name=record.name,
                    details={
                        "minutes": duration_minutes,
                        "browser_only": browser_only,
                        "expires_at": iso_utc(expires),
                    },
                )
                sessions = open_sessions(tx, now, value)
            self._set_sessions(value, sessions)
        return OpenedSession(
            value, record.name, expires, browser_only, Secret(token) if token else None
        )

    def close_two_factor_sessions(self, thumbprint: str, *, actor: str = "") -> int:
        """Log out: forget every two-factor session of a certificate; returns how many."""
        value = thumbprint.strip().upper()
        with self._auth_state().lock:
            with self.registry.transaction() as tx:
                count = close_sessions(tx, value)
                if count:
                    tx.audit(
                        at=self.now(),
                        actor=actor or value,
                        action="2fa-logout",
                        thumbprint=value,
                        details={"sessions": count},
                    )
            self._set_sessions(value, [])
        return count

    def _set_sessions(self, thumbprint: str, sessions: Sequence[SessionRow]) -> None:
        """Show this process's own session change at once, without a full rebuild."""
        state = self._auth_state()
        if state.view is not None:
            state.view = state.view.with_sessions(thumbprint, [_session(s) for s in sessions])


def _session(row: SessionRow) -> TwoFactorSession:
    return TwoFactorSession(row.thumbprint, row.expires_at, row.browser_only, row.cookie_hash)
