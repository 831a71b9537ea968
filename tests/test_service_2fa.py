"""Two-factor sessions over HTTPS: ``oathtool`` codes against a running ``certkit serve``.

Each scenario uses its own certificate (its own TOTP secret), so codes never collide.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from certkit.ops import open_certkit
from tests.service_helpers import Client, Reply, Serve, generate, server_client, wait_until

pytestmark = pytest.mark.slow


class World:
    def __init__(self, base: Path) -> None:
        self.home = base / "home"
        self.work = base / "work"
        self.kit = open_certkit(self.home)
        self.proxy = server_client(self.kit, self.work)
        self.plain = generate(self.kit, self.work, "no 2fa", clearance="ValidUser")
        self.serve = Serve(self.home, base / "serve.log")
        self.count = 0

    def two_factor(self) -> Client:
        self.count += 1
        return generate(
            self.kit,
            self.work,
            f"2fa user {self.count}",
            clearance="ValidUser",
            permissions={"HR": "Read"},
            two_factor=True,
        )

    def login(self, client: Client, code: str, **body: object) -> Reply:
        return self.serve.curl(
            "/authentication/2fa", client, method="POST", data={"code": code, **body}
        )

    def whoami(self, client: Client, cookie: str | None = None) -> Reply:
        headers = [f"Cookie: certkit-2fa={cookie}"] if cookie else []
        return self.serve.curl("/whoami", client, headers=headers)

    def auth(self, client: Client, *headers: str) -> Reply:
        return self.serve.curl(
            "/auth",
            self.proxy,
            headers=[
                "X-Client-Cert: " + quote(client.pem, safe=""),
                "X-Original-Method: GET",
                "X-Original-URI: /databases/HR/docs",
                *headers,
            ],
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("service-2fa"))
    yield world
    assert world.serve.stop() == 0, world.serve.log()


def oathtool(client: Client, *, later: int = 0) -> str:
    """The code that ``oathtool`` computes now (or ``later`` steps of 30 s ahead)."""
    assert client.secret is not None
    args = ["oathtool", "--totp", "-b", client.secret.reveal_text()]
    if later:
        moment = datetime.now(UTC) + timedelta(seconds=30 * later)
        args += ["--now", moment.strftime("%Y-%m-%d %H:%M:%S UTC")]
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30)
    code = done.stdout.strip()
    assert len(code) == 6 and code.isdigit()
    return code


def wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def test_a_code_from_oathtool_opens_a_session_for_every_client(world: World) -> None:
    client = world.two_factor()
    needed = world.whoami(client)
    assert needed.status == 428
    assert "two-factor" in needed.json()["error"]
    assert world.auth(client).status == 428
    opened = world.login(client, oathtool(client), browser_only=False, duration_minutes=5)
    assert opened.status == 200, opened.body
    assert opened.json()["browser_only"] is False
    assert "set-cookie" not in opened.headers
    reply = world.whoami(client)
    assert reply.status == 200
    assert reply.json()["two_factor"] is True
    assert reply.json()["two_factor_session"]["browser_only"] is False
    assert world.auth(client).status == 204


def test_a_reused_code_is_refused(world: World) -> None:
    client = world.two_factor()
    code = oathtool(client)
    assert world.login(client, code, browser_only=False).status == 200
    again = world.login(client, code, browser_only=False)
    assert again.status == 403
    assert "already used" in again.json()["error"]


def test_a_wrong_code_is_refused(world: World) -> None:
    client = world.two_factor()
    refused = world.login(client, wrong(oathtool(client)), browser_only=False)
    assert refused.status == 403
    assert "Wrong code" in refused.json()["error"]
    assert world.whoami(client).status == 428


def test_an_expired_session_is_refused(world: World) -> None:
    client = world.two_factor()
    assert world.login(client, oathtool(client), browser_only=False, duration_minutes=1).status == (
        200
    )
    assert world.whoami(client).status == 200
    # The clock passes the end of the session (rather than waiting a minute): the registry
    # row is what every service process reads.
    with world.kit.registry.transaction() as tx:
        tx._con.execute(
            "UPDATE sessions SET expires_at = ? WHERE thumbprint = ?",
            [datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1), client.thumbprint],
        )
    assert wait_until(lambda: world.whoami(client).status == 428, timeout=1.0)


def test_browser_only_needs_the_cookie(world: World) -> None:
    client = world.two_factor()
    opened = world.login(client, oathtool(client), browser_only=True, duration_minutes=30)
    assert opened.status == 200
    cookie_header = opened.headers["set-cookie"]
    attributes = [part.strip() for part in cookie_header.split(";")]
    name, _, cookie = attributes[0].partition("=")
    assert name == "certkit-2fa" and len(cookie) >= 40
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(attributes)
    assert any(a.startswith("Max-Age=") and 1700 < int(a[8:]) <= 1800 for a in attributes)
    refused = world.whoami(client)
    assert refused.status == 428
    assert "browser" in refused.json()["error"]
    assert world.whoami(client, cookie="x" + cookie).status == 428
    assert world.whoami(client, cookie=cookie).status == 200
    # behind the front door the proxy passes the browser's cookie along
    assert world.auth(client, f"Cookie: certkit-2fa={cookie}").status == 204
    assert world.auth(client).status == 428
    nginx_style = world.auth(client, "X-Certkit-Two-Factor-Status: 401")
    assert nginx_style.status == 401
    assert nginx_style.headers["x-certkit-status"] == "two-factor-required"


def test_lockout_after_repeated_failures(world: World) -> None:
    client = world.two_factor()
    bad = wrong(oathtool(client))
    for _ in range(5):
        assert world.login(client, bad, browser_only=False).status == 403
    locked = world.login(client, oathtool(client), browser_only=False)
    assert locked.status == 403
    assert "Too many wrong codes" in locked.json()["error"]
    assert world.whoami(client).status == 428


def test_logout_closes_the_sessions(world: World) -> None:
    client = world.two_factor()
    assert world.login(client, oathtool(client), browser_only=False).status == 200
    assert world.login(client, oathtool(client, later=1), browser_only=False).status == 200
    closed = world.serve.curl("/authentication/2fa", client, method="DELETE")
    assert (closed.status, closed.json()) == (200, {"closed": 2})
    assert "Max-Age=0" in closed.headers["set-cookie"]
    assert world.whoami(client).status == 428


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"duration_minutes": 1441}, "1 to 1440 minutes"),
        ({"duration_minutes": 0}, "1 to 1440 minutes"),
        ({"duration_minutes": "60"}, "1 to 1440 minutes"),
        ({"browser_only": "yes"}, "browser_only"),
        ({"code": None}, "6-digit"),
    ],
)
def test_bad_logins_are_400(world: World, body: dict[str, object], message: str) -> None:
    client = world.two_factor()
    reply = world.serve.curl(
        "/authentication/2fa", client, method="POST", data={"code": "123456", **body}
    )
    assert reply.status == 400
    assert message in reply.json()["error"]


def test_login_needs_a_two_factor_certificate(world: World) -> None:
    assert world.login(world.plain, "123456").status == 400
    assert world.serve.curl("/authentication/2fa", method="POST", data={"code": "1"}).status == (
        401
    )


def test_the_clearance_page_and_configuration(world: World) -> None:
    page = world.serve.curl("/authentication/2fa")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "ck-2fa-form" in page.body and "ck-2fa-code" in page.body
    assert "default-src 'none'" in page.headers["content-security-policy"]
    configuration = world.serve.curl("/authentication/2fa/configuration")
    assert configuration.json() == {"default_minutes": 120, "max_minutes": 1440}


def test_no_code_or_cookie_is_logged(world: World) -> None:
    client = world.two_factor()
    code = oathtool(client)
    opened = world.login(client, code, browser_only=True)
    cookie = opened.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    world.whoami(client, cookie=cookie)
    log = world.serve.log()
    assert "POST /authentication/2fa -> 200" in log
    assert code not in log and cookie not in log
    assert client.secret is not None and client.secret.reveal_text() not in log
