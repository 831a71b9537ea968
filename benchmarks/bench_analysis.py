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
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import (
    Result,
    arguments,
    count_entries,
    fake_der,
    fake_entry,
    fill_registry,
    fmt_time,
    initialised_home,
    median_time,
    print_profile,
    report,
    spread,
)

COUNT = 1_000_000
CHUNK = 100_000
TARGET_S = 2.0
DATABASES = [f"db{i}" for i in range(40)] + ["HR", "Sales", "Orders", "Billing"]


def fill(kit: Any, count: int = COUNT, seed: int = 11) -> float:
    """Insert ``count`` fake entries in chunks through Store.insert_entries; seconds taken."""
    rng = random.Random(seed)
    now = kit.now().replace(microsecond=0)
    der = fake_der(rng)
    shared_keys = [rng.randbytes(32).hex() for _ in range(count // 2000)]

    def make(i: int) -> Any:
        key = rng.choice(shared_keys) if rng.random() < 0.001 else rng.randbytes(32).hex()
        return fake_entry(
            rng,
            f"user-{i:07d}",
            now,
            der=der,
            max_age_days=4 * 365,
            databases=DATABASES,
            max_databases=3,
            spki_sha256=key,
        )

    start = time.perf_counter()
    fill_registry(kit, count, make, chunk=CHUNK, progress=True)
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

    from certkit import analysis
    from certkit.ops import open_certkit
    from certkit.registry import analysis_queries as queries

    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    with initialised_home("analysis-", clock=lambda: now) as (home, kit):
        filled = fill(kit)
        path = str(kit.registry.path)
        expiry = analysis.expiry_report(kit)  # warm: OS file cache, imports
        assert expiry.totals["certificates"] == COUNT, expiry.totals

        assert count_entries(path) == COUNT

        full, full_times = median_time(lambda: analysis.expiry_report(kit), repeat, warmup=1)
        counting, count_times = median_time(lambda: count_entries(path), repeat, warmup=1)
        fresh, fresh_times = median_time(
            lambda: analysis.expiry_report(open_certkit(home, clock=lambda: now)), repeat
        )
        plots, plot_times = median_time(
            lambda: (analysis.timeline_png(expiry), analysis.breakdown_png(expiry)),
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
            print_profile(lambda: analysis.expiry_report(kit))

    target = f"< {TARGET_S:.0f} s"
    results = [
        Result(
            "full expiry analysis of 1M certificates",
            full,
            counting,
            "connect+count(*)+close",
            target,
            full < TARGET_S,
            f"{expiry.totals['expiring']:,} expiring, {expiry.totals['expired']:,} expired, "
            f"{expiry.totals['shared_key_groups']:,} shared keys; {spread(full_times)}; "
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
    return report(
        args, results, f"analysis: {COUNT:,} entries, filled in {filled:.1f} s ({fmt_time(filled)})"
    )


if __name__ == "__main__":
    main()
