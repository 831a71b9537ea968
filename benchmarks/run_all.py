"""Run every benchmark (``bench_*.py``), each in its own process, then one combined table.

Run: .venv/bin/python benchmarks/run_all.py [--quick] [NAME ...]
NAME picks benchmarks by part of their file name (``run_all.py list generate``). Each
benchmark prints its own table, with notes, as it finishes; the summary comes last.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import PYTHON, Result, load_average, print_table

HERE = Path(__file__).resolve().parent
FIRST = [  # the benchmarks of issue 2, in its order; any other bench_*.py follows
    "bench_upload_each.py",
    "bench_list_page.py",
    "bench_generate.py",
    "bench_show_start.py",
]


def benchmarks(wanted: list[str]) -> list[str]:
    found = sorted(p.name for p in HERE.glob("bench_*.py"))
    ordered = [n for n in FIRST if n in found] + [n for n in found if n not in FIRST]
    return [n for n in ordered if not wanted or any(w in n for w in wanted)]


def main() -> int:
    extra = [a for a in sys.argv[1:] if a in ("--quick",)]
    wanted = [a for a in sys.argv[1:] if not a.startswith("-")]
    results: list[Result] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="certkit-bench-") as tmp:
        for name in benchmarks(wanted):
            out = Path(tmp) / f"{name}.json"
            print(f"\n=== {name}", flush=True)
            done = subprocess.run([PYTHON, str(HERE / name), "--json", str(out), *extra])
            if done.returncode != 0 or not out.exists():
                failed.append(name)
                continue
            results.extend(Result(**item) for item in json.loads(out.read_text()))
    for r in results:
        r.note = ""  # the notes were printed with each benchmark's own table
    print_table(results, title="=== summary")
    if failed:
        print(f"failed: {', '.join(failed)}")
    print(f"({load_average()} at the end)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
