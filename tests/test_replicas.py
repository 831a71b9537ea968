"""Two replicas of ``certkit serve`` on one PostgreSQL registry, behind one nginx upstream.

Both replicas share a home (the key files) and a registry schema; nginx's certkit_serve
upstream lists both, so its auth_request questions go to either. What one replica or the
CLI changes, the other enforces: a two-factor session opened on replica A lets the client
through replica B and the front door; a certificate deleted with the CLI, or downgraded
through replica A, is refused by both within a second; and "last used" keeps the latest
use, whichever replica saw it.

PostgreSQL, both replicas, nginx and the sample upstreams run on 127.0.0.1, started here and
stopped by PID. The tests share one cluster and run in file order: the last one stops the
replicas to make them write their noted uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from certkit.ops import open_certkit
from certkit.service.frontdoor import write_nginx_files
from tests.postgres import PostgresServer
from tests.service_helpers import (
    ROOT,
    Client,
    CurlFailed,
    Nginx,
    Reply,
    Serve,
    Upstream,
    curl,
    free_port,
    generate,
    render_front_door,
    service_env,
    wait_until,
)

pytestmark = pytest.mark.slow

REFUSAL_BOUND = 1.0
"""Seconds within which both replicas must refuse a certificate deleted with the CLI."""
POLL = 0.05


class Cluster:
    def __init__(self, base: Path, url: str) -> None:
        self.url = url
        self.home = home = base / "home"
        work = base / "work"
        self.kit = kit = open_certkit(home, database_url=url)
        self.doomed = generate(kit, work, "deleted", clearance="ValidUser")
        self.regular = generate(kit, work, "used on both", clearance="ValidUser")
        self.guarded = generate(
            kit, work, "guarded", clearance="ValidUser", permissions={"HR": "Read"}, two_factor=True
        )
        self.browser = generate(
            kit, work, "browser", clearance="ValidUser", permissions={"HR": "Read"}, two_factor=True
        )
        self.admin = generate(kit, work, "admin", clearance="ClusterAdmin")
        self.operator = generate(kit, work, "operator", clearance="Operator")
        self.ca = home / "ca.crt"
        self.files = base / "nginx-files"
        write_nginx_files(kit, self.files)
        port_a = free_port()
        port_b = next(p for p in iter(free_port, None) if p != port_a)
        self.a = Serve(home, base / "serve-a.log", port=port_a, database_url=url)
        self.b = Serve(home, base / "serve-b.log", port=port_b, database_url=url)
        assert (self.a.port, self.b.port) == (port_a, port_b)
        self.database = Upstream("database")
        self.app = Upstream("app")
        self.port = free_port()
        site = render_front_door(
            self.files,
            listen=self.port,
            serve=[port_a, port_b],
            app=self.app.port,
            database=self.database.port,
        )
        upstream = site.split("upstream certkit_serve {", 1)[1].split("}", 1)[0]
        assert f"server 127.0.0.1:{port_a};" in upstream
        assert f"server 127.0.0.1:{port_b};" in upstream
        self.nginx = Nginx(base / "nginx", site, self.port)

    def door(self, path: str, client: Client, **options: object) -> Reply:
        return curl(
            f"https://localhost:{self.port}{path}",
            ca=self.ca,
            client=client,
            **options,  # type: ignore[arg-type]
        )

    def certkit(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI as a process of its own, on the same home and registry."""
        home = ["--home", str(self.home), "--database-url", self.url]
        return subprocess.run(
            [sys.executable, "-m", "certkit", *home, *args],
            capture_output=True,
            text=True,
            env=service_env(self.home),
            cwd=ROOT,
            timeout=60,
        )

    def close(self) -> None:
        self.nginx.stop()
        self.app.close()
        self.database.close()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("replicas"), postgres_server.new_schema_url())
    yield cluster
    cluster.close()
    assert cluster.a.stop() == 0, cluster.a.log()
    assert cluster.b.stop() == 0, cluster.b.log()


def oathtool(client: Client) -> str:
    assert client.secret is not None
    done = subprocess.run(
        ["oathtool", "--totp", "-b", client.secret.reveal_text()],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def auth_lines(serve: Serve, client: Client, status: int) -> int:
    """How many nginx auth_request questions about ``client`` this replica answered."""
    return sum(
        f"GET /auth -> {status} " in line and client.thumbprint in line
        for line in serve.log().splitlines()
    )


def test_both_replicas_serve_the_same_registry(cluster: Cluster) -> None:
    for serve in (cluster.a, cluster.b):
        reply = serve.curl("/whoami", cluster.regular)
        assert reply.status == 200, reply.body
        assert reply.json()["name"] == "used on both"


def test_a_session_opened_on_one_replica_is_honoured_by_the_other(cluster: Cluster) -> None:
    client = cluster.guarded
    assert cluster.b.curl("/whoami", client).status == 428
    assert cluster.door("/databases/HR/docs", client).status == 428
    opened = cluster.a.curl(
        "/authentication/2fa",
        client,
        method="POST",
        data={"code": oathtool(client), "browser_only": False, "duration_minutes": 5},
    )
    assert opened.status == 200, opened.body
    # At once, through the front door: nginx asks both replicas in turn.
    before = [auth_lines(s, client, 204) for s in (cluster.a, cluster.b)]
    for _ in range(4):
        reply = cluster.door("/databases/HR/docs", client)
        assert reply.status == 200, reply.body
        assert reply.json()["headers"]["x-certkit-thumbprint"] == client.thumbprint
    after = [auth_lines(s, client, 204) for s in (cluster.a, cluster.b)]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    session = cluster.b.curl("/whoami", client)
    assert session.status == 200, session.body
    assert session.json()["two_factor_session"]["browser_only"] is False
    # and logging out on B ends it on A too, within the bound of a deletion
    assert cluster.b.curl("/authentication/2fa", client, method="DELETE").status == 200
    assert cluster.b.curl("/whoami", client).status == 428
    ended = wait_until(lambda: cluster.a.curl("/whoami", client).status == 428, REFUSAL_BOUND, POLL)
    assert ended


def test_a_browser_session_opened_on_one_replica_is_honoured_by_the_other(
    cluster: Cluster,
) -> None:
    client = cluster.browser
    opened = cluster.a.curl(
        "/authentication/2fa",
        client,
        method="POST",
        data={"code": oathtool(client), "browser_only": True, "duration_minutes": 5},
    )
    assert opened.status == 200, opened.body
    cookie = opened.headers["set-cookie"].split(";")[0]
    for _ in range(4):
        reply = cluster.door("/databases/HR/docs", client, headers=[f"Cookie: {cookie}"])
        assert reply.status == 200, reply.body
    assert cluster.b.curl("/whoami", client, headers=[f"Cookie: {cookie}"]).status == 200
    assert cluster.b.curl("/whoami", client).status == 428  # that browser only
    assert cluster.door("/databases/HR/docs", client).status == 428


def _refused(serve: Serve, client: Client) -> bool:
    try:
        reply = serve.curl("/whoami", client)
    except CurlFailed:
        return True  # a refused handshake refuses too
    assert reply.status in (200, 401), reply.body
    return reply.status == 401


def test_a_deleted_certificate_is_refused_by_both_replicas_within_a_second(
    cluster: Cluster,
) -> None:
    client = cluster.doomed
    for serve in (cluster.a, cluster.b):
        assert serve.curl("/whoami", client).status == 200
    refused_after: dict[str, float] = {}
    deleted = threading.Event()
    started = [0.0]

    def poll(label: str, serve: Serve) -> None:
        deleted.wait(timeout=60)
        deadline = started[0] + 10 * REFUSAL_BOUND
        while time.monotonic() < deadline:
            if _refused(serve, client):
                refused_after[label] = time.monotonic() - started[0]
                return
            time.sleep(POLL)

    pollers = [
        threading.Thread(target=poll, args=(label, serve), daemon=True)
        for label, serve in (("A", cluster.a), ("B", cluster.b))
    ]
    for poller in pollers:
        poller.start()
    done = cluster.certkit("delete", client.thumbprint, "--yes")
    started[0] = time.monotonic()  # from the moment the command returns
    deleted.set()
    assert done.returncode == 0, done.stderr
    for poller in pollers:
        poller.join(timeout=30)
    print(f"delete to refusal: {refused_after}")
    assert set(refused_after) == {"A", "B"}, refused_after
    assert max(refused_after.values()) < REFUSAL_BOUND, refused_after
    refused = cluster.door("/databases/HR/docs", client)
    assert refused.status == 401
    assert "not registered" in refused.json()["error"]


def test_a_downgrade_through_one_replica_is_enforced_by_both_within_a_second(
    cluster: Cluster,
) -> None:
    client = cluster.operator
    for serve in (cluster.a, cluster.b):
        assert serve.curl("/admin/certificates", client).status == 200  # Operator may list
    done = cluster.a.curl(
        f"/admin/certificates?thumbprint={client.thumbprint}",
        cluster.admin,
        method="PATCH",
        data={"clearance": "ValidUser"},
    )
    started = time.monotonic()
    assert done.status == 200, done.body
    refused_after: dict[str, float] = {}
    while len(refused_after) < 2 and time.monotonic() - started < 10 * REFUSAL_BOUND:
        for label, serve in (("A", cluster.a), ("B", cluster.b)):
            if label not in refused_after:
                if serve.curl("/admin/certificates", client).status == 403:
                    refused_after[label] = time.monotonic() - started
        time.sleep(POLL)
    print(f"downgrade to refusal: {refused_after}")
    assert set(refused_after) == {"A", "B"}, refused_after
    assert max(refused_after.values()) < REFUSAL_BOUND, refused_after
    assert cluster.b.curl("/whoami", client).json()["clearance"] == "ValidUser"


def test_last_used_is_the_latest_use_on_either_replica(cluster: Cluster) -> None:
    """Runs last: it stops both replicas, which writes their noted uses."""
    client = cluster.regular
    assert cluster.a.curl("/whoami", client).status == 200
    used_on_a = datetime.now(UTC)
    time.sleep(1.1)  # "last used" is kept to the second
    used_on_b = datetime.now(UTC)
    assert cluster.b.curl("/whoami", client).status == 200
    done_on_b = datetime.now(UTC)
    # B writes its later use first, then A its earlier one: the latest must stay.
    assert cluster.b.stop() == 0, cluster.b.log()
    assert cluster.a.stop() == 0, cluster.a.log()
    shown = cluster.certkit("show", client.thumbprint, "--json")
    assert shown.returncode == 0, shown.stderr
    last_used = datetime.fromisoformat(json.loads(shown.stdout)["last_used"])
    assert used_on_a < last_used <= done_on_b
    assert last_used >= used_on_b.replace(microsecond=0)
