"""In-process authentication + authorization decisions per second with a warm view.

Figure: ``authz.authenticate`` then ``access.authorize`` for a mix of presented certificates
(registered users reading and writing their databases, operators, a 2FA user with a session,
a well-known admin, an unknown certificate) against a view of 10,000 registered certificates.
Baseline, same run: a loop doing one dict lookup of a lower-cased database name per
decision (the least any permission check can cost in Python). Target: at least 100,000
decisions per second.

Second figure: refreshing the view after a certificate is deleted from a registry of
10,000 (what bounds "a deleted certificate is refused within one second"), beside reading
the same rows from DuckDB into Python in the same run. Target: well under a second.

Run: .venv/bin/python benchmarks/bench_authz.py [--quick] [--profile]
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from _common import Result, arguments, report, temp_home

from certkit import access, authz, pki
from certkit.access import Request
from certkit.authz import (
    AuthView,
    EntrySettings,
    RegisteredCertificate,
    TwoFactorSession,
)
from certkit.model import Access, Clearance

REGISTERED = 10_000
REAL = 200  # real certificates presented; the rest of the view is padding entries
TARGET_PER_SECOND = 100_000


def build_world() -> tuple[AuthView, list[tuple[list[bytes], Request]]]:
    from cryptography.hazmat.primitives.serialization import Encoding

    now = datetime.now(UTC)
    ca_key, ca = pki.create_ca("bench CA", now=now - timedelta(days=1))
    clients: list[RegisteredCertificate] = []
    presented: list[tuple[list[bytes], Request]] = []
    sessions: list[TwoFactorSession] = []
    for i in range(REAL):
        _, cert = pki.issue_client_certificate(
            ca_key,
            ca,
            f"user {i}",
            now=now - timedelta(hours=1),
            not_after=now + timedelta(days=30),
        )
        clearance = Clearance.OPERATOR if i % 10 == 0 else Clearance.VALID_USER
        two_factor = i % 17 == 0
        entry = EntrySettings.create(
            entry_id=i,
            name=f"user {i}",
            primary=pki.thumbprint(cert),
            clearance=clearance,
            permissions={f"DB{i % 50}": Access.READ_WRITE, "Shared": Access.READ},
            two_factor=two_factor,
        )
        der = cert.public_bytes(Encoding.DER)
        clients.append(
            RegisteredCertificate(
                pki.thumbprint(cert),
                entry,
                cert.not_valid_before_utc,
                cert.not_valid_after_utc,
                cert.issuer.rfc4514_string(),
                authz.spki_hash(cert),
                der,
            )
        )
        if two_factor:
            sessions.append(TwoFactorSession(pki.thumbprint(cert), now + timedelta(hours=1), False))
        for request in (
            Request.read(f"db{i % 50}"),
            Request.write(f"DB{i % 50}"),
            Request.write("shared"),
            Request.read("Other"),
        ):
            presented.append(([der], request))
    padding = EntrySettings.create(
        entry_id=-1,
        name="padding",
        primary="",
        clearance=Clearance.VALID_USER,
        permissions={"X": Access.READ},
        two_factor=False,
    )
    for i in range(REGISTERED - REAL):
        clients.append(
            RegisteredCertificate(
                f"{i:040X}", padding, now, now + timedelta(days=1), "CN=x", f"{i:064x}"
            )
        )
    _, admin = pki.issue_client_certificate(
        ca_key, ca, "admin", now=now - timedelta(hours=1), not_after=now + timedelta(days=30)
    )
    _, stranger = pki.issue_client_certificate(
        ca_key, ca, "stranger", now=now - timedelta(hours=1), not_after=now + timedelta(days=30)
    )
    presented.append(([admin.public_bytes(Encoding.DER)], Request(access.Need.CLUSTER_ADMIN)))
    presented.append(([stranger.public_bytes(Encoding.DER)], Request.read("DB1")))
    view = AuthView.build(
        clients,
        admin_thumbprints=[pki.thumbprint(admin)],
        authorities=[ca],
        sessions=sessions,
    )
    return view, presented


def decisions_per_second(
    view: AuthView, presented: list[tuple[list[bytes], Request]], rounds: int
) -> tuple[float, int, int]:
    now = datetime.now(UTC)
    authenticate, authorize = authz.authenticate, access.authorize
    for chain, request in presented:  # warm: parse caches, memo
        authorize(authenticate(view, chain, now), request)
    allowed = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for chain, request in presented:
            if authorize(authenticate(view, chain, now), request).allowed:
                allowed += 1
    elapsed = time.perf_counter() - start
    count = rounds * len(presented)
    return elapsed / count, count, allowed


def baseline_per_lookup(presented: list[tuple[list[bytes], Request]], rounds: int) -> float:
    table = {f"db{i}": Access.READ_WRITE for i in range(50)}
    names = [r.database or "x" for _, r in presented]
    hits = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for name in names:
            if table.get(name.lower()) is not None:
                hits += 1
    elapsed = time.perf_counter() - start
    return elapsed / (rounds * len(names))


def view_refresh() -> tuple[float, float]:
    """Seconds to refresh the view after a delete, and to read the rows it needs."""
    from bench_upload_each import build_bundle

    from certkit.ops import open_certkit

    with temp_home("authz-") as home:
        kit = open_certkit(home)
        kit.register(build_bundle(), clearance="ValidUser", each=True)
        service = open_certkit(home)  # the service's own process state
        service.refresh_auth_view(force=True)  # warm: certificate keys parsed once
        victims = [r.thumbprint for r in kit.list_certificates().records[:5]]
        times = []
        for thumbprint in victims:
            kit.delete(thumbprint)
            start = time.perf_counter()
            changed = service.refresh_auth_view()
            times.append(time.perf_counter() - start)
            assert changed
        start = time.perf_counter()
        with kit.registry.read() as tx:
            tx._con.execute(
                "SELECT c.thumbprint, c.entry_id, c.position, c.not_before, c.not_after, "
                "c.issuer, e.name, e.clearance, e.permissions, e.two_factor, "
                "e.primary_thumbprint FROM certificates c JOIN entries e ON e.id = c.entry_id"
            ).fetchall()
        baseline = time.perf_counter() - start
    return statistics.median(times), baseline


def main() -> None:
    args = arguments(__doc__ or "")
    rounds = 20 if args.quick else 100
    view, presented = build_world()
    if args.profile:
        import cProfile

        cProfile.runctx(
            "decisions_per_second(view, presented, 10)",
            globals(),
            {"view": view, "presented": presented},
            sort="cumulative",
        )
    per_decision, count, allowed = decisions_per_second(view, presented, rounds)
    per_lookup = baseline_per_lookup(presented, rounds)
    rate = 1 / per_decision
    results = [
        Result(
            benchmark=f"authenticate+authorize, warm view of {REGISTERED:,} ({count:,} decisions)",
            figure_s=per_decision,
            baseline_s=per_lookup,
            baseline="dict lookup of a lower-cased name",
            target=f">= {TARGET_PER_SECOND:,}/s",
            met=rate >= TARGET_PER_SECOND,
            note=(
                f"{rate:,.0f} decisions/s, {per_decision * 1e6:.2f} us each (baseline "
                f"{1 / per_lookup:,.0f} lookups/s, {per_lookup * 1e6:.3f} us each); "
                f"{allowed:,} allowed"
            ),
        )
    ]
    refresh, rows = view_refresh()
    results.append(
        Result(
            benchmark="view refresh after a delete, registry of 10,000",
            figure_s=refresh,
            baseline_s=rows,
            baseline="open + SELECT the same rows",
            target="< 1 s",
            met=refresh < 1.0,
        )
    )
    report(args, results, "certkit.authz decisions")


if __name__ == "__main__":
    main()
