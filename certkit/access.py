"""May this authenticated caller do this request? Pure decisions, no I/O (issue 4).

:func:`authorize` decides one :class:`Request` for the :class:`~certkit.authz.AuthResult` of
:func:`~certkit.authz.authenticate`; :func:`http_request` tells what an HTTP method and path
need (the front door's rules in ``deploy/README.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

from certkit.authz import AuthResult, AuthStatus
from certkit.errors import InvalidInput
from certkit.model import Access, Clearance


class Need(StrEnum):
    """What a request needs."""

    AUTHENTICATED = "authenticated"  # any authenticated certificate (e.g. whoami)
    OPERATOR = "operator"  # operator operations: Operator or above
    CLUSTER_ADMIN = "cluster-admin"  # cluster-admin operations
    READ = "read"  # read a database
    WRITE = "write"  # change a database
    DATABASE_ADMIN = "database-admin"  # administer a database


@dataclass(frozen=True, slots=True)
class Request:
    """One request to authorize: what it needs and, for database requests, the database."""

    need: Need
    database: str | None = None

    @classmethod
    def read(cls, database: str) -> Request:
        return cls(Need.READ, database)

    @classmethod
    def write(cls, database: str) -> Request:
        return cls(Need.WRITE, database)

    @classmethod
    def database_admin(cls, database: str) -> Request:
        return cls(Need.DATABASE_ADMIN, database)


_DATABASE_NEEDS = frozenset({Need.READ, Need.WRITE, Need.DATABASE_ADMIN})
_GRANTS: dict[Access, frozenset[Need]] = {
    Access.ADMIN: frozenset({Need.READ, Need.WRITE, Need.DATABASE_ADMIN}),
    Access.READ_WRITE: frozenset({Need.READ, Need.WRITE}),
    Access.READ: frozenset({Need.READ}),
}
_NEED_WORDS = {Need.READ: "read", Need.WRITE: "write to", Need.DATABASE_ADMIN: "administer"}


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request is allowed, the HTTP status that says so, and why."""

    allowed: bool
    http_status: int  # 204 allowed, 401 not authenticated, 403 not permitted, 428 needs 2FA
    reason: str


ALLOWED = Decision(True, 204, "Allowed.")


def authorize(result: AuthResult, request: Request) -> Decision:
    """May the authenticated certificate of ``result`` do ``request``?

    ClusterAdmin and ClusterNode may do everything; Operator everything but cluster-admin
    operations; a ValidUser only what its database permissions give: Admin everything on
    that database, ReadWrite all but its administration, Read only reads. A database the
    permissions do not name gives nothing. Database names match case-insensitively.
    """
    if not result.status.authenticated:
        status = 428 if result.status is AuthStatus.TWO_FACTOR_REQUIRED else 401
        return Decision(False, status, result.message)
    clearance = result.clearance
    assert clearance is not None
    need = request.need
    if clearance.is_admin:
        return ALLOWED
    if need is Need.CLUSTER_ADMIN:
        return _refuse(result, "this operation needs Cluster Admin clearance")
    if clearance is Clearance.OPERATOR or need is Need.AUTHENTICATED:
        return ALLOWED
    if need is Need.OPERATOR:
        return _refuse(result, "this operation needs Operator or Cluster Admin clearance")
    if need in _DATABASE_NEEDS and request.database:
        access = result.entry.access.get(request.database.lower()) if result.entry else None
        if access is not None and need in _GRANTS[access]:
            return ALLOWED
        if access is None:
            return _refuse(result, f"it has no access to the database {request.database!r}")
        return _refuse(
            result,
            f"its {access.label} access to {request.database!r} does not allow it to "
            f"{_NEED_WORDS[need]} that database",
        )
    return _refuse(result, "the request names no database")


def _refuse(result: AuthResult, why: str) -> Decision:
    return Decision(False, 403, f"Access denied for {result.name!r} ({result.thumbprint}): {why}.")


def http_request(method: str, uri: str) -> Request:
    """What an HTTP request behind the front door needs (nginx ``auth_request``).

    ``/databases/<db>/admin/...`` needs database administration; other ``/databases/<db>/...``
    paths need Read for GET, HEAD and OPTIONS and ReadWrite for any other method; every other
    path (the certkit web app) needs Operator. Paths that a server could resolve differently
    (dot segments, encoded slashes or backslashes) are refused with InvalidInput.
    """
    segments = _path_segments(uri)
    if len(segments) >= 2 and segments[0] == "databases":
        database = segments[1]
        if len(segments) >= 3 and segments[2].lower() == "admin":
            return Request(Need.DATABASE_ADMIN, database)
        if method.upper() in _READ_METHODS:
            return Request(Need.READ, database)
        return Request(Need.WRITE, database)
    return Request(Need.OPERATOR)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_AMBIGUOUS = re.compile(r"%(2f|5c|00)", re.IGNORECASE)


def _path_segments(uri: str) -> list[str]:
    path = uri.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        raise InvalidInput(f"The request path {path[:200]!r} does not start with '/'.")
    segments = []
    for raw in path.split("/"):
        if not raw:
            continue
        if "\\" in raw or _AMBIGUOUS.search(raw):
            raise InvalidInput("The request path holds an encoded slash, backslash or NUL.")
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise InvalidInput("The request path is not valid percent-encoded UTF-8.") from None
        if segment in (".", ".."):
            raise InvalidInput("The request path holds '.' or '..' segments.")
        segments.append(segment)
    return segments
