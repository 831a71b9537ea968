"""Shared helpers for the benchmarks: timing, temporary homes, the result table.

Every benchmark prints its figure beside a baseline measured in the same run and the
target, as one small table. Nothing here asserts on time: the figures are for people.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_TMP = Path(tempfile.gettempdir()) / "certkit-bench"
PYTHON = sys.executable
CERTKIT = [PYTHON, "-m", "certkit"]  # the same interpreter and venv as this script
_CERTKIT_SCRIPT = Path(PYTHON).parent / "certkit"
if _CERTKIT_SCRIPT.exists():  # the installed console script, as a user runs it
    CERTKIT = [str(_CERTKIT_SCRIPT)]

if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


@dataclass
class Result:
    """One line of a benchmark table."""

    benchmark: str
    figure_s: float  # seconds
    baseline_s: float | None  # seconds
    baseline: str  # what the baseline is
    target: str  # the target as text
    met: bool | None  # None: no target for this line
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline_s:
            return None
        return self.figure_s / self.baseline_s


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds < 0.001:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1000:.1f} ms"


def print_table(results: Sequence[Result], *, title: str = "") -> None:
    header = ("benchmark", "figure", "baseline", "ratio", "target", "met")
    rows = [
        (
            r.benchmark,
            fmt_time(r.figure_s),
            f"{fmt_time(r.baseline_s)} ({r.baseline})" if r.baseline_s is not None else "-",
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
            r.target,
            "-" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in results
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    if title:
        print(f"\n{title} ({load_average()})")
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    for r in results:
        if r.note:
            print(f"  note ({r.benchmark}): {r.note}")
    sys.stdout.flush()


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON here")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the in-process figure"
    )
    return parser.parse_args()


def write_json(path: str | None, results: Sequence[Result]) -> None:
    if path:
        Path(path).write_text(json.dumps([asdict(r) for r in results], indent=2))


def report(args: argparse.Namespace, results: list[Result], title: str) -> list[Result]:
    """Print the table, write the JSON that ``--json`` asks for; returns ``results``."""
    print_table(results, title=title)
    write_json(args.json, results)
    return results


def print_profile(fn: Callable[[], object], *, lines: int = 25, tottime: int = 0) -> None:
    """A cProfile of one call of ``fn``: the top ``lines`` by cumulative time (and the top
    ``tottime`` by own time)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(lines)
    if tottime:
        stats.sort_stats("tottime").print_stats(tottime)


def median_time(
    fn: Callable[[], object],
    repeat: int,
    *,
    setup: Callable[[], object] | None = None,
    warmup: int = 0,
) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``repeat`` runs (``setup`` runs untimed before each)."""
    for _ in range(warmup):
        if setup:
            setup()
        fn()
    times: list[float] = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def interleaved(
    fns: dict[str, Callable[[], object]], repeat: int, *, warmup: int = 1
) -> dict[str, tuple[float, list[float]]]:
    """Median wall time of each function, run in turns (A, B, C, A, B, C, ...).

    Taking turns spreads any load from other processes over the figure and its baseline
    alike, so their ratio holds even when the absolute times drift.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), t) for name, t in times.items()}


def spread(times: Sequence[float]) -> str:
    return f"min {fmt_time(min(times))}, max {fmt_time(max(times))}, n={len(times)}"


@contextmanager
def temp_home(prefix: str = "home-") -> Iterator[Path]:
    """A fresh certkit home under /tmp (never ~/.certkit), removed afterwards."""
    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=BENCH_TMP))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def initialised_home(
    prefix: str = "home-", *, clock: Callable[[], datetime] | None = None
) -> Iterator[tuple[Path, Any]]:
    """A fresh home (:func:`temp_home`) and its initialised Certkit (CA, server certificate)."""
    from certkit.ops import open_certkit

    with temp_home(prefix) as home:
        kit = open_certkit(home, clock=clock) if clock else open_certkit(home)
        kit.initialise()
        yield home, kit


def count_entries(path: str) -> int:
    """``SELECT count(*) FROM entries`` on a fresh DuckDB connection (connect, query, close):
    the baseline of the registry benchmarks."""
    import duckdb

    con = duckdb.connect(path)
    try:
        row = con.execute("SELECT count(*) FROM entries").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


# ---- fake registries: well-formed rows through Store.insert_entries, no signing ----------


def fake_der(rng: random.Random) -> bytes:
    """A DER-sized blob (500 bytes) that the registry stores as a certificate."""
    return bytes([0x30, 0x82, 0x01, 0xF0]) + rng.randbytes(0x1F0)


def fake_entry(
    rng: random.Random,
    name: str,
    now: datetime,
    *,
    der: bytes,
    max_age_days: int,
    databases: Sequence[str],
    max_databases: int,
    spki_sha256: str | None = None,
) -> Any:
    """A client entry (``NewEntry``) of one certificate: issued up to ``max_age_days`` ago,
    valid 90 days to 5 years; 70% users, 20% operators, 10% admins; 0 to ``max_databases``
    permissions; 10% with two-factor. 40-hex thumbprint, subject ``CN=<name>``."""
    from certkit.model import Access, CertKind, Clearance
    from certkit.registry import NewCertificate, NewEntry

    age = timedelta(days=rng.randint(0, max_age_days), seconds=rng.randint(0, 86399))
    not_before = now - age
    not_after = not_before + timedelta(days=rng.choice([90, 365, 730, 1825]))
    cert = NewCertificate(
        thumbprint=rng.randbytes(20).hex().upper(),
        sha256=rng.randbytes(32).hex().upper(),
        subject=f"CN={name},O=Example Corp",
        issuer="CN=certkit client CA,O=certkit",
        serial=rng.randbytes(16).hex().upper(),
        not_before=not_before,
        not_after=not_after,
        der=der,
        spki_sha256=spki_sha256 or rng.randbytes(32).hex(),
    )
    accesses = list(Access)
    permissions = {
        db: rng.choice(accesses) for db in rng.sample(databases, rng.randint(0, max_databases))
    }
    clearances = [Clearance.VALID_USER] * 7 + [Clearance.OPERATOR] * 2 + [Clearance.CLUSTER_ADMIN]
    return NewEntry(
        name=name,
        kind=CertKind.CLIENT,
        clearance=rng.choice(clearances),
        permissions=permissions,
        two_factor=rng.random() < 0.1,
        certificates=[cert],
        created_at=not_before,
        created_by="benchmark",
    )


def fill_registry(
    kit: Any, count: int, make: Callable[[int], Any], *, chunk: int, progress: bool = False
) -> float:
    """Insert entries ``make(0)`` to ``make(count - 1)`` through ``Store.insert_entries``,
    ``chunk`` per transaction; returns the seconds taken."""
    start = time.perf_counter()
    for first in range(0, count, chunk):
        entries = [make(i) for i in range(first, min(first + chunk, count))]
        with kit.registry.transaction() as tx:
            tx.insert_entries(entries)
        if progress:
            print(f"  filled {first + len(entries):,} of {count:,}", file=sys.stderr, flush=True)
    return time.perf_counter() - start


PYCACHE = BENCH_TMP / "pycache"


def bench_env(home: Path | None = None, *, bytecode: bool = True, **extra: str) -> dict[str, str]:
    """Environment for a process of the benchmark; ~/.certkit is never touched.

    ``bytecode``: let Python cache compiled modules (under /tmp/certkit-bench/pycache), as
    an installed package has them. This sandbox sets PYTHONDONTWRITEBYTECODE=1, which makes
    every process compile certkit's sources again; ``bytecode=False`` keeps that setting.
    """
    env = dict(os.environ)
    if home is not None:
        env["CERTKIT_HOME"] = str(home)
    env.pop("CERTKIT_DATABASE_URL", None)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra)
    return env


def load_average() -> str:
    """The 1-minute load average and CPU count: benchmarks on a busy machine read high."""
    try:
        one = os.getloadavg()[0]
    except OSError:
        return "load unknown"
    return f"load {one:.2f} on {os.cpu_count()} CPUs"


def run_process(
    cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> float:
    """Wall time of one process; raises with its stderr if it fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode(errors='replace')}"
        )
    return elapsed


def median_process(
    cmd: Sequence[str],
    repeat: int,
    env: dict[str, str] | None = None,
    *,
    warmup: int = 1,
    before: Callable[[int], object] | None = None,
) -> tuple[float, list[float]]:
    """Median wall time of a whole process (``before(i)`` runs untimed before run i)."""
    for i in range(warmup):
        if before:
            before(-1 - i)
        run_process(cmd, env)
    times = []
    for i in range(repeat):
        if before:
            before(i)
        times.append(run_process(cmd, env))
    return statistics.median(times), times
