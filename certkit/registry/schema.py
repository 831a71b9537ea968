"""The registry schema and its ordered migrations.

Version N is reached by running every migration up to N in order, in one transaction.
Stored DER is the truth; the other certificate columns are derived from it on write.
Timestamps are stored as naive UTC ``TIMESTAMP`` values.
"""

from __future__ import annotations

import re
from typing import Any

from certkit.errors import CertkitError
from certkit.registry.dialect import is_postgres

SCHEMA_VERSION = 3

_V1 = """
CREATE TABLE meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE SEQUENCE entry_ids START 1;
CREATE SEQUENCE row_ids START 1;
CREATE TABLE entries (
    id BIGINT PRIMARY KEY,
    name VARCHAR NOT NULL,
    name_key VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    clearance VARCHAR NOT NULL,
    permissions VARCHAR NOT NULL,
    databases VARCHAR NOT NULL,
    two_factor BOOLEAN NOT NULL,
    totp_secret VARCHAR,
    totp_last_timecode BIGINT,
    totp_failures INTEGER NOT NULL DEFAULT 0,
    totp_locked_until TIMESTAMP,
    primary_thumbprint VARCHAR NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    last_used TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR NOT NULL,
    replaced_by VARCHAR
);
CREATE TABLE certificates (
    thumbprint VARCHAR PRIMARY KEY,
    entry_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    sha256 VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    issuer VARCHAR NOT NULL,
    serial VARCHAR NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    der BLOB NOT NULL,
    last_used TIMESTAMP
);
CREATE TABLE well_known (
    id BIGINT PRIMARY KEY,
    kind VARCHAR NOT NULL,
    thumbprint VARCHAR NOT NULL,
    sha256 VARCHAR,
    subject VARCHAR,
    issuer VARCHAR,
    serial VARCHAR,
    not_before TIMESTAMP,
    not_after TIMESTAMP,
    der BLOB,
    added_at TIMESTAMP NOT NULL,
    added_by VARCHAR NOT NULL
);
CREATE TABLE server_certificates (
    id BIGINT PRIMARY KEY,
    node VARCHAR NOT NULL,
    thumbprint VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    issuer VARCHAR NOT NULL,
    serial VARCHAR NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    hostnames VARCHAR NOT NULL,
    der BLOB NOT NULL,
    key_file VARCHAR NOT NULL,
    installed_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY,
    "at" TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    thumbprint VARCHAR,
    name VARCHAR,
    details VARCHAR NOT NULL
);
"""

# Version 2: two-factor sessions, in the registry so that service replicas share them.
# ``cookie_hash`` is the SHA-256 of a browser-only session's cookie (never the cookie).
_V2 = """
CREATE TABLE sessions (
    id BIGINT PRIMARY KEY,
    thumbprint VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    browser_only BOOLEAN NOT NULL,
    cookie_hash VARCHAR
);
"""

# Version 3: expiry and renewal (issue 5).
# ``certificates.spki_sha256``: SHA-256 of the DER SubjectPublicKeyInfo, hex, written on insert
# (the analysis finds certificates that share a key with it). SQL cannot parse DER, so rows
# stored before version 3 keep NULL here until ``Certkit.fill_key_hashes`` computes them in
# Python; the shared-key analysis calls it first, so the NULLs are never seen.
# ``entries.replaces``: the primary thumbprint of the entry this one renewed (the other end of
# ``replaced_by``), kept when the renewed entry is deleted; filled here for earlier renewals.
_V3 = """
ALTER TABLE certificates ADD COLUMN spki_sha256 VARCHAR;
ALTER TABLE entries ADD COLUMN replaces VARCHAR;
UPDATE entries SET replaces = (
    SELECT min(o.primary_thumbprint) FROM entries o WHERE o.replaced_by = entries.primary_thumbprint
);
"""

MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3}


def migration(step: int, *, postgres: bool = False) -> str:
    """The SQL of one migration, in PostgreSQL's words where they differ (``BYTEA``)."""
    return re.sub(r"\bBLOB\b", "BYTEA", MIGRATIONS[step]) if postgres else MIGRATIONS[step]


def set_schema_version(con: Any, version: int) -> None:
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [str(version)],
    )


def upgrade(con: Any) -> bool:
    """Bring the schema to :data:`SCHEMA_VERSION` inside the current transaction (either
    backend); True if a migration ran."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'meta' AND table_schema = current_schema()"
    ).fetchone()
    version = 0
    if exists and exists[0]:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise CertkitError(
            f"The registry has schema version {version}, newer than this certkit "
            f"({SCHEMA_VERSION}); upgrade certkit."
        )
    if version == SCHEMA_VERSION:
        return False
    for step in range(version + 1, SCHEMA_VERSION + 1):
        con.execute(migration(step, postgres=is_postgres(con)))
    set_schema_version(con, SCHEMA_VERSION)
    return True
