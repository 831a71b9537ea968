"""Headless UI fixtures: a page on a temp home, test certificates, and a guard that fails
any test in which a widget callback raised (ipywidgets only logs such errors)."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509

from certkit import pki
from certkit.model import Secret
from certkit.ops import Certkit
from certkit.ui.certificates import CertificatesView, build_certificates_view


class CallbackErrors(logging.Handler):
    """Collects "Exception in callback" (ipywidgets) and unexpected certkit.ui errors."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.allow_ui_errors = False

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Exception in callback" in message:
            self.records.append(record)
        elif record.name == "certkit.ui" and record.levelno >= logging.ERROR:
            if not self.allow_ui_errors:
                self.records.append(record)


@pytest.fixture(autouse=True)
def callback_errors() -> Iterator[CallbackErrors]:
    """Installed for every UI test; checked after the test body by the hook below."""
    handler = CallbackErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture
def allow_ui_errors(callback_errors: CallbackErrors) -> CallbackErrors:
    """For the tests that provoke an unexpected error on purpose."""
    callback_errors.allow_ui_errors = True
    return callback_errors


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    result = yield
    handler = getattr(item, "funcargs", {}).get("callback_errors")
    if isinstance(handler, CallbackErrors) and handler.records:
        first = handler.records[0]
        pytest.fail(f"a widget callback raised: {first.getMessage()}", pytrace=False)
    return result


@pytest.fixture
def view(kit: Certkit) -> CertificatesView:
    return build_certificates_view(kit)


@dataclass
class PartnerCA:
    """A CA outside certkit that issues client certificates for uploads."""

    key: pki.PrivateKey
    cert: x509.Certificate
    kit: Certkit

    def client(self, name: str, *, days: int = 365) -> tuple[pki.PrivateKey, x509.Certificate]:
        now = self.kit.now()
        return pki.issue_client_certificate(
            self.key, self.cert, name, now=now, not_after=now + timedelta(days=days)
        )

    def pem(self, *names: str, with_ca: bool = True) -> bytes:
        data = b"".join(pki.certificate_pem(self.client(n)[1]) for n in names)
        return data + (pki.certificate_pem(self.cert) if with_ca else b"")

    def pfx(self, name: str, passphrase: str) -> bytes:
        key, cert = self.client(name)
        return pki.pkcs12_bytes(name, key, cert, [self.cert], passphrase=Secret(passphrase))


@pytest.fixture
def partner_ca(kit: Certkit) -> PartnerCA:
    key, cert = pki.create_ca("UI Test Partner CA", now=kit.now(), years=5)
    return PartnerCA(key, cert, kit)
