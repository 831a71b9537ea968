"""The full expiry and usage analysis of a 1,000,000-certificate registry.

Figure: ``certkit.analysis.expiry_report`` end to end (opens the registry, checks the key
hashes, reads the server and CA certificates, runs every aggregate and list query in DuckDB,
builds the DataFrames, closes); median of 5. Target: under 2 s.
Baseline in the same run, on the same file: a fresh DuckDB connection running
``SELECT count(*) FROM entries`` (connect + query + close). Also shown: each query alone on
one open connection, and drawing the two PNG plots (what the Expiry page adds).

The registry is filled through ``Store.insert_entries`` in chunks of 100,000 fake but
well-formed rows (40-hex thumbprints, real-sized DER, key hashes of which 0.1% are shared,
three quarters used at some point), not with a million signed certificates.

Run: .venv/bin/python benchmarks/bench_analysis.py [--quick] [--profile]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Result,
    arguments,
    fmt_time,
    median_time,
    print_table,
    spread,
    temp_home,
    write_json,
)

COUNT = 1_000_000
CHUNK = 100_000
TARGET_S = 2.0
DATABASES = [f"db{i}" for i in range(40)] + ["HR", "Sales", "Orders", "Billing"]


def fill(kit: Any, count: int = COUNT, seed: int = 11) -> float:
    """Insert ``count`` fake entries in chunks through Store.insert_entries; seconds taken."""
    from certkit.model import Access, CertKind, Clearance
    from certkit.registry import NewCertificate, NewEntry

    rng = random.Random(seed)
    now = kit.now().replace(microsecond=0)
    der = bytes([0x30, 0x82, 0x01, 0xF0]) + rng.randbytes(0x1F0)
    clearances = [Clearance.VALID_USER] * 7 + [Clearance.OPERATOR] * 2 + [Clearance.CLUSTER_ADMIN]
    accesses = list(Access)
    shared_keys = [rng.randbytes(32).hex() for _ in range(count // 2000)]
    start = time.perf_counter()
    for first in range(0, count, CHUNK):
        entries = []
        for i in range(first, min(first + CHUNK, count)):
            age = timedelta(days=rng.randint(0, 4 * 365), seconds=rng.randint(0, 86399))
            not_before = now - age
            not_after = not_before + timedelta(days=rng.choice([90, 365, 730, 1825]))
            key = rng.choice(shared_keys) if rng.random() < 0.001 else rng.randbytes(32).hex()
            cert = NewCertificate(
                thumbprint=rng.randbytes(20).hex().upper(),
                sha256=rng.randbytes(32).hex().upper(),
                subject=f"CN=user-{i:07d},O=Example Corp",
                issuer="CN=certkit client CA,O=certkit",
                serial=rng.randbytes(16).hex().upper(),
                not_before=not_before,
                not_after=not_after,
                der=der,
                spki_sha256=key,
            )
            permissions = {
                db: rng.choice(accesses) for db in rng.sample(DATABASES, rng.randint(0, 3))
            }
            entries.append(
                NewEntry(
                    name=f"user-{i:07d}",
                    kind=CertKind.CLIENT,
                    clearance=rng.choice(clearances),
                    permissions=permissions,
                    two_factor=rng.random() < 0.1,
                    certificates=[cert],
                    created_at=not_before,
                    created_by="benchmark",
                )
            )
        with kit.registry.transaction() as tx:
            tx.insert_entries(entries)
        print(f"  filled {first + len(entries):,} of {count:,}", file=sys.stderr, flush=True)
    # three quarters were used at some point between registration and now (or expiry)
    with kit.registry.transaction() as tx:
        tx._con.execute(
            "UPDATE entries SET last_used = not_before + (least(not_after, ?::TIMESTAMP) "
            "- not_before) * (hash(id) % 1000 / 1000.0) WHERE hash(id) % 4 <> 0",
            [now.astimezone(UTC).replace(tzinfo=None)],
        )
    return time.perf_counter() - start


def main() -> list[Result]:
    args = arguments(__doc__.splitlines()[0])
    repeat = 3 if args.quick else 5

    import duckdb

    from certkit import analysis
    from certkit.ops import open_certkit
    from certkit.registry import analysis_queries as queries

    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    with temp_home("analysis-") as home:
        kit = open_certkit(home, clock=lambda: now)
        kit.initialise()
        filled = fill(kit)
        path = str(kit.registry.path)
        report = analysis.expiry_report(kit)  # warm: OS file cache, imports
        assert report.totals["certificates"] == COUNT, report.totals

        def count_star() -> None:
            con = duckdb.connect(path)
            try:
                assert con.execute("SELECT count(*) FROM entries").fetchone()[0] == COUNT
            finally:
                con.close()

        full, full_times = median_time(lambda: analysis.expiry_report(kit), repeat, warmup=1)
        counting, count_times = median_time(count_star, repeat, warmup=1)
        fresh, fresh_times = median_time(
            lambda: analysis.expiry_report(open_certkit(home, clock=lambda: now)), repeat
        )
        plots, plot_times = median_time(
            lambda: (analysis.timeline_png(report), analysis.breakdown_png(report)),
            repeat,
            warmup=1,
        )

        settings = analysis.AnalysisSettings()
        window = queries.Window(
            now=now,
            expiring=settings.expiring,
            unused=settings.unused,
            horizon=now + timedelta(days=731),
        )
        steps: dict[str, Any] = {
            "counts by clearance and state": lambda tx: queries.counts_by_clearance(tx, window),
            "counts by database": lambda tx: queries.counts_by_database(tx, window),
            "per week": lambda tx: queries.expirations(tx, window, "week"),
            "per month": lambda tx: queries.expirations(tx, window, "month"),
            "lists (4 x 500 rows)": lambda tx: [
                f(tx, window, limit=500)
                for f in (queries.expiring, queries.expired, queries.never_used, queries.unused)
            ],
            "shared keys": lambda tx: queries.shared_keys(tx, limit=500),
        }
        each: dict[str, float] = {}
        with kit.registry.read() as tx:
            for name, step in steps.items():
                each[name], _ = median_time(lambda step=step: step(tx), repeat, warmup=1)

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            analysis.expiry_report(kit)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    target = f"< {TARGET_S:.0f} s"
    results = [
        Result(
            "full expiry analysis of 1M certificates",
            full,
            counting,
            "connect+count(*)+close",
            target,
            full < TARGET_S,
            f"{report.totals['expiring']:,} expiring, {report.totals['expired']:,} expired, "
            f"{report.totals['shared_key_groups']:,} shared keys; {spread(full_times)}; "
            f"count(*) {spread(count_times)}",
        ),
        Result(
            "  same, fresh open_certkit each time",
            fresh,
            counting,
            "connect+count(*)+close",
            target,
            fresh < TARGET_S,
            spread(fresh_times),
        ),
        *(
            Result(f"  query: {name}", seconds, None, "-", "-", None)
            for name, seconds in each.items()
        ),
        Result("  drawing the two plots (PNG)", plots, None, "-", "-", None, spread(plot_times)),
    ]
    print_table(
        results, title=f"analysis: {COUNT:,} entries, filled in {filled:.1f} s ({fmt_time(filled)})"
    )
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
