"""``certkit show THUMBPRINT``: the whole process, start to exit.

Figure: median of 15 runs of ``certkit show THUMBPRINT`` on an initialised home with one
generated certificate. Target: under 0.4 s. Baselines in the same run: ``python -c pass``
and ``python -c "import duckdb"`` (the interpreter, and the one import ``show`` cannot avoid).

Python may cache compiled modules as an installed package does (under
/tmp/certkit-bench/pycache). This sandbox sets PYTHONDONTWRITEBYTECODE=1, which makes every
process compile certkit's own sources again; a second line measures that too.

Run: .venv/bin/python benchmarks/bench_show_start.py [--quick] [--profile]
"""

from __future__ import annotations

import subprocess

from _common import (
    CERTKIT,
    PYTHON,
    Result,
    arguments,
    bench_env,
    initialised_home,
    interleaved,
    report,
    run_process,
    spread,
)

TARGET_S = 0.4


def main() -> list[Result]:
    args = arguments(__doc__.splitlines()[0])
    repeat = 7 if args.quick else 15

    with initialised_home("show-") as (home, kit):
        thumbprint = kit.generate_client_certificate("show-me", passphrase="x").record.thumbprint
        del kit

        env = bench_env(home)
        show = [*CERTKIT, "show", thumbprint]
        raw_env = bench_env(home, bytecode=False)
        timed = interleaved(
            {
                "show": lambda: run_process(show, env),
                "pass": lambda: run_process([PYTHON, "-c", "pass"], env),
                "duckdb": lambda: run_process([PYTHON, "-c", "import duckdb"], env),
                "raw": lambda: run_process(show, raw_env),
                "json": lambda: run_process([*show, "--json"], env),
            },
            repeat,
            warmup=2,
        )
        figure, times = timed["show"]
        pass_s, pass_times = timed["pass"]
        duck_s, duck_times = timed["duckdb"]
        raw, raw_times = timed["raw"]
        json_s, json_times = timed["json"]

        if args.profile:
            done = subprocess.run(
                [PYTHON, "-X", "importtime", "-m", "certkit", "show", thumbprint],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            rows = []
            for line in done.stderr.splitlines():
                parts = line.split("|")
                if len(parts) == 3 and parts[1].strip().isdigit():
                    rows.append((int(parts[1]), parts[2].rstrip()))
            print("slowest imports (cumulative us, module):")
            for cumulative, module in sorted(rows, reverse=True)[:25]:
                print(f"  {cumulative:>9,}  {module}")

    target = f"< {TARGET_S:g} s"
    results = [
        Result(
            "certkit show (process)",
            figure,
            duck_s,
            'python -c "import duckdb"',
            target,
            figure < TARGET_S,
            f"{spread(times)}; python -c pass {pass_s * 1000:.1f} ms "
            f"({spread(pass_times)}); import duckdb {spread(duck_times)}",
        ),
        Result(
            "certkit show --json (process)",
            json_s,
            duck_s,
            'python -c "import duckdb"',
            target,
            json_s < TARGET_S,
            spread(json_times),
        ),
        Result(
            "  same, PYTHONDONTWRITEBYTECODE=1",
            raw,
            duck_s,
            'python -c "import duckdb"',
            target,
            raw < TARGET_S,
            f"{spread(raw_times)}; compiles certkit every run",
        ),
        Result("  baseline: python -c pass", pass_s, None, "-", "-", None, spread(pass_times)),
    ]
    return report(args, results, "show: whole-process start")


if __name__ == "__main__":
    main()
