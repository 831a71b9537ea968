"""The HTTPS server of ``certkit serve``: a thread per connection, TLS handshakes in that
thread, and a watcher that keeps the authentication view and the TLS context fresh."""

from __future__ import annotations

import hashlib
import http.server
import logging
import socket
import ssl
import threading
import time
from typing import Any

from certkit.errors import CertkitError
from certkit.ops import Certkit
from certkit.service.handler import Handler
from certkit.service.tls import TlsContexts

log = logging.getLogger("certkit.service")

POLL_INTERVAL = 0.25
"""Seconds between checks of the registry: a change is enforced within about this long."""
FLUSH_INTERVAL = 5.0
"""Seconds between writes of noted uses ("last used" stays throttled to once a minute)."""
PRUNE_INTERVAL = 300.0
"""Seconds between rebuilds of the TLS context that drop anchors of deleted certificates."""
HANDSHAKE_TIMEOUT = 10.0
MAX_CONNECTIONS = 256


class _HttpsServer(http.server.ThreadingHTTPServer):
    """Accepts plain TCP; each connection's thread runs its own TLS handshake, with the
    context current at that moment (so a replaced server certificate serves new
    connections at once), and a slow or failed handshake never blocks ``accept``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        self.service = service
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("%s refused: %d connections open", client_address[0], MAX_CONNECTIONS)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        peer = f"{client_address[0]}:{client_address[1]}"
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.service.tls.current().wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            reason = getattr(error, "reason", None) or error.__class__.__name__
            log.warning("tls %s handshake refused: %s", peer, reason)
            return
        try:
            der = tls.getpeercert(binary_form=True)
            log.info(
                "tls %s %s %s client certificate %s",
                peer,
                tls.version(),
                (tls.cipher() or ("-",))[0],
                _thumbprint(der) if der else "none",
            )
            Handler(tls, client_address, self)
        except (ssl.SSLError, OSError) as error:
            log.debug("tls %s closed: %s", peer, error)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("connection from %s failed", client_address[0])


def _thumbprint(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


class Service:
    """``certkit serve`` on one home: bind, then :meth:`serve_forever` until :meth:`close`.

    Example:
        >>> service = Service(open_certkit(), "127.0.0.1", 8443)  # doctest: +SKIP
        >>> service.start(); service.serve_forever()  # doctest: +SKIP
    """

    def __init__(
        self,
        kit: Certkit,
        host: str = "127.0.0.1",
        port: int = 8443,
        *,
        node: str | None = None,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.kit = kit
        self.host = host
        self.port = port
        self.poll_interval = poll_interval
        self.tls = TlsContexts(kit, node=node)
        self._server: _HttpsServer | None = None
        self._stop = threading.Event()
        self._view_changed = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def start(self) -> None:
        """Build the view and the TLS context, bind the port, start the watcher."""
        self.kit.refresh_auth_view(force=True)
        self.tls.refresh()
        try:
            self._server = _HttpsServer((self.host, self.port), self)
        except OSError as error:
            raise CertkitError(
                f"Cannot listen on {self.host}:{self.port}: {error.strerror or error}."
            ) from None
        self.port = self._server.server_address[1]
        for target, name in ((self._watch, "certkit-watch"), (self._tls_loop, "certkit-tls")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("listening on %s (server certificate %s)", self.url, self.tls.server_thumbprint)

    def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        self._server.serve_forever(poll_interval=0.5)

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` from another thread."""
        if self._server is not None:
            self._server.shutdown()

    def close(self) -> None:
        """Stop watching, close the socket and write the last noted uses."""
        self._stop.set()
        self._view_changed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._server is not None:
            self._server.server_close()
        try:
            self.kit.flush_last_used(force=True)
        except CertkitError as error:
            log.warning("last used not written: %s", error)

    def _watch(self) -> None:
        """Refresh the view every ``poll_interval`` (requests see the change at once), tell
        the TLS thread when it changed, and write noted uses now and then."""
        since_flush = 0.0
        seen = self.kit.auth_view().generation
        while not self._stop.wait(self.poll_interval):
            try:
                self.kit.refresh_auth_view()
                generation = self.kit.auth_view().generation  # also after a request's refresh
                if generation != seen:
                    seen = generation
                    self._view_changed.set()
                since_flush += self.poll_interval
                if since_flush >= FLUSH_INTERVAL:
                    since_flush = 0.0
                    self.kit.flush_last_used()
            except CertkitError as error:
                log.warning("registry check failed, will retry: %s", error)
            except Exception:
                log.exception("registry check failed, will retry")

    def _tls_loop(self) -> None:
        """Rebuild the TLS context after view changes, apart from the watcher: with many
        trust anchors it takes seconds, and the watcher must keep enforcing changes."""
        last_prune = time.monotonic()
        while not self._stop.is_set():
            self._view_changed.wait(timeout=60)
            self._view_changed.clear()
            if self._stop.is_set():
                break
            prune = time.monotonic() - last_prune >= PRUNE_INTERVAL
            try:
                if self.tls.refresh(prune=prune):
                    log.info(
                        "tls context rebuilt (server certificate %s)", self.tls.server_thumbprint
                    )
                if prune:
                    last_prune = time.monotonic()
            except CertkitError as error:
                log.warning("tls context not rebuilt, will retry: %s", error)
                self._view_changed.set()
                self._stop.wait(1.0)
            except Exception:
                log.exception("tls context not rebuilt, will retry")
                self._view_changed.set()
                self._stop.wait(1.0)
