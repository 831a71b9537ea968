"""A filtered, sorted page of 50 from a 100,000-certificate registry.

Figure: ``Certkit.list_certificates`` end to end (opens the registry, runs the page and
count queries, builds the records, closes): clearance User + database filter + search,
sorted by expiration; median of 20. Target: under 50 ms.
Baselines in the same run, on the same file: a fresh DuckDB connection running
``SELECT count(*) FROM entries`` (connect + query + close), and the bare connect + close.

The registry is filled through ``Store.insert_entries`` with fake but well-formed rows
(40-hex thumbprints, RFC 4514 names, real-sized DER), not with 100,000 signed certificates.

Run: .venv/bin/python benchmarks/bench_list_page.py [--quick] [--profile]
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from _common import (
    Result,
    arguments,
    count_entries,
    fake_der,
    fake_entry,
    fill_registry,
    initialised_home,
    interleaved,
    median_time,
    print_profile,
    report,
    spread,
)

COUNT = 100_000
BATCH = 10_000
TARGET_S = 0.050
DATABASES = [f"db{i}" for i in range(20)] + ["HR", "Sales", "Orders", "Billing"]
WORDS = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
]


def fill(kit: object, count: int = COUNT, seed: int = 7) -> float:
    """Insert ``count`` fake entries through Store.insert_entries; returns the seconds taken."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    der = fake_der(rng)
    return fill_registry(
        kit,
        count,
        lambda i: fake_entry(
            rng,
            f"{rng.choice(WORDS)}-{i:06d}",
            now,
            der=der,
            max_age_days=5 * 365,
            databases=DATABASES,
            max_databases=4,
        ),
        chunk=BATCH,
    )


def page_query(kit: Any) -> Any:
    """The page both list benchmarks time: User + ``db7`` + ``alice``, by expiration, 50."""
    from certkit.model import ListQuery, SortKey

    return ListQuery(
        search="alice",
        clearance="User",
        database="db7",
        sort=SortKey.EXPIRATION,
        limit=50,
        threshold=kit.expiring_threshold,
    )


def time_page(
    kit: Any,
    query: Any,
    repeat: int,
    *,
    count: Callable[[], object],
    connect: Callable[[], object],
    fresh: Callable[[], object],
) -> dict[str, tuple[float, list[float]]]:
    """In turns: the page (``list``), the baselines ``count`` and ``connect``, the page on a
    ``fresh`` open and the ``unfiltered`` page by name; then the queries alone in one open
    transaction (``queries``): what the page costs beyond connecting. Medians and times."""
    from certkit.model import ListQuery

    unfiltered = ListQuery(limit=50, threshold=kit.expiring_threshold)
    timed = interleaved(
        {
            "list": lambda: kit.list_certificates(query),
            "count": count,
            "connect": connect,
            "fresh": fresh,
            "unfiltered": lambda: kit.list_certificates(unfiltered),
        },
        repeat,
        warmup=2,
    )
    with kit.registry.read() as tx:
        timed["queries"] = median_time(lambda: tx.list_entries(query, kit.now()), repeat, warmup=2)
    return timed


def main() -> list[Result]:
    args = arguments(__doc__.splitlines()[0])
    repeat = 10 if args.quick else 20

    import duckdb

    from certkit.ops import open_certkit

    with initialised_home("list-") as (home, kit):
        filled = fill(kit)
        path = str(kit.registry.path)
        query = page_query(kit)
        page = kit.list_certificates(query)  # warm: OS file cache, imports
        assert len(page.records) == 50, page.total

        def connect_only() -> None:
            duckdb.connect(path).close()

        assert count_entries(path) >= COUNT

        def fresh_list() -> None:
            open_certkit(home).list_certificates(query)

        timed = time_page(
            kit,
            query,
            repeat,
            count=lambda: count_entries(path),
            connect=connect_only,
            fresh=fresh_list,
        )
        listing, list_times = timed["list"]
        counting, count_times = timed["count"]
        connect, connect_times = timed["connect"]
        fresh, fresh_times = timed["fresh"]
        unfiltered, _ = timed["unfiltered"]
        query_only, query_times = timed["queries"]

        if args.profile:
            print_profile(lambda: [kit.list_certificates(query) for _ in range(10)])

    target = f"< {TARGET_S * 1000:.0f} ms"
    results = [
        Result(
            "list page of 50 of 100k (filtered, sorted)",
            listing,
            counting,
            "connect+count(*)+close",
            target,
            listing < TARGET_S,
            f"{page.total:,} matches; {spread(list_times)}; count(*) {spread(count_times)}",
        ),
        Result(
            "  same, fresh open_certkit each time",
            fresh,
            counting,
            "connect+count(*)+close",
            target,
            fresh < TARGET_S,
            f"{spread(fresh_times)}; the first operation of a Certkit also checks the home",
        ),
        Result(
            "  same queries on an open connection",
            query_only,
            connect,
            "bare connect+close",
            "-",
            None,
            spread(query_times),
        ),
        Result(
            "  unfiltered page of 50, sort by name",
            unfiltered,
            counting,
            "connect+count(*)+close",
            target,
            unfiltered < TARGET_S,
        ),
        Result(
            "  baseline: bare connect+close", connect, None, "-", "-", None, spread(connect_times)
        ),
    ]
    return report(args, results, f"list: {COUNT:,} entries, filled in {filled:.1f} s")


if __name__ == "__main__":
    main()
