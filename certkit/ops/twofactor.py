"""Two-factor checks: TOTP codes with replay protection and lockout."""

from __future__ import annotations

from datetime import datetime, timedelta

from certkit import totp
from certkit.errors import InvalidInput, TotpRejected
from certkit.model import CertificateRecord, Secret
from certkit.ops.clients import ClientOps

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)


class TwoFactorOps(ClientOps):
    """Verify TOTP codes of certificates that require two-factor authentication."""

    def check_two_factor(
        self, thumbprint: str, code: str, *, at: datetime | None = None
    ) -> CertificateRecord:
        """Accept a code once, within +-1 step; after 5 wrong codes in a row, lock out.

        Raises:
            TotpRejected: the code is wrong, already used, or the certificate is locked out.
        """
        moment = at or self.now()
        refusal: TotpRejected | None = None
        with self.registry.transaction() as tx:
            record = self._client_entry(tx, thumbprint, "checked")
            assert record.entry_id is not None
            if not record.two_factor:
                raise InvalidInput(f"{record.name!r} does not use two-factor authentication.")
            state = tx.totp_state(record.entry_id)
            if state.locked_until and state.locked_until > moment:
                minutes = max(1, round((state.locked_until - moment).total_seconds() / 60))
                raise TotpRejected(
                    f"Too many wrong codes for {record.name!r}; try again in {minutes} min."
                )
            if state.secret is None:
                raise InvalidInput(f"{record.name!r} has no two-factor secret; turn 2FA on again.")
            secret = Secret(
                self.secret_box().decrypt(state.secret, context=f"totp:{record.thumbprint}")
            )
            try:
                matched = totp.verify(
                    secret, code, at=moment, last_used_timecode=state.last_timecode
                )
            except TotpRejected as error:
                failures = state.failures + 1
                locked = failures >= MAX_FAILURES
                tx.set_totp_state(
                    record.entry_id,
                    last_timecode=state.last_timecode,
                    failures=0 if locked else failures,
                    locked_until=moment + LOCKOUT if locked else None,
                )
                tx.audit(
                    at=moment,
                    actor=record.name,
                    action="2fa-lockout" if locked else "2fa-refused",
                    thumbprint=record.thumbprint,
                    name=record.name,
                    details={"failures": failures},
                )
                refusal = (
                    TotpRejected(
                        f"{error.message} Too many wrong codes: {record.name!r} is locked "
                        f"for {int(LOCKOUT.total_seconds() // 60)} min."
                    )
                    if locked
                    else error
                )
            else:
                tx.set_totp_state(
                    record.entry_id, last_timecode=matched, failures=0, locked_until=None
                )
        if refusal is not None:
            raise refusal
        return record
