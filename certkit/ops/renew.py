"""Renew (regenerate) a client certificate before it expires.

A renewal is a new certificate (new key, signed by certkit's CA) for the same entry: the same
name, clearance, database permissions and two-factor setting. The two-factor secret carries
over (re-encrypted for the new thumbprint), so the holder's authenticator app keeps working.
The old entry is marked ``replaced_by`` the new thumbprint and the new one ``replaces`` the
old: the old one no longer counts as expiring and no longer holds the name. It stays valid
until it expires (so the holder can switch over), or is deleted at once with
``delete_old=True``.
"""

from __future__ import annotations

from certkit import authz, pki
from certkit.errors import Conflict
from certkit.model import (
    LOCAL_ADMIN,
    Actor,
    CertificateRecord,
    Clearance,
    GeneratedCertificate,
    KeyType,
    Pkcs12Profile,
    Secret,
    TotpEnrollment,
)
from certkit.ops.base import new_certificate
from certkit.ops.clients import DEFAULT_EXPIRY, ClientOps, Expiry, _settings, as_passphrase
from certkit.registry import Store


class RenewOps(ClientOps):
    """Renew a client certificate: same settings, new key, the old one marked replaced."""

    def renew(
        self,
        thumbprint: str,
        *,
        passphrase: Secret | str | None = None,
        expires: Expiry = DEFAULT_EXPIRY,
        key_type: KeyType | str = KeyType.EC_P256,
        pkcs12: Pkcs12Profile | str = Pkcs12Profile.MODERN,
        delete_old: bool = False,
        actor: Actor = LOCAL_ADMIN,
    ) -> GeneratedCertificate:
        """Generate the renewal of an entry and register it; returns it like a generated one
        (record, zip). ``thumbprint`` may be any member of the entry's collection.

        ``delete_old`` deletes the renewed entry (and its collection) in the same
        transaction; otherwise it is kept, marked replaced, until it expires. Renewing
        needs the right to generate the entry's clearance (and, with ``delete_old``, to
        delete it); an entry already renewed cannot be renewed again (renew its renewal).
        Audit events: ``renew`` (and ``delete``).
        """
        kind = KeyType.parse(key_type)
        profile = Pkcs12Profile.parse(pkcs12)
        with self.registry.read() as tx:
            old = self._client_entry(tx, thumbprint, "renewed")
            has_secret = bool(old.entry_id and tx.totp_state(old.entry_id).secret)
        self._check_renew(old, actor, delete_old=delete_old)
        now = self.now()
        not_after = self._expiry(expires, now)
        ca = self.authority()
        key, cert = pki.issue_client_certificate(
            ca.key, ca.certificate, old.name, now=now, not_after=not_after, key_type=kind
        )
        zip_bytes = pki.client_bundle_zip(
            old.name,
            key,
            cert,
            [ca.certificate],
            passphrase=as_passphrase(passphrase),
            profile=profile,
        )
        row = new_certificate(cert)
        enrolment: TotpEnrollment | None = None
        fresh_token: str | None = None
        if old.two_factor:
            self.secret_box()  # loaded before the write transaction, which it would nest in
            if not has_secret:  # 2FA on without a secret (cannot pass): enrol anew
                enrolment, fresh_token = self._enrol(old.name, row.thumbprint)
        with self.registry.transaction() as tx:
            current = self._client_entry(tx, old.thumbprint, "renewed")
            assert current.entry_id is not None
            if current != old:  # changed since it was read: check the rules again
                self._check_renew(current, actor, delete_old=delete_old)
            level = current.clearance or Clearance.VALID_USER
            self._check_names_free(tx, [current.name], exclude_entry=current.entry_id)
            token, last_timecode = self._carried_secret(tx, current, row.thumbprint)
            if not current.two_factor or token is not None:
                enrolment = None  # nothing to enrol: no 2FA, or its secret carried over
            elif fresh_token is not None:
                token = fresh_token
            else:  # 2FA turned on while the certificate was generated
                raise Conflict(f"{current.name!r} changed while it was renewed; try again.")
            (entry_id,) = tx.insert_entries(
                [
                    self._entry(
                        current.name,
                        level,
                        current.permissions,
                        current.two_factor,
                        [row],
                        actor,
                        token,
                    )
                ]
            )
            if last_timecode is not None:  # a code used on the old one stays used
                tx.set_totp_state(
                    entry_id, last_timecode=last_timecode, failures=0, locked_until=None
                )
            tx.set_replaced_by(current.entry_id, row.thumbprint)
            tx.audit(
                at=now,
                actor=actor.label,
                action="renew",
                thumbprint=row.thumbprint,
                name=current.name,
                details=_settings(level, current.permissions, current.two_factor)
                | {
                    "renews": current.thumbprint,
                    "key_type": kind.value,
                    "delete_old": delete_old,
                },
            )
            if delete_old:
                tx.delete_entry(current.entry_id)
                tx.audit(
                    at=now,
                    actor=actor.label,
                    action="delete",
                    thumbprint=current.thumbprint,
                    name=current.name,
                    details={
                        "collection": list(current.collection),
                        "reason": f"renewed by {row.thumbprint}",
                    },
                )
            record = tx.entry(entry_id)
        assert record is not None
        return GeneratedCertificate(
            record, zip_bytes, f"{pki.safe_file_stem(record.name)}.zip", enrolment
        )

    def _check_renew(self, record: CertificateRecord, actor: Actor, *, delete_old: bool) -> None:
        level = record.clearance or Clearance.VALID_USER
        authz.check_manage(actor, level, "renew", record.name)
        if delete_old:
            authz.check_delete(actor, level, (record.thumbprint, *record.collection), record.name)
        if record.replaced_by is not None:
            raise Conflict(
                f"{record.name!r} ({record.thumbprint}) was already renewed by "
                f"{record.replaced_by}; renew that certificate instead."
            )

    def _carried_secret(
        self, tx: Store, record: CertificateRecord, new_thumbprint: str
    ) -> tuple[str | None, int | None]:
        """The entry's TOTP secret encrypted for the new thumbprint, and its last used code."""
        if not record.two_factor or record.entry_id is None:
            return None, None
        state = tx.totp_state(record.entry_id)
        if not state.secret:
            return None, None
        box = self.secret_box()
        plain = box.decrypt(state.secret, context=f"totp:{record.thumbprint}")
        return box.encrypt(plain, context=f"totp:{new_thumbprint}"), state.last_timecode
