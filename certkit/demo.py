"""``certkit demo``: seed a small demo registry to show every part of the Certificates view.

Several clearances and permissions, certificates about to expire and expired ones, a
collection (one PEM with three client certificates registered as one entry), two-factor
authentication on one, and a well-known admin thumbprint. Seeding is skipped when the
registry already has client certificates, so running it twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from certkit import pki
from certkit.model import Clearance, Clock, ListQuery
from certkit.ops import Certkit

_CURRENT: tuple[tuple[str, Clearance, dict[str, str], str, bool], ...] = (
    ("alice-admin", Clearance.CLUSTER_ADMIN, {}, "5y", False),
    ("ops-oncall", Clearance.OPERATOR, {}, "2y", False),
    (
        "reporting-service",
        Clearance.VALID_USER,
        {"Sales": "Read", "Marketing": "Read"},
        "1y",
        False,
    ),
    ("hr-portal", Clearance.VALID_USER, {"HR": "ReadWrite"}, "2y", True),
    (
        "orders-api",
        Clearance.VALID_USER,
        {"Orders": "Admin", "Inventory": "ReadWrite"},
        "5y",
        False,
    ),
    ("billing-batch", Clearance.VALID_USER, {"Billing": "ReadWrite"}, "20d", False),
    ("nightly-backup", Clearance.OPERATOR, {}, "9d", False),
)
_EXPIRED: tuple[tuple[str, Clearance, dict[str, str], int, str], ...] = (
    # name, clearance, permissions, issued this many days ago, valid for
    ("legacy-importer", Clearance.VALID_USER, {"Orders": "Read"}, 400, "90d"),
    ("contractor-2024", Clearance.VALID_USER, {"Sales": "ReadWrite"}, 400, "1y"),
)
COLLECTION_NAME = "partner-gateway"


def seed_demo(kit: Certkit) -> None:
    """Fill an empty registry with demo certificates; do nothing if it has any already."""
    if kit.list_certificates(ListQuery(limit=1, threshold=kit.expiring_threshold)).total:
        return
    for name, clearance, permissions, expires, two_factor in _CURRENT:
        kit.generate_client_certificate(
            name,
            clearance=clearance,
            permissions=permissions,
            expires=expires,
            two_factor=two_factor,
        )
    for name, clearance, permissions, days_ago, expires in _EXPIRED:
        past = kit.now() - timedelta(days=days_ago)
        then = Certkit(kit.home, clock=_fixed(past), expiring_threshold=kit.expiring_threshold)
        then.generate_client_certificate(
            name, clearance=clearance, permissions=permissions, expires=expires
        )
    kit.register(
        _partner_collection(kit),
        clearance=Clearance.VALID_USER,
        name=COLLECTION_NAME,
        permissions={"Orders": "Read"},
        source="partner-gateway.pem",
    )
    kit.add_well_known_admin(_break_glass_thumbprint(kit))


def _fixed(moment: datetime) -> Clock:
    """A clock stopped at ``moment`` (to issue certificates that are expired by now)."""
    return lambda: moment


def _partner_collection(kit: Certkit) -> bytes:
    """A PEM as a partner would send it: three client certificates and their issuing CA."""
    now = kit.now()
    ca_key, ca_cert = pki.create_ca("Partner Corp Issuing CA", now=now, years=5)
    pem = b""
    for index in range(1, 4):
        _, cert = pki.issue_client_certificate(
            ca_key,
            ca_cert,
            f"partner-gateway-{index}",
            now=now,
            not_after=now + timedelta(days=700),
        )
        pem += pki.certificate_pem(cert)
    return pem + pki.certificate_pem(ca_cert)


def _break_glass_thumbprint(kit: Certkit) -> str:
    """The thumbprint of an offline "break glass" admin certificate kept outside certkit."""
    now = kit.now()
    ca_key, ca_cert = pki.create_ca("Break-glass Admin", now=now, years=10)
    _, cert = pki.issue_client_certificate(
        ca_key, ca_cert, "break-glass-admin", now=now, not_after=now + timedelta(days=3650)
    )
    return pki.thumbprint(cert)
