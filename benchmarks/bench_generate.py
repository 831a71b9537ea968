"""Generate one EC P-256 client certificate with its zip.

Figures:
  * in-process ``Certkit.generate_client_certificate(name, passphrase=...)`` on an
    initialised home whose CA is already loaded (key, certificate, PKCS#12 + PEM + zip,
    registry transaction): median of 30; target under 60 ms;
  * the whole ``certkit generate NAME --clearance User --passphrase-env P --out DIR``
    process: median of 10;
baselines in the same run: the in-process crypto alone (key, CA-signed certificate,
the same PKCS#12 and encrypted PEM key, no registry), and for the process
``openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ...`` plus
``openssl pkcs12 -export ...`` (two processes, their times added).

Run: .venv/bin/python benchmarks/bench_generate.py [--quick] [--profile]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _common import (
    BENCH_TMP,
    CERTKIT,
    Result,
    arguments,
    bench_env,
    initialised_home,
    interleaved,
    print_profile,
    report,
    run_process,
    spread,
)

TARGET_S = 0.060
PASSPHRASE = "correct horse battery staple"


def openssl_pair(workdir: Path) -> float:
    """``openssl req -x509`` (EC P-256) then ``openssl pkcs12 -export``: seconds for both."""
    key, cert, p12 = (str(workdir / n) for n in ("k.pem", "c.pem", "p.p12"))
    first = run_process(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=x",
            "-keyout",
            key,
            "-out",
            cert,
        ]
    )
    second = run_process(
        [
            "openssl",
            "pkcs12",
            "-export",
            "-inkey",
            key,
            "-in",
            cert,
            "-passout",
            "pass:x",
            "-out",
            p12,
        ]
    )
    return first + second


def main() -> list[Result]:
    args = arguments(__doc__.splitlines()[0])
    repeat_in = 15 if args.quick else 30
    repeat_cli = 5 if args.quick else 10

    from datetime import timedelta

    from certkit import pki
    from certkit.model import KeyType, Secret

    with initialised_home("generate-") as (home, kit):
        kit.generate_client_certificate("warm-up", passphrase=PASSPHRASE)  # loads the CA
        counter = iter(range(10**6))

        def generate() -> None:
            made = kit.generate_client_certificate(
                f"bench-{next(counter)}", clearance="ValidUser", passphrase=PASSPHRASE
            )
            assert made.zip_bytes

        ca = kit.authority()
        secret = Secret(PASSPHRASE)

        def crypto_only() -> None:
            now = kit.now()
            key, cert = pki.issue_client_certificate(
                ca.key,
                ca.certificate,
                "crypto-only",
                now=now,
                not_after=now + timedelta(days=5 * 365),
                key_type=KeyType.EC_P256,
            )
            pki.client_bundle_zip("crypto-only", key, cert, [ca.certificate], passphrase=secret)

        timed = interleaved({"generate": generate, "crypto": crypto_only}, repeat_in, warmup=2)
        in_process, in_times = timed["generate"]
        crypto, crypto_times = timed["crypto"]

        if args.profile:
            print_profile(lambda: [generate() for _ in range(10)], lines=30)

        out = Path(tempfile.mkdtemp(prefix="generate-out-", dir=BENCH_TMP))
        try:
            env = bench_env(home, BENCH_PASSPHRASE=PASSPHRASE)

            def command(i: int) -> list[str]:
                return [
                    *CERTKIT,
                    "generate",
                    f"cli-{i}",
                    "--clearance",
                    "User",
                    "--passphrase-env",
                    "BENCH_PASSPHRASE",
                    "--out",
                    str(out),
                ]

            names = iter(range(10**6))
            python_env = bench_env()
            processes = interleaved(
                {
                    "cli": lambda: run_process(command(next(names)), env),
                    "openssl": lambda: openssl_pair(out),
                    "python": lambda: run_process([sys.executable, "-c", "pass"], python_env),
                },
                repeat_cli,
                warmup=1,  # bytecode cache, OS file cache
            )
            cli, cli_times = processes["cli"]
            ssl, ssl_times = processes["openssl"]
            startup, _ = processes["python"]
        finally:
            shutil.rmtree(out, ignore_errors=True)

    results = [
        Result(
            "generate ec-p256 + zip (in-process)",
            in_process,
            crypto,
            "crypto+zip only, no registry",
            f"< {TARGET_S * 1000:.0f} ms",
            in_process < TARGET_S,
            f"{spread(in_times)}; crypto only {spread(crypto_times)}",
        ),
        Result(
            "certkit generate (process)",
            cli,
            ssl,
            "openssl req -x509 + pkcs12 -export",
            "-",
            None,
            f"{spread(cli_times)}; openssl {spread(ssl_times)}; "
            f"python -c pass {startup * 1000:.1f} ms",
        ),
    ]
    return report(args, results, "generate: one EC P-256 client certificate, modern PKCS#12")


if __name__ == "__main__":
    main()
