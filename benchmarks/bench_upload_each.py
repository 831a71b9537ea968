"""Register a 10,000-certificate PEM bundle as separate entries (``upload --each``).

Figures:
  * in-process ``Certkit.register(data, clearance="ValidUser", each=True)`` on a fresh,
    already initialised home;
  * the whole ``certkit upload FILE --each --clearance User`` process;
baseline, same run, same bundle: ``x509.load_pem_x509_certificates`` plus the SHA-1
thumbprint of each certificate. Target: at most 3x the baseline.

The bundle (EC P-256 leaves, one key reused, each with its own CN, signed by a CA that
``certkit.pki.create_ca`` made) is built once and cached under /tmp/certkit-bench.

Run: .venv/bin/python benchmarks/bench_upload_each.py [--quick] [--profile]
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import (
    BENCH_TMP,
    CERTKIT,
    Result,
    arguments,
    bench_env,
    initialised_home,
    print_profile,
    report,
    run_process,
    spread,
    temp_home,
)

COUNT = 10_000
TARGET_RATIO = 3.0
BUNDLE = BENCH_TMP / f"bundle-{COUNT}.pem"


def build_bundle(path: Path = BUNDLE, count: int = COUNT) -> bytes:
    """The cached bundle, or a new one (about 2 s): ``count`` distinct client certificates."""
    if path.exists():
        data = path.read_bytes()
        if data.count(b"-----BEGIN CERTIFICATE-----") == count:
            return data
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from certkit import pki

    now = datetime.now(UTC)
    ca_key, ca_cert = pki.create_ca("certkit bench upload CA", now=now)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    public = leaf_key.public_key()
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    not_before, not_after = now - timedelta(days=1), now + timedelta(days=730)
    parts: list[bytes] = []
    for i in range(count):
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench-{i:05d}")]))
            .issuer_name(ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        parts.append(cert.public_bytes(Encoding.PEM))
    data = b"".join(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def baseline(data: bytes) -> list[str]:
    """The bare cryptography work: parse the bundle, SHA-1 thumbprint of each."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    sha1 = hashes.SHA1()
    return [c.fingerprint(sha1).hex().upper() for c in x509.load_pem_x509_certificates(data)]


def floor(data: bytes, path: Path) -> int:
    """The least any registration can do: cryptography + DuckDB, no checks, no records back.

    Parse; per certificate the DER, SHA-1 and SHA-256, subject and issuer strings, serial,
    dates and extensions (parsed, as a client check must); one columnar insert into a new
    file with certkit's schema; commit and close. certkit adds the checks, names, audit
    log, records read back and its transaction handling on top of this.
    """
    gc.disable()  # as certkit's register does: a million small objects, no cycles to collect
    try:
        return _floor(data, path)
    finally:
        gc.enable()


def _floor(data: bytes, path: Path) -> int:
    import hashlib

    import duckdb
    import numpy as np
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from certkit.registry.schema import MIGRATIONS

    certs = x509.load_pem_x509_certificates(data)
    ders, sha1, sha256, subjects, issuers, serials, before, after = ([] for _ in range(8))
    for cert in certs:
        der = cert.public_bytes(Encoding.DER)
        ders.append(der)
        sha1.append(hashlib.sha1(der).hexdigest().upper())
        sha256.append(hashlib.sha256(der).hexdigest().upper())
        subjects.append(cert.subject.rfc4514_string())
        issuers.append(cert.issuer.rfc4514_string())
        serials.append(f"{cert.serial_number:X}")
        before.append(cert.not_valid_before_utc.replace(tzinfo=None))
        after.append(cert.not_valid_after_utc.replace(tzinfo=None))
        cert.extensions  # noqa: B018 - parsed, as the client checks need them
    n = len(certs)
    floor_rows = {  # noqa: F841 - read by DuckDB's replacement scan
        "thumbprint": np.array(sha1, dtype=object),
        "entry_id": np.arange(n, dtype="int64"),
        "position": np.zeros(n, dtype="int32"),
        "sha256": np.array(sha256, dtype=object),
        "subject": np.array(subjects, dtype=object),
        "issuer": np.array(issuers, dtype=object),
        "serial": np.array(serials, dtype=object),
        "not_before": np.array(before, dtype="datetime64[us]"),
        "not_after": np.array(after, dtype="datetime64[us]"),
        "der": np.array(ders, dtype=object),
    }
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(MIGRATIONS[1])
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO certificates (thumbprint, entry_id, position, sha256, subject, issuer, "
            "serial, not_before, not_after, der) SELECT thumbprint, entry_id, position, sha256, "
            "subject, issuer, serial, not_before, not_after, der::BLOB FROM floor_rows"
        )
        con.execute("COMMIT")
    finally:
        con.close()
        path.unlink(missing_ok=True)
    return n


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def profile_register(data: bytes) -> None:
    """cProfile of one in-process register on a fresh home: where the time goes."""
    with initialised_home("upload-prof-") as (_, kit):
        print_profile(
            lambda: kit.register(data, clearance="ValidUser", each=True, source=BUNDLE.name),
            lines=35,
            tottime=20,
        )


def main() -> list[Result]:
    args = arguments(__doc__.splitlines()[0])
    data = build_bundle()
    repeat_base = 3  # per turn
    repeat_reg = 2 if args.quick else 5
    repeat_cli = 1 if args.quick else 3

    from certkit.ops import Certkit

    def register(kit: Certkit) -> None:
        result = kit.register(data, clearance="ValidUser", each=True, source=BUNDLE.name)
        assert len(result.records) == COUNT, result

    floor_file = BENCH_TMP / f"floor-{COUNT}.duckdb"
    baseline(data)  # warm: imports, OS file cache
    floor(data, floor_file)
    base_times: list[float] = []
    least_times: list[float] = []
    reg_times: list[float] = []
    cli_times: list[float] = []
    upload = [*CERTKIT, "upload", str(BUNDLE), "--each", "--clearance", "User"]
    # Taking turns (baseline, floor, register, process), so that load from other processes
    # falls on the figures and the baseline alike.
    for turn in range(max(repeat_reg, repeat_cli)):
        base_times.extend(timed(lambda: baseline(data)) for _ in range(repeat_base))
        least_times.append(timed(lambda: floor(data, floor_file)))
        if turn < repeat_reg:
            with initialised_home("upload-") as (_, kit):  # CA, server: not in the figure
                reg_times.append(timed(lambda kit=kit: register(kit)))  # type: ignore[misc]
        if turn < repeat_cli:
            with temp_home("upload-cli-") as home:
                env = bench_env(home)
                run_process([*CERTKIT, "init"], env)  # also warms the bytecode cache
                cli_times.append(run_process(upload, env))
    base = statistics.median(base_times)
    least = statistics.median(least_times)
    reg = statistics.median(reg_times)
    cli = statistics.median(cli_times)

    what = f"load+SHA-1 of {COUNT:,}"
    target = f"<= {TARGET_RATIO:g}x baseline"
    results = [
        Result(
            f"register {COUNT:,} --each (in-process)",
            reg,
            base,
            what,
            target,
            reg <= TARGET_RATIO * base,
            f"register {spread(reg_times)}; baseline {spread(base_times)}",
        ),
        Result(
            f"certkit upload {COUNT:,} --each (process)",
            cli,
            base,
            what,
            target,
            cli <= TARGET_RATIO * base,
            f"{spread(cli_times)}; includes interpreter start and imports",
        ),
        Result(
            "  floor: cryptography + DuckDB insert",
            least,
            base,
            what,
            "-",
            None,
            f"{spread(least_times)}; see floor() for what it does",
        ),
    ]
    title = f"upload --each: {COUNT:,} certificates, {len(data) / 1e6:.1f} MB PEM"
    report(args, results, title)
    if args.profile:
        profile_register(data)
    return results


if __name__ == "__main__":
    main()
