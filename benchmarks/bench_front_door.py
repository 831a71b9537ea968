"""Requests per second through nginx with ``auth_request`` to ``certkit serve``, beside the
same nginx serving the same upstream without it, in one run.

Set-up: a fresh home, a ValidUser certificate with Read on HR, ``certkit serve``, and
Debian's nginx with the shipped ``deploy/nginx/certkit.conf``, plus two server blocks of
its own: the upstream (plain HTTP, ``return 200``, so the upstream costs next to nothing)
and the baseline (same TLS, same upstream, no ``auth_request``). Load: one
``curl --parallel`` process (8 transfers at a time, connections kept alive) fetching
``/databases/HR/`` over mutual TLS. Every response must be 200. No target: the figure is
the price of asking certkit on every request.

Run: .venv/bin/python benchmarks/bench_front_door.py [--quick]
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from _common import Result, arguments, report, temp_home  # first: puts the checkout on sys.path

from certkit.ops import open_certkit
from certkit.service.frontdoor import write_nginx_files
from tests.service_helpers import (  # the same harness the front-door tests use
    Nginx,
    Serve,
    free_port,
    generate,
    render_front_door,
)

PARALLEL = 8


def extra_blocks(files: Path, port: int, upstream: int) -> str:
    return f"""
server {{
    listen 127.0.0.1:{upstream};
    location / {{
        return 200 "hello\\n";
    }}
}}

server {{
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    ssl_certificate     {files}/server.crt;
    ssl_certificate_key {files}/server.key;
    ssl_verify_client optional_no_ca;
    location / {{
        proxy_pass http://database_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }}
}}
"""


def load(url: str, *, requests: int, ca: Path, cert: Path, key: Path, work: Path) -> float:
    """Seconds for ``requests`` GETs of ``url`` with curl --parallel; all must be 200."""
    config = work / "curl.cfg"
    config.write_text("".join(f'url = "{url}"\noutput = "/dev/null"\n' for _ in range(requests)))
    args = [
        "curl", "-s", "--parallel", "--parallel-max", str(PARALLEL),
        "--cacert", str(ca), "--cert", str(cert), "--key", str(key),
        "-w", "%{http_code}\\n", "--config", str(config),
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    codes = done.stdout.split()
    if len(codes) != requests or set(codes) != {"200"}:
        raise RuntimeError(f"expected {requests} x 200, got {sorted(set(codes))} ({len(codes)})")
    return elapsed


def main() -> None:
    args = arguments(__doc__ or "")
    requests = 500 if args.quick else 3000
    with temp_home("front-door-") as base:
        home = base / "home"
        kit = open_certkit(home)
        client = generate(kit, base, "bench", clearance="ValidUser", permissions={"HR": "Read"})
        files = base / "nginx-files"
        write_nginx_files(kit, files)
        upstream_port = free_port()
        serve = Serve(home, base / "serve.log")
        nginx = None
        try:
            door, plain = free_port(), free_port()
            site = render_front_door(
                files, listen=door, serve=serve.port, app=upstream_port, database=upstream_port
            ) + extra_blocks(files, plain, upstream_port)
            nginx = Nginx(base / "nginx", site, door)
            common = {"ca": home / "ca.crt", "cert": client.cert, "key": client.key, "work": base}
            path = "/databases/HR/"
            load(f"https://localhost:{door}{path}", requests=50, **common)  # warm
            load(f"https://localhost:{plain}{path}", requests=50, **common)
            with_auth = load(f"https://localhost:{door}{path}", requests=requests, **common)
            without = load(f"https://localhost:{plain}{path}", requests=requests, **common)
        finally:
            if nginx is not None:
                nginx.stop()
            serve.stop()
    rate, base_rate = requests / with_auth, requests / without
    results = [
        Result(
            benchmark=f"nginx + auth_request ({requests:,} GETs, {PARALLEL} at a time)",
            figure_s=with_auth / requests,
            baseline_s=without / requests,
            baseline="same nginx and upstream, no auth_request",
            target="-",
            met=None,
            note=f"{rate:,.0f} requests/s with certkit, {base_rate:,.0f} requests/s without",
        )
    ]
    report(args, results, "the front door")


if __name__ == "__main__":
    main()
