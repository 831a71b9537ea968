"""The expiry and usage analysis against answers worked out by hand.

One registry built on the injected clock (START = 2026-11-28 12:00 UTC, a Saturday):

| entry          | clearance | registered | expires    | last used  | databases              |
|----------------|-----------|------------|------------|------------|------------------------|
| expired-old    | User      | START-400d | START-100d | START-150d |                        |
| expired-recent | User      | START-400d | START-5d   | never      |                        |
| expiring-10    | User      | START-400d | START+10d  | START-1d   | HR: Read               |
| expiring-29    | Operator  | START-1d   | START+29d  | never      | HR: ReadWrite          |
| valid-60       | User      | START-400d | START+60d  | START-200d | hr: Admin, Sales: Read |
| valid-700      | User      | START      | START+700d | never      |                        |
| beyond         | Admin     | START      | START+5y   | never      |                        |
| renewed        | User      | START-400d | START+15d  | never      | Sales: Read            |
| renewed (new)  | User      | START      | START+400d | never      | Sales: Read            |

"renewed" is replaced by its renewal, so it is not expiring and not in the timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certkit import analysis, pki
from certkit.analysis import AnalysisSettings, expiry_report
from certkit.errors import InvalidInput
from certkit.model import CertificateRecord, CertState, KeyType, ListQuery
from certkit.ops import Certkit, open_certkit
from certkit.ops.expiry import AlertLevel, ExpiryThresholds
from tests.conftest import on_both_backends

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL

DAY = timedelta(days=1)


def utc(*args: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=UTC))


def touch(kit: Certkit, thumbprint: str, at: datetime) -> None:
    with kit.registry.transaction() as tx:
        tx.touch_last_used(thumbprint, at)


@pytest.fixture
def world(kit: Certkit, clock: Any) -> dict[str, str]:
    start = clock.moment
    made: dict[str, str] = {}

    def make(name: str, registered: timedelta, expires: timedelta, **options: Any) -> None:
        clock.moment = start + registered
        made[name] = kit.generate_client_certificate(
            name, expires=expires - registered, **options
        ).record.thumbprint

    make("expired-old", -400 * DAY, -100 * DAY)
    make("expired-recent", -400 * DAY, -5 * DAY)
    make("expiring-10", -400 * DAY, 10 * DAY, permissions={"HR": "Read"})
    make("expiring-29", -1 * DAY, 29 * DAY, clearance="Operator", permissions={"HR": "ReadWrite"})
    make("valid-60", -400 * DAY, 60 * DAY, permissions={"hr": "Admin", "Sales": "Read"})
    make("valid-700", 0 * DAY, 700 * DAY)
    make("beyond", 0 * DAY, 5 * 365 * DAY, clearance="ClusterAdmin")
    make("renewed", -400 * DAY, 15 * DAY, permissions={"Sales": "Read"})
    clock.moment = start
    made["renewal"] = kit.renew(made["renewed"], expires="400d").record.thumbprint
    touch(kit, made["expired-old"], start - 150 * DAY)
    touch(kit, made["expiring-10"], start - 1 * DAY)
    touch(kit, made["valid-60"], start - 200 * DAY)
    return made


def names(frame: pd.DataFrame) -> list[str]:
    return list(frame["name"])


def test_counts_by_state_clearance_and_database(kit: Certkit, world: dict[str, str]) -> None:
    report = expiry_report(kit)
    assert report.now == datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert dict(report.totals) == {
        "certificates": 9,
        "valid": 5,
        "expiring": 2,
        "expired": 2,
        "not-yet-valid": 0,
        "replaced": 1,
        "never_used": 5,
        "unused": 2,
        "shared_key_groups": 0,
        "shared_key_certificates": 0,
    }
    by_state = report.by_state.set_index("state")["certificates"].to_dict()
    assert by_state == {"valid": 5, "expiring": 2, "expired": 2, "not-yet-valid": 0}
    clearances = report.by_clearance.set_index("clearance")
    assert clearances["certificates"].to_dict() == {
        "ClusterAdmin": 1,
        "ClusterNode": 0,
        "Operator": 1,
        "ValidUser": 7,
    }
    user = clearances.loc["ValidUser"]
    assert (user["valid"], user["expiring"], user["expired"], user["replaced"]) == (4, 1, 2, 1)
    assert clearances.loc["Operator", "expiring"] == 1
    assert list(report.by_clearance["label"]) == [
        "Cluster Admin",
        "Cluster Node",
        "Operator",
        "User",
    ]
    databases = report.by_database.set_index("database")
    assert list(databases.index) == ["HR", "Sales"]  # "hr" and "HR" are one database
    assert databases.loc["HR"].to_dict() == {
        "certificates": 3, "Admin": 1, "ReadWrite": 1, "Read": 1, "expiring": 2, "expired": 0,
    }  # fmt: skip
    assert databases.loc["Sales"].to_dict() == {
        "certificates": 3, "Admin": 0, "ReadWrite": 0, "Read": 3, "expiring": 0, "expired": 0,
    }  # fmt: skip


def test_the_counts_agree_with_the_certificates_table(kit: Certkit, world: dict[str, str]) -> None:
    page = kit.list_certificates(ListQuery(limit=None))
    assert dict(page.counts_by_state) == {
        "valid": 5,
        "expiring": 2,
        "expired": 2,
        "not-yet-valid": 0,
    }
    renewed = kit.show(world["renewed"])
    assert isinstance(renewed, CertificateRecord) and renewed.replaced_by == world["renewal"]
    assert renewed.state(kit.now()) is CertState.VALID  # 15 days left, but renewed
    expiring = kit.list_certificates(ListQuery(state=CertState.EXPIRING, limit=None))
    assert [r.name for r in expiring.records] == ["expiring-10", "expiring-29"]


def test_expirations_per_week_and_month_for_two_years(kit: Certkit, world: dict[str, str]) -> None:
    report = expiry_report(kit)
    weeks = report.per_week
    assert weeks["period"].iloc[0] == utc(2026, 11, 23)  # the Monday of START's week
    assert weeks["period"].iloc[-1] == utc(2028, 11, 27)  # the last Monday before START+24m
    assert len(weeks) == 106
    assert (weeks["period"].diff().dropna() == pd.Timedelta(days=7)).all()
    due = weeks[weeks["certificates"] > 0].set_index("period")["certificates"].to_dict()
    assert due == {
        utc(2026, 12, 7): 1,  # expiring-10, Tue 2026-12-08
        utc(2026, 12, 21): 1,  # expiring-29, Sun 2026-12-27
        utc(2027, 1, 25): 1,  # valid-60, Wed 2027-01-27
        utc(2027, 12, 27): 1,  # the renewal, Sun 2028-01-02
        utc(2028, 10, 23): 1,  # valid-700, Sat 2028-10-28
    }
    assert weeks.set_index("period").loc[utc(2026, 12, 21), "operator"] == 1
    months = report.per_month
    assert len(months) == 25  # November 2026 to November 2028
    assert months["period"].iloc[0] == utc(2026, 11, 1)
    due = months[months["certificates"] > 0].set_index("period")["certificates"].to_dict()
    assert due == {utc(2026, 12, 1): 2, utc(2027, 1, 1): 1, utc(2028, 1, 1): 1, utc(2028, 10, 1): 1}
    assert int(months["certificates"].sum()) == 5  # not the expired, the renewed, nor "beyond"


def test_lists_of_expiring_expired_and_unused(kit: Certkit, world: dict[str, str]) -> None:
    report = expiry_report(kit)
    assert names(report.expiring) == ["expiring-10", "expiring-29"]
    assert list(report.expiring["days_left"]) == [10.0, 29.0]
    assert names(report.expired) == ["expired-old", "expired-recent"]
    assert list(report.expired["days_left"]) == [-100.0, -5.0]
    # oldest registration first, then by name: the renewal is also named "renewed"
    assert list(report.never_used["thumbprint"]) == [
        world[n] for n in ("renewed", "expiring-29", "beyond", "renewal", "valid-700")
    ]
    assert list(report.unused["thumbprint"]) == [world["renewed"], world["valid-60"]]
    renewal = report.never_used.set_index("thumbprint").loc[world["renewal"]]
    assert renewal["replaces"] == world["renewed"]


def test_unused_follows_its_threshold(kit: Certkit, world: dict[str, str]) -> None:
    report = expiry_report(kit, AnalysisSettings(unused=timedelta(days=250)))
    assert list(report.unused["thumbprint"]) == [world["renewed"]]  # 400 days idle
    report = expiry_report(kit, AnalysisSettings(unused=timedelta(hours=12)))
    # idle for more than 12 hours: all but the three registered at START; expiring-10 (used)
    # and expiring-29 (registered) have both been idle since START-1d: by name then
    assert list(report.unused["thumbprint"]) == [
        world[n] for n in ("renewed", "valid-60", "expiring-10", "expiring-29")
    ]
    assert report.totals["unused"] == 4


def test_expiring_follows_its_threshold(kit: Certkit, world: dict[str, str]) -> None:
    report = expiry_report(kit, AnalysisSettings(expiring=timedelta(days=90)))
    assert names(report.expiring) == ["expiring-10", "expiring-29", "valid-60"]
    report = expiry_report(kit, AnalysisSettings(expiring=timedelta(days=5)))
    assert report.totals["expiring"] == 0


def test_limits_keep_the_totals(kit: Certkit, world: dict[str, str]) -> None:
    report = expiry_report(kit, AnalysisSettings(list_limit=1))
    assert names(report.expired) == ["expired-old"]
    assert report.totals["expired"] == 2


def test_the_clock_moves_the_analysis(kit: Certkit, world: dict[str, str], clock: Any) -> None:
    clock.advance(20 * DAY)  # expiring-10 has expired; the renewed one has too
    report = expiry_report(kit)
    assert names(report.expired) == ["expired-old", "expired-recent", "expiring-10", "renewed"]
    assert names(report.expiring) == ["expiring-29"]
    assert report.per_week["period"].iloc[0] == utc(2026, 12, 14)


def shared_key_certificate(
    ca: tuple[pki.PrivateKey, x509.Certificate], key: Any, name: str, start: datetime
) -> x509.Certificate:
    ca_key, ca_cert = ca
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - DAY)
        .not_valid_after(start + 365 * DAY)
        .sign(ca_key, hashes.SHA256())
    )


@pytest.fixture
def shared(kit: Certkit) -> dict[str, str]:
    """Two entries with the same key, a collection whose second member has it too, and one
    with its own key."""
    now = kit.now()
    ca = pki.create_ca("Shared Key Test CA", now=now - 30 * DAY)
    key, lead, alone = (pki.generate_private_key(KeyType.EC_P256) for _ in range(3))
    certs = {
        "twin-a": shared_key_certificate(ca, key, "twin-a", now),
        "twin-b": shared_key_certificate(ca, key, "twin-b", now),
        "member": shared_key_certificate(ca, key, "member", now),
        "lead": shared_key_certificate(ca, lead, "lead", now),
        "alone": shared_key_certificate(ca, alone, "alone", now),
    }
    for name in ("twin-a", "twin-b", "alone"):
        kit.register(pki.certificate_pem(certs[name]), clearance="ValidUser", name=name)
    kit.register(
        pki.certificate_pem(certs["lead"]) + pki.certificate_pem(certs["member"]),
        clearance="Operator",
        name="collection",
    )
    return {name: pki.thumbprint(cert) for name, cert in certs.items()}


def test_certificates_that_share_a_key(kit: Certkit, shared: dict[str, str]) -> None:
    report = expiry_report(kit)
    assert report.totals["shared_key_groups"] == 1
    assert report.totals["shared_key_certificates"] == 3
    frame = report.shared_keys
    assert sorted(frame["thumbprint"]) == sorted(shared[n] for n in ("twin-a", "twin-b", "member"))
    assert frame["spki_sha256"].nunique() == 1
    assert set(frame["key_certificates"]) == {3}
    member = frame.set_index("thumbprint").loc[shared["member"]]
    assert (member["name"], member["entry"]) == ("collection", shared["lead"])


def test_key_hashes_missing_from_an_older_registry_are_filled(
    kit: Certkit, shared: dict[str, str]
) -> None:
    with kit.registry.transaction() as tx:
        tx._con.execute("UPDATE certificates SET spki_sha256 = NULL")
    report = expiry_report(kit)
    assert report.totals["shared_key_certificates"] == 3
    with kit.registry.read() as tx:
        assert tx._con.execute(
            "SELECT count(*) FROM certificates WHERE spki_sha256 IS NULL"
        ).fetchone() == (0,)


def test_a_version_2_registry_is_upgraded(kit: Certkit, clock: Any) -> None:
    """Schema 3 adds the key hash (filled in Python, lazily) and ``replaces`` (in SQL)."""
    old = kit.generate_client_certificate("old", expires="20d").record.thumbprint
    new = kit.generate_client_certificate("new", expires="1y").record.thumbprint
    with kit.registry.transaction() as tx:
        tx.set_replaced_by(tx.entry_id_of(old) or 0, new)
        tx._con.execute("ALTER TABLE certificates DROP COLUMN spki_sha256")
        tx._con.execute("ALTER TABLE entries DROP COLUMN replaces")
        tx.set_meta("schema_version", "2")
    reopened = open_certkit(kit.home.path, clock=clock)  # the same registry, on either backend
    record = reopened.show(new)
    assert isinstance(record, CertificateRecord) and record.replaces == old
    report = expiry_report(reopened)
    assert report.totals["replaced"] == 1
    with reopened.registry.read() as tx:
        assert tx.get_meta("schema_version") == "3"
        assert tx._con.execute(
            "SELECT count(*) FROM certificates WHERE spki_sha256 IS NULL"
        ).fetchone() == (0,)


def test_own_certificates_and_their_levels(kit: Certkit, clock: Any) -> None:
    kit.initialise()
    server = kit.server_certificates()[0]
    report = expiry_report(kit)
    own = report.own.set_index("kind")
    assert list(report.own["kind"]) == ["server", "ca"]
    assert own.loc["server", "thumbprint"] == server.thumbprint
    assert own.loc["server", "level"] == "ok"
    assert own.loc["ca", "level"] == "ok"
    for before, level in (
        (21, "ok"),
        (20, "warning"),
        (4, "warning"),
        (3, "error"),
        (0, "expired"),
    ):
        clock.moment = server.not_after - before * DAY
        frame = expiry_report(kit).own.set_index("kind")
        assert frame.loc["server", "level"] == level, before
        assert frame.loc["server", "days_left"] == before
    clock.moment = server.not_after - 10 * DAY
    strict = AnalysisSettings(server_warning=timedelta(days=30), server_error=timedelta(days=15))
    assert expiry_report(kit, strict).own.set_index("kind").loc["server", "level"] == "error"


def test_thresholds_are_checked() -> None:
    with pytest.raises(InvalidInput, match="error threshold"):
        AnalysisSettings(server_warning=timedelta(days=3), server_error=timedelta(days=20))
    with pytest.raises(InvalidInput, match="negative"):
        ExpiryThresholds(client=timedelta(days=-1))
    assert (
        ExpiryThresholds().server_level(
            datetime(2026, 1, 21, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
        )
        is AlertLevel.WARNING
    )


def test_an_empty_registry(kit: Certkit) -> None:
    report = expiry_report(kit)
    assert report.totals["certificates"] == 0
    assert report.by_database.empty and report.expiring.empty and report.shared_keys.empty
    assert len(report.per_month) == 25 and int(report.per_month["certificates"].sum()) == 0
    assert analysis.timeline_png(report).startswith(b"\x89PNG")


def test_plots_are_png(kit: Certkit, world: dict[str, str]) -> None:
    report = expiry_report(kit)
    for png in (
        analysis.timeline_png(report, period="week"),
        analysis.timeline_png(report, period="month"),
        analysis.breakdown_png(report),
    ):
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert (width, height) > (300, 200)
