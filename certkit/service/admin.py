"""``/admin/certificates``: the certificate administration API, with the caller as actor.

Each function takes the operations, the calling certificate's actor, the query and the JSON
body, and returns ``(status, payload)``. The records are the command line's ``--json``
records. The actor rules of DESIGN.md section 2 are enforced by the operations themselves.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from certkit.errors import InvalidInput
from certkit.model import (
    Actor,
    CertState,
    GeneratedCertificate,
    ListQuery,
    Secret,
    SortKey,
)
from certkit.ops import Certkit

Json = dict[str, Any]
Query = Mapping[str, str]


def list_or_show(kit: Certkit, actor: Actor, query: Query, body: Json) -> tuple[int, Any]:
    """GET: one record (``?thumbprint=``) or a page (``search``, ``clearance``, ``state``,
    ``database``, ``sort``, ``descending``, ``offset``, ``limit``)."""
    now, threshold = kit.now(), kit.expiring_threshold
    if "thumbprint" in query:
        found = kit.show(query["thumbprint"])
        return 200, found.to_json(now, threshold)
    limit_text = query.get("limit", "50")
    page = kit.list_certificates(
        ListQuery(
            search=query.get("search", ""),
            clearance=_group(query.get("clearance")),
            state=_state(query.get("state")),
            database=query.get("database") or None,
            sort=SortKey.parse(query.get("sort", "name")),
            descending=query.get("descending", "false").lower() in ("1", "true", "yes"),
            offset=_int(query.get("offset", "0"), "offset"),
            limit=None if limit_text == "all" else _int(limit_text, "limit"),
            threshold=threshold,
        )
    )
    return 200, {
        "certificates": [r.to_json(now, threshold) for r in page.records],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "counts_by_clearance": dict(page.counts_by_clearance),
        "counts_by_state": dict(page.counts_by_state),
        "well_known": [w.to_json(now, threshold) for w in kit.well_known()],
        "servers": [s.to_json(now, threshold) for s in kit.server_certificates()],
    }


def generate(kit: Certkit, actor: Actor, query: Query, body: Json) -> tuple[int, Any]:
    """POST: generate a client certificate; the zip comes back base64-encoded, once."""
    made = kit.generate_client_certificate(
        _text(body, "name", required=True),
        clearance=_text(body, "clearance") or "ValidUser",
        permissions=_permissions(body, "permissions"),
        passphrase=_passphrase(body),
        expires=_text(body, "expires") or "5y",
        key_type=_text(body, "key") or "ec-p256",
        pkcs12=_text(body, "pkcs12") or "modern",
        two_factor=_flag(body, "two_factor"),
        actor=actor,
    )
    return 201, _generated(kit, made)


def clone(kit: Certkit, actor: Actor, query: Query, body: Json) -> tuple[int, Any]:
    """POST /admin/certificates/clone: a new certificate with another one's settings."""
    made = kit.clone(
        _text(body, "thumbprint", required=True),
        _text(body, "name", required=True),
        passphrase=_passphrase(body),
        expires=_text(body, "expires") or "5y",
        key_type=_text(body, "key") or "ec-p256",
        pkcs12=_text(body, "pkcs12") or "modern",
        actor=actor,
    )
    return 201, _generated(kit, made)


def register(kit: Certkit, actor: Actor, query: Query, body: Json) -> tuple[int, Any]:
    """PUT: register existing certificates: ``certificate`` (PEM text) or ``data_base64``
    (DER or PKCS#12), with ``passphrase``, ``name``, ``clearance``, ``permissions``,
    ``two_factor`` and ``each``."""
    pem = _text(body, "certificate")
    encoded = _text(body, "data_base64")
    if bool(pem) == bool(encoded):
        raise InvalidInput("Give the certificate as 'certificate' (PEM) or 'data_base64'.")
    try:
        data = pem.encode() if pem else base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("'data_base64' is not valid base64.") from None
    result = kit.register(
        data,
        clearance=_text(body, "clearance", required=True),
        name=_text(body, "name") or None,
        permissions=_permissions(body, "permissions"),
        two_factor=_flag(body, "two_factor"),
        passphrase=_passphrase(body),
        each=_flag(body, "each"),
        source="the upload",
        actor=actor,
    )
    now, threshold = kit.now(), kit.expiring_threshold
    records = []
    for record in result.records:
        item = record.to_json(now, threshold)
        if record.thumbprint in result.totp:
            item["totp_uri"] = result.totp[record.thumbprint].uri
        records.append(item)
    skipped = [{"subject": subject, "reason": reason} for subject, reason in result.skipped]
    return 201, {"certificates": records, "skipped": skipped}


def edit(kit: Certkit, actor: Actor, query: Query, body: Json) -> tuple[int, Any]:
    """PATCH ``?thumbprint=``: ``name``, ``clearance``, ``permissions`` (all of them),
    ``set_permissions`` (some), ``remove_databases``, ``two_factor``."""
    removed = body.get("remove_databases", [])
    if not isinstance(removed, list) or not all(isinstance(d, str) for d in removed):
        raise InvalidInput("'remove_databases' must be a list of database names.")
    two_factor = body.get("two_factor")
    if two_factor is not None and not isinstance(two_factor, bool):
        raise InvalidInput("'two_factor' must be true or false.")
    result = kit.edit(
        _thumbprint(query, body),
        name=_text(body, "name") or None,
        clearance=_text(body, "clearance") or None,
        permissions=_permissions(body, "permissions") if "permissions" in body else None,
        set_permissions=_permissions(body, "set_permissions") or None,
        remove_databases=removed,
        two_factor=two_factor,
        actor=actor,
    )
    item = result.record.to_json(kit.now(), kit.expiring_threshold)
    if result.totp:
        item["totp_uri"] = result.totp.uri
    return 200, item


def delete(kit: Certkit, actor: Actor, query: Query, body: Json) -> tuple[int, Any]:
    """DELETE ``?thumbprint=``: the entry and its whole collection."""
    record = kit.delete(_thumbprint(query, body), actor=actor)
    return 200, record.to_json(kit.now(), kit.expiring_threshold)


# ---- reading the request ----------------------------------------------------------------


def _generated(kit: Certkit, made: GeneratedCertificate) -> Json:
    item = made.record.to_json(kit.now(), kit.expiring_threshold)
    item["zip_name"] = made.zip_name
    item["zip_base64"] = base64.b64encode(made.zip_bytes).decode("ascii")
    if made.totp:
        item["totp_uri"] = made.totp.uri
    return item


def _text(body: Json, key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"'{key}' is required.")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be a string.")
    return value


def _flag(body: Json, key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{key}' must be true or false.")
    return value


def _permissions(body: Json, key: str) -> dict[str, str]:
    value = body.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput(f"'{key}' must be an object of database names to access levels.")
    return value


def _passphrase(body: Json) -> Secret | None:
    value = _text(body, "passphrase")
    return Secret(value) if value else None


def _thumbprint(query: Query, body: Json) -> str:
    value = query.get("thumbprint") or _text(body, "thumbprint")
    if not value:
        raise InvalidInput("Name the certificate with ?thumbprint=THUMBPRINT.")
    return value


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"'{name}' must be a whole number.") from None


def _state(text: str | None) -> CertState | None:
    if not text:
        return None
    try:
        return CertState(text.strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in CertState)
        raise InvalidInput(f"'state' must be one of {names}.") from None


def _group(text: str | None) -> str | None:
    if not text:
        return None
    groups = {"admin": "Admin", "operator": "Operator", "user": "User"}
    try:
        return groups[text.strip().lower()]
    except KeyError:
        raise InvalidInput("'clearance' must be Admin, Operator or User.") from None
