"""Requests of ``certkit serve``: who is calling, the routes, JSON answers, logging.

Every request is authenticated again with the current view, so a deleted or downgraded
certificate is refused on kept-alive connections too.

A caller whose TLS certificate is a server certificate of this cluster (ClusterNode) is a
front proxy: nginx presents the node's certificate and forwards the real client's in
``X-Client-Cert``. Its requests are always on behalf of that client, so a missing or empty
header means "no certificate", never the proxy's own clearance. From any other caller the
header is refused.
Logs carry method, path (without query), status and thumbprint; never cookies, codes,
passphrases, bodies or keys.
"""

from __future__ import annotations

import http.server
import json
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certkit.access import Decision, Need, Request, authorize, http_request
from certkit.authz import AuthResult, AuthStatus
from certkit.errors import (
    CertkitError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RegistryBusy,
    TotpRejected,
)
from certkit.model import iso_utc
from certkit.ops.auth import DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES
from certkit.service import admin, page

if TYPE_CHECKING:
    from certkit.service.server import Service

log = logging.getLogger("certkit.service")

COOKIE = "certkit-2fa"
MAX_BODY = 16 * 1024 * 1024  # a 10 MB upload, base64-encoded, with room for JSON
IDLE_TIMEOUT = 30.0

_ERROR_STATUS: list[tuple[type[CertkitError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
    (TotpRejected, 403),
    (RegistryBusy, 503),
    (InvalidInput, 400),
]


class HttpError(Exception):
    """An answer decided before the route ran (bad request, not authenticated...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


Json = dict[str, Any]
Reply = tuple[int, Any, dict[str, str]]


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection; requests on it are handled one after another (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "certkit"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    @property
    def service(self) -> Service:
        return self.server.service  # type: ignore[attr-defined, no-any-return]

    # ------------------------------------------------------------- dispatch
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        parts = urlsplit(self.path)
        self._log_path = parts.path[:200]
        self._caller: AuthResult | None = None
        self._body_read = False
        self.proxy = False
        try:
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            route = ROUTES.get(parts.path.rstrip("/") or "/")
            if route is None:
                raise HttpError(404, f"No such endpoint: {parts.path[:200]}.")
            action = route.get(method)
            if action is None:
                allowed = ", ".join(sorted(route))
                raise HttpError(405, f"Use {allowed} on {parts.path}.", {"Allow": allowed})
            status, payload, headers = action(self, query)
        except HttpError as error:
            status, payload, headers = error.status, {"error": error.message}, error.headers
        except CertkitError as error:
            status, payload, headers = _status_of(error), {"error": error.message}, {}
        except Exception:
            log.exception("%s %s failed", method, self._log_path)
            status, payload, headers = 500, {"error": "Internal error; see the service log."}, {}
            self.close_connection = True
        if not self._body_read and self.headers.get("Content-Length", "0").strip() != "0":
            self.close_connection = True  # an unread body would be taken for the next request
        self._reply(status, payload, headers)
        caller = self._caller
        log.info(
            "%s %s %s -> %d %s %s %.1f ms",
            self.client_address[0],
            method,
            self._log_path,
            status,
            caller.status.value if caller else "-",
            (caller.thumbprint or "-") if caller else "-",
            (time.perf_counter() - started) * 1000,
        )

    def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if isinstance(payload, bytes):
            body, kind = payload, headers.pop("Content-Type", "application/octet-stream")
        elif isinstance(payload, str):
            body, kind = payload.encode(), headers.pop("Content-Type", "text/html; charset=utf-8")
        elif status == 204 or payload is None:
            body, kind = b"", ""
        else:
            body = json.dumps(payload, ensure_ascii=False, indent=1).encode()
            kind = "application/json"
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by http.server itself (bad request line, 501...) as JSON too."""
        self.close_connection = True
        self._reply(code, {"error": message or HTTPStatus(code).phrase}, {})

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs each request once, without the query string

    # --------------------------------------------------------------- caller
    def caller(self) -> AuthResult:
        """The certificate of this request: the TLS client's, or the one a trusted front
        proxy forwards in ``X-Client-Cert``."""
        if self._caller is not None:
            return self._caller
        kit = self.service.kit
        cookie = _cookie(self.headers.get("Cookie"))
        peer = self.connection.getpeercert(binary_form=True)
        result = kit.authenticate_request([peer] if peer else [], cookie=cookie)
        forwarded = self.headers.get("X-Client-Cert")
        if result.status is AuthStatus.CLUSTER_NODE:
            self.proxy = True
            result = kit.authenticate_request(_forwarded_chain(forwarded or ""), cookie=cookie)
        elif forwarded is not None:
            raise HttpError(
                403,
                "X-Client-Cert is accepted only from a front proxy that presents a server "
                "certificate of this cluster.",
            )
        self._caller = result
        return result

    def decide(self, request: Request) -> tuple[AuthResult, Decision]:
        """The caller and whether it may do ``request``. A refusal is decided again on a
        fresh view: the registry may have changed a moment ago (an upgrade, a 2FA session
        opened on another replica)."""
        caller = self.caller()
        decision = authorize(caller, request)
        if not decision.allowed:
            self.service.kit.check_auth_view()
            self._caller = None
            caller = self.caller()
            decision = authorize(caller, request)
        return caller, decision

    def require(self, request: Request) -> AuthResult:
        caller, decision = self.decide(request)
        if not decision.allowed:
            raise HttpError(decision.http_status, decision.reason)
        return caller

    def body(self) -> Json:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise HttpError(411, "Send the body with a Content-Length, not chunked.")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise HttpError(400, "Content-Length is not a number.") from None
        if length > MAX_BODY:
            raise HttpError(413, f"The body is over {MAX_BODY // 2**20} MB.")
        raw = self.rfile.read(length) if length > 0 else b""
        self._body_read = True
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise HttpError(400, "The body must be a JSON object.")
        return data


def _cookie(header: str | None) -> str | None:
    if not header:
        return None
    try:
        jar: SimpleCookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


def _status_of(error: CertkitError) -> int:
    return next((code for kind, code in _ERROR_STATUS if isinstance(error, kind)), 400)


def _forwarded_chain(header: str) -> list[bytes]:
    """nginx's ``$ssl_client_escaped_cert``: URL-escaped PEM (empty: no certificate)."""
    text = unquote(header).strip()
    if not text:
        return []
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise HttpError(400, "X-Client-Cert does not hold a PEM certificate.") from None
    return [c.public_bytes(Encoding.DER) for c in certs]


# ---------------------------------------------------------------- endpoints
def whoami(h: Handler, query: dict[str, str]) -> Reply:
    caller = h.require(Request(Need.AUTHENTICATED))
    session = caller.session
    return (
        200,
        {
            "name": caller.name,
            "thumbprint": caller.thumbprint,
            "status": caller.status.value,
            "clearance": caller.clearance.value if caller.clearance else None,
            "permissions": {db: a.value for db, a in caller.permissions.items()},
            "two_factor": caller.two_factor,
            "two_factor_session": {
                "expires_at": iso_utc(session.expires_at),
                "browser_only": session.browser_only,
            }
            if session
            else None,
        },
        {},
    )


def two_factor_page(h: Handler, query: dict[str, str]) -> Reply:
    return 200, page.TWO_FACTOR_PAGE, {"Content-Security-Policy": page.CSP}


def two_factor_configuration(h: Handler, query: dict[str, str]) -> Reply:
    return (
        200,
        {"default_minutes": DEFAULT_SESSION_MINUTES, "max_minutes": MAX_SESSION_MINUTES},
        {},
    )


def _two_factor_caller(h: Handler) -> AuthResult:
    caller = h.caller()
    if caller.status not in (AuthStatus.REGISTERED, AuthStatus.TWO_FACTOR_REQUIRED):
        if not caller.authenticated:
            raise HttpError(401, caller.message)
        raise HttpError(400, f"{caller.name} does not use two-factor authentication.")
    if not caller.two_factor:
        raise HttpError(400, f"{caller.name!r} does not use two-factor authentication.")
    assert caller.thumbprint is not None
    return caller


def two_factor_login(h: Handler, query: dict[str, str]) -> Reply:
    body = h.body()
    caller = _two_factor_caller(h)
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = f"{code:06d}"
    if not isinstance(code, str):
        raise HttpError(400, "'code' must be the 6-digit code as a string.")
    minutes = body.get("duration_minutes", DEFAULT_SESSION_MINUTES)
    browser_only = body.get("browser_only", True)
    if not isinstance(browser_only, bool):
        raise HttpError(400, "'browser_only' must be true or false.")
    assert caller.thumbprint is not None
    opened = h.service.kit.open_two_factor_session(
        caller.thumbprint, code, duration_minutes=minutes, browser_only=browser_only
    )
    headers = {}
    if opened.cookie is not None:
        seconds = max(1, int((opened.expires_at - h.service.kit.now()).total_seconds()))
        headers["Set-Cookie"] = (
            f"{COOKIE}={opened.cookie.reveal_text()}; Max-Age={seconds}; Path=/; Secure; "
            "HttpOnly; SameSite=Strict"
        )
    return 200, opened.to_json(), headers


def two_factor_logout(h: Handler, query: dict[str, str]) -> Reply:
    caller = _two_factor_caller(h)
    assert caller.thumbprint is not None
    count = h.service.kit.close_two_factor_sessions(caller.thumbprint, actor=caller.name or "")
    expire = f"{COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"
    return 200, {"closed": count}, {"Set-Cookie": expire}


def auth(h: Handler, query: dict[str, str]) -> Reply:
    """nginx ``auth_request``: may the forwarded certificate do the original request?"""
    caller = h.caller()
    if not h.proxy:
        raise HttpError(
            403, "/auth answers a front proxy only: present a server certificate of this cluster."
        )
    method = h.headers.get("X-Original-Method")
    uri = h.headers.get("X-Original-URI")
    if not method or not uri:
        raise HttpError(400, "/auth needs X-Original-Method and X-Original-URI.")
    try:
        request = http_request(method, uri)
    except InvalidInput as error:
        decision = Decision(False, 403, error.message)
    else:
        caller, decision = h.decide(request)
    headers = {"X-Certkit-Status": caller.status.value}
    if decision.allowed:
        headers.update(
            {
                "X-Certkit-Name": quote(caller.name or "", safe=" "),
                "X-Certkit-Thumbprint": caller.thumbprint or "",
                "X-Certkit-Clearance": caller.clearance.value if caller.clearance else "",
            }
        )
        return 204, None, headers
    status = decision.http_status
    if status == 428 and h.headers.get("X-Certkit-Two-Factor-Status") in ("401", "403"):
        status = int(h.headers["X-Certkit-Two-Factor-Status"])  # nginx passes 401/403 only
    headers["X-Certkit-Error"] = json.dumps(decision.reason, ensure_ascii=True)[1:-1]
    return status, {"error": decision.reason, "status": caller.status.value}, headers


def _admin(
    action: Callable[..., tuple[int, Any]], need: Need = Need.OPERATOR
) -> Callable[[Handler, dict[str, str]], Reply]:
    def run(h: Handler, query: dict[str, str]) -> Reply:
        body = h.body() if h.command in ("POST", "PUT", "PATCH") else {}
        caller = h.require(Request(need))
        status, payload = action(h.service.kit, caller.actor(), query, body)
        return status, payload, {}

    return run


def export(h: Handler, query: dict[str, str]) -> Reply:
    h.require(Request(Need.OPERATOR))
    data = h.service.kit.export_server_certificates()
    return (
        200,
        data,
        {
            "Content-Type": "application/x-pkcs12",
            "Content-Disposition": 'attachment; filename="server-certificates.pfx"',
        },
    )


ROUTES: dict[str, dict[str, Callable[[Handler, dict[str, str]], Reply]]] = {
    "/whoami": {"GET": whoami},
    "/auth": {"GET": auth},
    "/authentication/2fa": {
        "GET": two_factor_page,
        "POST": two_factor_login,
        "DELETE": two_factor_logout,
    },
    "/authentication/2fa/configuration": {"GET": two_factor_configuration},
    "/admin/certificates": {
        "GET": _admin(admin.list_or_show),
        "POST": _admin(admin.generate),
        "PUT": _admin(admin.register),
        "PATCH": _admin(admin.edit),
        "DELETE": _admin(admin.delete),
    },
    "/admin/certificates/clone": {"POST": _admin(admin.clone)},
    "/admin/certificates/export": {"GET": export},
}
