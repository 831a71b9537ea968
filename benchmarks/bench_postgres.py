"""The PostgreSQL registry (issue 6): concurrent writers, and a filtered page of 1,000,000.

Figure 1: writes per second from 8 writer processes at once on a PostgreSQL registry,
beside the same 8 processes doing the same writes on the DuckDB file, in turns in the same
run; one process of each as context. No target: the figure is the ratio. The table gives
the time per write (wall time over writes), the names and notes writes/s. A write is one
``Certkit.edit(thumbprint, set_permissions={"db7": ...})`` (a read transaction finds the
entry, a write transaction changes its settings and adds the audit row), no cryptography.
Each process opens its own ``Certkit``, warms up with one edit (imports, first connection,
schema check), waits for the others, then edits its own share of the entries of a
10,000-entry registry, one after another, as fast as it can. Writes/s: every write of the
round over the wall time from the common start to the last process done.

Figure 2: ``Certkit.list_certificates`` end to end on a PostgreSQL registry of 1,000,000
entries: the query of ``bench_list_page.py`` (clearance User + database ``db7`` + search
``alice``, sorted by expiration, page of 50); median of 20. Target: under 50 ms.
Baselines in the same run, on the same schema: a fresh psycopg connection running
``SELECT count(*) FROM entries`` (connect + query + close), and the bare connect + close.

The server is Debian's PostgreSQL from ``tests/postgres.py`` in a temporary directory on
127.0.0.1 with fsync on (``durable=True``, as the DuckDB file is synced), otherwise its
default settings (``shared_buffers`` 128 MB); each figure has a schema of its own. Entries
go in through ``Store.insert_entries`` (``COPY`` on PostgreSQL) with ``fill()`` of
``bench_list_page.py``; after the bulk load, ``VACUUM ANALYZE``, which autovacuum runs by
itself shortly after one.

Run: .venv/bin/python benchmarks/bench_postgres.py [--quick] [--profile]
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import (  # first: puts the checkout on sys.path
    Result,
    arguments,
    initialised_home,
    print_profile,
    report,
    spread,
    temp_home,
)
from bench_list_page import fill, page_query, time_page

LIST_COUNT = 1_000_000
WRITE_COUNT = 10_000  # entries of the registry that the writers edit
WRITERS = 8
TARGET_S = 0.050


# ---- figure 1: concurrent writers --------------------------------------------------------


def _writer(home: str, url: str | None, thumbprints: list[str], go: Any, results: Any) -> None:
    """One writer process: warm up, say so, wait for the start, edit each entry once."""
    try:
        from certkit.errors import RegistryBusy
        from certkit.model import Access
        from certkit.ops import open_certkit

        kit = open_certkit(home, database_url=url)
        kit.edit(thumbprints[0], set_permissions={"db7": Access.READ})  # warm
        results.put(("ready", "", 0, 0))
        go.wait()
        busy = 0
        for i, thumbprint in enumerate(thumbprints):
            access = Access.READ_WRITE if i % 2 == 0 else Access.READ
            try:
                kit.edit(thumbprint, set_permissions={"db7": access})
            except RegistryBusy:
                busy += 1
        results.put(("done", "", len(thumbprints) - busy, busy))
    except BaseException as error:  # reported by the parent, which then fails the benchmark
        results.put(("error", f"{type(error).__name__}: {error}", 0, 0))
        raise


def write_round(home: Path, url: str | None, shares: list[list[str]]) -> tuple[float, int, int]:
    """One round: ``len(shares)`` writer processes at once; (seconds, writes, busy errors)."""
    context = multiprocessing.get_context("spawn")  # fresh processes, as separate commands
    go = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=_writer, args=(str(home), url, share, go, results), daemon=True)
        for share in shares
    ]
    for process in processes:
        process.start()

    def collect(status: str) -> list[tuple[str, str, int, int]]:
        outcomes: list[tuple[str, str, int, int]] = []
        while len(outcomes) < len(processes):
            try:
                outcome = results.get(timeout=0.5)
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in processes):
                    raise RuntimeError("a writer process died") from None
                continue
            if outcome[0] != status:
                raise RuntimeError(f"a writer failed: {outcome[1]}")
            outcomes.append(outcome)
        return outcomes

    try:
        collect("ready")
        go.set()
        start = time.perf_counter()
        outcomes = collect("done")
        elapsed = time.perf_counter() - start
    finally:
        go.set()
        for process in processes:
            process.join(timeout=60)
    return elapsed, sum(o[2] for o in outcomes), sum(o[3] for o in outcomes)


def primary_thumbprints(kit: Any) -> list[str]:
    with kit.registry.read() as tx:
        rows = tx._con.execute(
            "SELECT primary_thumbprint FROM entries WHERE kind = 'client' ORDER BY id"
        ).fetchall()
    return [str(r[0]) for r in rows]


def measure_writes(
    duck_home: Path, pg_home: Path, pg_url: str, rounds: int, per_process: int
) -> dict[str, list[tuple[float, int, int]]]:
    """Rounds of (DuckDB x8, PostgreSQL x8, DuckDB x1, PostgreSQL x1), in turns."""
    from certkit.ops import open_certkit

    duck = primary_thumbprints(open_certkit(duck_home))
    pg = primary_thumbprints(open_certkit(pg_home, database_url=pg_url))
    runs: dict[str, list[tuple[float, int, int]]] = {}
    for _ in range(rounds):
        for name, home, url, thumbprints, count in (
            ("duck8", duck_home, None, duck, WRITERS),
            ("pg8", pg_home, pg_url, pg, WRITERS),
            ("duck1", duck_home, None, duck, 1),
            ("pg1", pg_home, pg_url, pg, 1),
        ):
            shares = [thumbprints[k::count][:per_process] for k in range(count)]
            runs.setdefault(name, []).append(write_round(home, url, shares))
    return runs


def rate(runs: list[tuple[float, int, int]]) -> tuple[float, str]:
    """Median writes/s of the rounds, and a note on them."""
    rates = [writes / seconds for seconds, writes, _ in runs]
    busy = sum(b for _, _, b in runs)
    note = f"{min(rates):,.0f}-{max(rates):,.0f} writes/s over {len(rates)} rounds"
    if busy:
        note += f"; {busy} writes refused as busy (not counted)"
    return statistics.median(rates), note


# ---- figure 2: a page of 1,000,000 -------------------------------------------------------


def pg_count(url: str) -> int:
    """``SELECT count(*) FROM entries`` on a fresh psycopg connection (connect, query,
    close): the baseline of the page."""
    import psycopg

    with psycopg.connect(url) as con:
        row = con.execute("SELECT count(*) FROM entries").fetchone()
        return int(row[0]) if row else 0


def close_pool(kit: Any) -> None:
    """Close the pooled connections of a Certkit on PostgreSQL (``PostgresRegistry.close``)."""
    kit.registry.close()


def pg_execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        for statement in statements:
            con.execute(statement)


def measure_list(home: Path, url: str, repeat: int, profile: bool) -> list[Result]:
    import psycopg

    from certkit.ops import open_certkit

    kit = open_certkit(home, database_url=url)
    kit.initialise()
    print(f"  filling {LIST_COUNT:,} entries ...", file=sys.stderr, flush=True)
    filled = fill(kit, LIST_COUNT)
    start = time.perf_counter()
    pg_execute(url, "VACUUM ANALYZE")  # what autovacuum does soon after a bulk load
    vacuumed = time.perf_counter() - start
    query = page_query(kit)
    page = kit.list_certificates(query)  # warm: caches, imports, the pooled connection
    assert len(page.records) == 50, page.total
    assert pg_count(url) == LIST_COUNT

    def connect_only() -> None:
        psycopg.connect(url).close()

    def fresh_list() -> None:
        fresh = open_certkit(home, database_url=url)
        fresh.list_certificates(query)
        close_pool(fresh)

    timed = time_page(
        kit, query, repeat, count=lambda: pg_count(url), connect=connect_only, fresh=fresh_list
    )
    listing, list_times = timed["list"]
    counting, count_times = timed["count"]
    connect, connect_times = timed["connect"]
    fresh, fresh_times = timed["fresh"]
    unfiltered, unfiltered_times = timed["unfiltered"]
    query_only, query_times = timed["queries"]
    if profile:
        print_profile(lambda: [kit.list_certificates(query) for _ in range(10)])
    close_pool(kit)

    target = f"< {TARGET_S * 1000:.0f} ms"
    baseline = "connect+count(*)+close"
    return [
        Result(
            "PG: list page of 50 of 1M (filtered, sorted)",
            listing,
            counting,
            baseline,
            target,
            listing < TARGET_S,
            f"{page.total:,} matches; {spread(list_times)}; count(*) {spread(count_times)}; "
            f"filled in {filled:.1f} s, VACUUM ANALYZE {vacuumed:.1f} s",
        ),
        Result(
            "  PG: same, fresh open_certkit each time",
            fresh,
            counting,
            baseline,
            target,
            fresh < TARGET_S,
            f"{spread(fresh_times)}; a new connection, the schema check and the home check",
        ),
        Result(
            "  PG: same queries in an open transaction",
            query_only,
            connect,
            "bare connect+close",
            "-",
            None,
            spread(query_times),
        ),
        Result(
            "  PG: unfiltered page of 50 of 1M, by name",
            unfiltered,
            counting,
            baseline,
            "-",
            None,
            f"{spread(unfiltered_times)}; its counts per group and state read every entry",
        ),
        Result(
            "  PG baseline: bare connect+close",
            connect,
            None,
            "-",
            "-",
            None,
            spread(connect_times),
        ),
    ]


def main() -> list[Result]:
    args = arguments(__doc__.splitlines()[0])
    repeat = 10 if args.quick else 20
    rounds = 1 if args.quick else 3
    per_process = 15 if args.quick else 50
    os.environ.pop("CERTKIT_DATABASE_URL", None)  # the DuckDB side is the home's own file

    from certkit.ops import open_certkit
    from tests.postgres import PostgresServer

    server = PostgresServer(durable=True).start()
    try:
        with (
            initialised_home("pg-writes-duck-") as (duck_home, duck_kit),
            temp_home("pg-writes-") as pg_home,
            temp_home("pg-list-") as list_home,
        ):
            writes_url = server.new_schema_url()
            pg_kit = open_certkit(pg_home, database_url=writes_url)
            pg_kit.initialise()
            fill(duck_kit, WRITE_COUNT)
            fill(pg_kit, WRITE_COUNT)
            pg_execute(writes_url, "VACUUM ANALYZE")
            close_pool(pg_kit)
            runs = measure_writes(duck_home, pg_home, writes_url, rounds, per_process)
            listed = measure_list(list_home, server.new_schema_url(), repeat, args.profile)
    finally:
        server.stop()

    pg8, pg8_note = rate(runs["pg8"])
    duck8, duck8_note = rate(runs["duck8"])
    pg1, pg1_note = rate(runs["pg1"])
    duck1, duck1_note = rate(runs["duck1"])
    results = [
        Result(
            f"PG: edits by {WRITERS} processes at once, {pg8:,.0f}/s",
            1 / pg8,
            1 / duck8,
            f"DuckDB file, {WRITERS} processes: {duck8:,.0f}/s",
            "-",
            None,
            f"{pg8:,.0f} writes/s on PostgreSQL, {duck8:,.0f} on DuckDB: "
            f"{pg8 / duck8:.1f}x DuckDB's rate; PG {pg8_note}; DuckDB {duck8_note}; "
            f"{per_process} writes per process",
        ),
        Result(
            f"  PG: edits by 1 process, {pg1:,.0f}/s",
            1 / pg1,
            1 / duck1,
            f"DuckDB file, 1 process: {duck1:,.0f}/s",
            "-",
            None,
            f"{pg1:,.0f} writes/s on PostgreSQL, {duck1:,.0f} on DuckDB: "
            f"{pg1 / duck1:.1f}x DuckDB's rate; PG {pg1_note}; DuckDB {duck1_note}",
        ),
        *listed,
    ]
    title = f"PostgreSQL registry: {WRITERS} writers on {WRITE_COUNT:,}; a page of {LIST_COUNT:,}"
    return report(args, results, title)


if __name__ == "__main__":
    main()
