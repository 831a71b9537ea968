"""Domain values: enums and frozen dataclasses shared by every layer.

Nothing here touches a database, a file or a key. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from certkit.errors import InvalidInput

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware UTC."""
    return datetime.now(UTC)


_Choice = TypeVar("_Choice", bound=StrEnum)


def _parse_choice(cls: type[_Choice], text: str, what: str, *, hint: str = "") -> _Choice:
    """The member of an enum of lower-case values that ``text`` names, trimmed, any case."""
    try:
        return cls(text.strip().lower())
    except ValueError:
        use = hint or "one of " + ", ".join(member.value for member in cls)
        raise InvalidInput(f"Unknown {what} {text!r}; use {use}.") from None


class Clearance(StrEnum):
    """Security clearance of a certificate (stored and shown by these exact names)."""

    CLUSTER_ADMIN = "ClusterAdmin"
    CLUSTER_NODE = "ClusterNode"
    OPERATOR = "Operator"
    VALID_USER = "ValidUser"

    @property
    def label(self) -> str:
        """The name shown to people: "Cluster Admin", "Cluster Node", "Operator", "User"."""
        return _CLEARANCE_LABELS[self]

    @property
    def group(self) -> str:
        """The filter group: "Admin" (ClusterAdmin and ClusterNode), "Operator" or "User"."""
        return _CLEARANCE_GROUPS[self]

    @property
    def is_admin(self) -> bool:
        """ClusterNode is equivalent to ClusterAdmin."""
        return self in (Clearance.CLUSTER_ADMIN, Clearance.CLUSTER_NODE)

    @property
    def rank(self) -> int:
        """Higher is more powerful; ClusterAdmin and ClusterNode rank the same."""
        return _CLEARANCE_RANKS[self]

    @classmethod
    def parse(cls, text: str) -> Clearance:
        """Read a clearance from its name or label, case-insensitively."""
        key = re.sub(r"[\s_-]", "", text).lower()
        for clearance in cls:
            if key in (clearance.value.lower(), clearance.label.replace(" ", "").lower()):
                return clearance
        names = ", ".join(c.value for c in cls)
        raise InvalidInput(f"Unknown security clearance {text!r}; use one of {names}.")


_CLEARANCE_LABELS = {
    Clearance.CLUSTER_ADMIN: "Cluster Admin",
    Clearance.CLUSTER_NODE: "Cluster Node",
    Clearance.OPERATOR: "Operator",
    Clearance.VALID_USER: "User",
}
_CLEARANCE_GROUPS = {
    Clearance.CLUSTER_ADMIN: "Admin",
    Clearance.CLUSTER_NODE: "Admin",
    Clearance.OPERATOR: "Operator",
    Clearance.VALID_USER: "User",
}
_CLEARANCE_RANKS = {
    Clearance.CLUSTER_ADMIN: 3,
    Clearance.CLUSTER_NODE: 3,
    Clearance.OPERATOR: 2,
    Clearance.VALID_USER: 1,
}
CLEARANCE_GROUPS = ("Admin", "Operator", "User")


class Access(StrEnum):
    """Access of a certificate to one database."""

    ADMIN = "Admin"
    READ_WRITE = "ReadWrite"
    READ = "Read"

    @property
    def label(self) -> str:
        return {"Admin": "Admin", "ReadWrite": "Read/Write", "Read": "Read"}[self.value]

    @classmethod
    def parse(cls, text: str) -> Access:
        """Read an access level ("Admin", "ReadWrite", "Read/Write", "Read"), case-insensitively."""
        key = re.sub(r"[\s/_-]", "", text).lower()
        for access in cls:
            if key == access.value.lower():
                return access
        raise InvalidInput(f"Unknown access level {text!r}; use Admin, ReadWrite or Read.")


class KeyType(StrEnum):
    """Key algorithm of a generated certificate."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"

    @classmethod
    def parse(cls, text: str) -> KeyType:
        return _parse_choice(cls, text, "key type")


class Pkcs12Profile(StrEnum):
    """PKCS#12 encryption: AES-256-CBC/PBES2/SHA-256, or 3DES/SHA-1 for old importers."""

    MODERN = "modern"
    LEGACY = "legacy"

    @classmethod
    def parse(cls, text: str) -> Pkcs12Profile:
        return _parse_choice(cls, text, "PKCS#12 profile", hint="modern or legacy")


class CertKind(StrEnum):
    CLIENT = "client"
    SERVER = "server"
    WELL_KNOWN_ADMIN = "well-known-admin"
    WELL_KNOWN_ISSUER = "well-known-issuer"


class CertState(StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"

    @property
    def label(self) -> str:
        return {
            "valid": "Valid",
            "expiring": "About to expire",
            "expired": "Expired",
            "not-yet-valid": "Not yet valid",
        }[self.value]


DEFAULT_EXPIRING_THRESHOLD = timedelta(days=30)


def certificate_state(
    not_before: datetime,
    not_after: datetime,
    now: datetime,
    threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD,
) -> CertState:
    """Classify a validity period at ``now``."""
    if now >= not_after:
        return CertState.EXPIRED
    if now < not_before:
        return CertState.NOT_YET_VALID
    if not_after - now <= threshold:
        return CertState.EXPIRING
    return CertState.VALID


class Secret:
    """A secret value (passphrase, key, TOTP secret) whose repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value.encode() if isinstance(value, str) else bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def reveal_text(self) -> str:
        return self._value.decode()

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does an operation: a clearance and, for remote callers, their certificate."""

    clearance: Clearance
    thumbprint: str | None = None
    name: str = "local administrator"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.thumbprint})" if self.thumbprint else self.name


LOCAL_ADMIN = Actor(Clearance.CLUSTER_ADMIN)

_NAME_MAX = 100
_DB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def validate_name(name: str) -> str:
    """Trim a certificate name and check it: 1-100 printable characters."""
    trimmed = name.strip()
    if not trimmed:
        raise InvalidInput("A certificate name is required; it cannot be blank.")
    if len(trimmed) > _NAME_MAX:
        raise InvalidInput(
            f"The certificate name is {len(trimmed)} characters long; the limit is {_NAME_MAX}."
        )
    if any(unicodedata.category(ch).startswith("C") for ch in trimmed):
        raise InvalidInput("The certificate name contains control characters; use printable text.")
    return trimmed


def validate_database_name(database: str) -> str:
    """Check a database name: letters, digits, ``_ . -``, at most 128, no ``..``."""
    name = database.strip()
    if not name:
        raise InvalidInput("A database name cannot be blank.")
    if not _DB_NAME.match(name) or ".." in name or name.endswith("."):
        raise InvalidInput(
            f"Invalid database name {name!r}: use letters, digits, '_', '.' and '-' "
            "(at most 128 characters, no '/', spaces or control characters)."
        )
    return name


def normalize_permissions(
    permissions: Mapping[str, Access | str] | None,
) -> dict[str, Access]:
    """Validate database permissions; names that differ only in case are one database."""
    result: dict[str, Access] = {}
    seen: dict[str, str] = {}
    for database, access in (permissions or {}).items():
        name = validate_database_name(database)
        level = Access.parse(access)
        if name.lower() in seen:
            raise InvalidInput(
                f"Database {name!r} is given twice (as {seen[name.lower()]!r}); "
                "database names match case-insensitively."
            )
        seen[name.lower()] = name
        result[name] = level
    return dict(sorted(result.items(), key=lambda kv: kv[0].lower()))


def parse_period(text: str) -> timedelta | tuple[int, str]:
    """Parse ``5y``, ``18m``, ``90d`` (also ``2w``) into a timedelta or (months, 'm').

    Months and years are calendar months, so they come back as ``(count, "m")`` and
    are added to a date by :func:`add_period`.
    """
    match = re.fullmatch(r"\s*(\d{1,5})\s*([ymwd])\s*", text.lower())
    if not match:
        raise InvalidInput(
            f"Invalid period {text!r}; write a number and a unit, e.g. 5y, 18m, 90d or 2w."
        )
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0:
        raise InvalidInput(f"Invalid period {text!r}; it must be longer than zero.")
    if unit == "d":
        return timedelta(days=count)
    if unit == "w":
        return timedelta(weeks=count)
    return (count * 12 if unit == "y" else count, "m")


def add_period(start: datetime, period: timedelta | tuple[int, str]) -> datetime:
    """Add a period from :func:`parse_period` to a datetime (calendar months clamp the day)."""
    if isinstance(period, timedelta):
        return start + period
    months = period[0]
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    month = month0 + 1
    if year > datetime.max.year:
        raise InvalidInput(
            f"A period of {months} months ends after the year {datetime.max.year}; "
            "choose a shorter one."
        )
    return start.replace(
        year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1])
    )


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """One registry entry as every layer sees it (the JSON contract of the command line)."""

    name: str
    thumbprint: str
    sha256: str
    kind: CertKind
    clearance: Clearance | None
    permissions: Mapping[str, Access]
    not_before: datetime
    not_after: datetime
    last_used: datetime | None
    two_factor: bool
    collection: tuple[str, ...]
    subject: str
    issuer: str
    serial: str
    created_at: datetime | None = None
    replaced_by: str | None = None  # the thumbprint of the renewal that replaced this entry
    entry_id: int | None = field(default=None, compare=False)
    replaces: str | None = None  # the thumbprint of the entry this one renewed

    def state(self, now: datetime, threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD) -> CertState:
        """The state at ``now``; an entry replaced by its renewal is never "expiring"."""
        if self.replaced_by is not None:
            threshold = timedelta(0)
        return certificate_state(self.not_before, self.not_after, now, threshold)

    def to_json(
        self, now: datetime, threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD
    ) -> dict[str, Any]:
        """The record as the command line's ``--json`` prints it."""
        return {
            "name": self.name,
            "thumbprint": self.thumbprint,
            "sha256": self.sha256,
            "kind": self.kind.value,
            "clearance": self.clearance.value if self.clearance else None,
            "permissions": {db: access.value for db, access in self.permissions.items()},
            "not_before": iso_utc(self.not_before),
            "not_after": iso_utc(self.not_after),
            "state": self.state(now, threshold).value,
            "last_used": iso_utc(self.last_used) if self.last_used else None,
            "two_factor": self.two_factor,
            "collection": list(self.collection),
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
        }


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a listing, with the total that matched and counts for the filters."""

    records: tuple[CertificateRecord, ...]
    total: int
    offset: int
    limit: int
    counts_by_clearance: Mapping[str, int] = field(default_factory=dict)
    counts_by_state: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    """What a person needs once to set up an authenticator app (never stored in clear)."""

    secret: Secret
    uri: str
    qr_png: bytes

    def __repr__(self) -> str:
        return "TotpEnrollment(secret=***, uri=***)"


@dataclass(frozen=True, slots=True)
class GeneratedCertificate:
    """A newly generated client certificate: its record, the zip, and 2FA enrolment if any."""

    record: CertificateRecord
    zip_bytes: bytes
    zip_name: str
    totp: TotpEnrollment | None = None

    def __repr__(self) -> str:
        return f"GeneratedCertificate({self.record.name!r}, {self.record.thumbprint})"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    thumbprint: str | None
    name: str | None
    details: str


class SortKey(StrEnum):
    NAME = "name"
    EXPIRATION = "expiration"
    VALID_FROM = "valid-from"
    LAST_USED = "last-used"

    @classmethod
    def parse(cls, text: str) -> SortKey:
        return _parse_choice(cls, text, "sort key")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a listing asks for: filters, order and page (clearance by group name)."""

    search: str = ""
    clearance: str | None = None
    state: CertState | None = None
    database: str | None = None
    sort: SortKey = SortKey.NAME
    descending: bool = False
    offset: int = 0
    limit: int | None = 50
    threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD


@dataclass(frozen=True, slots=True)
class WellKnownEntry:
    """A well-known admin thumbprint or a well-known issuer (CA public certificate)."""

    id: int
    kind: CertKind
    thumbprint: str
    sha256: str | None
    subject: str | None
    issuer: str | None
    serial: str | None
    not_before: datetime | None
    not_after: datetime | None
    added_at: datetime
    added_by: str

    def to_json(
        self, now: datetime, threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD
    ) -> dict[str, Any]:
        label = (
            "Well-known admin certificate"
            if self.kind is CertKind.WELL_KNOWN_ADMIN
            else ("Well-known issuer certificate")
        )
        state = (
            certificate_state(self.not_before, self.not_after, now, threshold).value
            if self.not_before and self.not_after
            else None
        )
        return {
            "id": self.id,
            "name": label,
            "thumbprint": self.thumbprint,
            "sha256": self.sha256,
            "kind": self.kind.value,
            "clearance": Clearance.CLUSTER_ADMIN.value,
            "permissions": {},
            "not_before": iso_utc(self.not_before) if self.not_before else None,
            "not_after": iso_utc(self.not_after) if self.not_after else None,
            "state": state,
            "last_used": None,
            "two_factor": False,
            "collection": [],
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
        }


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """The server certificate of one node (the local node's is the HTTPS identity)."""

    node: str
    thumbprint: str
    sha256: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    hostnames: tuple[str, ...]
    installed_at: datetime
    retired_at: datetime | None
    key_file: str

    def to_json(
        self, now: datetime, threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD
    ) -> dict[str, Any]:
        return {
            "name": f"Server certificate for communication {self.node}",
            "node": self.node,
            "thumbprint": self.thumbprint,
            "sha256": self.sha256,
            "kind": CertKind.SERVER.value,
            "clearance": Clearance.CLUSTER_NODE.value,
            "permissions": {},
            "not_before": iso_utc(self.not_before),
            "not_after": iso_utc(self.not_after),
            "state": certificate_state(self.not_before, self.not_after, now, threshold).value,
            "last_used": None,
            "two_factor": False,
            "collection": [],
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "hostnames": list(self.hostnames),
            "installed_at": iso_utc(self.installed_at),
            "retired_at": iso_utc(self.retired_at) if self.retired_at else None,
        }
