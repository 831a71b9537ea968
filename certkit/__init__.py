"""certkit: client and server certificates for a secure service.

The Python API is the same set of operations as the command line and the web app::

    from certkit import open_certkit, Clearance

    kit = open_certkit()                     # $CERTKIT_HOME or ~/.certkit
    made = kit.generate_client_certificate(
        "alice", clearance=Clearance.VALID_USER, permissions={"HR": "ReadWrite"}
    )
    open("alice.zip", "wb").write(made.zip_bytes)

Names are imported lazily, so ``certkit --help`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Certkit": "certkit.ops",
    "open_certkit": "certkit.ops",
    "Registration": "certkit.ops",
    "UploadPreview": "certkit.ops",
    "Edited": "certkit.ops",
    "Access": "certkit.model",
    "Actor": "certkit.model",
    "CertificateRecord": "certkit.model",
    "CertKind": "certkit.model",
    "CertState": "certkit.model",
    "Clearance": "certkit.model",
    "GeneratedCertificate": "certkit.model",
    "KeyType": "certkit.model",
    "ListQuery": "certkit.model",
    "LOCAL_ADMIN": "certkit.model",
    "Page": "certkit.model",
    "Pkcs12Profile": "certkit.model",
    "Secret": "certkit.model",
    "ServerCertificate": "certkit.model",
    "SortKey": "certkit.model",
    "TotpEnrollment": "certkit.model",
    "WellKnownEntry": "certkit.model",
    "CertkitError": "certkit.errors",
    "Conflict": "certkit.errors",
    "InvalidInput": "certkit.errors",
    "NotFound": "certkit.errors",
    "PermissionDenied": "certkit.errors",
    "RegistryBusy": "certkit.errors",
    "TotpRejected": "certkit.errors",
    "WrongPassphrase": "certkit.errors",
}

__all__ = [
    "LOCAL_ADMIN",
    "Access",
    "Actor",
    "CertKind",
    "CertState",
    "CertificateRecord",
    "Certkit",
    "CertkitError",
    "Clearance",
    "Conflict",
    "Edited",
    "GeneratedCertificate",
    "InvalidInput",
    "KeyType",
    "ListQuery",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Pkcs12Profile",
    "Registration",
    "RegistryBusy",
    "Secret",
    "ServerCertificate",
    "SortKey",
    "TotpEnrollment",
    "TotpRejected",
    "UploadPreview",
    "WellKnownEntry",
    "WrongPassphrase",
    "open_certkit",
]

if TYPE_CHECKING:
    from certkit.errors import (
        CertkitError,
        Conflict,
        InvalidInput,
        NotFound,
        PermissionDenied,
        RegistryBusy,
        TotpRejected,
        WrongPassphrase,
    )
    from certkit.model import (
        LOCAL_ADMIN,
        Access,
        Actor,
        CertificateRecord,
        CertKind,
        CertState,
        Clearance,
        GeneratedCertificate,
        KeyType,
        ListQuery,
        Page,
        Pkcs12Profile,
        Secret,
        ServerCertificate,
        SortKey,
        TotpEnrollment,
        WellKnownEntry,
    )
    from certkit.ops import Certkit, Edited, Registration, UploadPreview, open_certkit


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'certkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
