"""The registry as pandas DataFrames: read-only SQL over it, and the expiry and usage analysis.

Frames are copies made through the :class:`~certkit.ops.Certkit` facade, so nothing here
can change the registry; :func:`run_sql` runs a query on an in-memory DuckDB that has no
file or network access. :func:`expiry_report` computes its counts in DuckDB on the
registry itself (:mod:`certkit.registry.analysis_queries`), so a registry of a million
certificates is never loaded into Python; :func:`timeline_png` and :func:`breakdown_png`
draw it (matplotlib, PNG bytes).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from certkit.errors import InvalidInput
from certkit.model import DEFAULT_EXPIRING_THRESHOLD, CertState, ListQuery, add_period
from certkit.ops import Certkit
from certkit.ops.expiry import SERVER_ERROR, SERVER_WARNING, ExpiryThresholds
from certkit.registry import analysis_queries as queries

_TIMES = ("not_before", "not_after", "last_used", "installed_at", "retired_at")
_COMMON = (
    "name", "thumbprint", "sha256", "kind", "clearance", "permissions", "not_before",
    "not_after", "state", "last_used", "two_factor", "subject", "issuer", "serial",
)  # fmt: skip
COLUMNS = {
    "certificates": (*_COMMON, "collection_size"),
    "server_certificates": (*_COMMON, "node", "hostnames", "installed_at", "retired_at"),
    "well_known": ("id", *_COMMON),
}


def registry_frames(kit: Certkit) -> dict[str, pd.DataFrame]:
    """Client, server and well-known certificates as DataFrames (times as UTC datetimes)."""
    now, threshold = kit.now(), kit.expiring_threshold
    query = ListQuery(limit=None, threshold=threshold)
    clients = [r.to_json(now, threshold) for r in kit.list_certificates(query).records]
    for row in clients:
        row["collection_size"] = len(row.pop("collection"))
    servers = [s.to_json(now, threshold) for s in kit.server_certificates(history=True)]
    for row in servers:
        row["hostnames"] = ", ".join(row["hostnames"])
    known = [w.to_json(now, threshold) for w in kit.well_known()]
    return {
        "certificates": _frame(clients, COLUMNS["certificates"]),
        "server_certificates": _frame(servers, COLUMNS["server_certificates"]),
        "well_known": _frame(known, COLUMNS["well_known"]),
    }


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    for row in rows:
        row["permissions"] = json.dumps(row["permissions"])
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in _TIMES:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def run_sql(frames: Mapping[str, pd.DataFrame], sql: str) -> pd.DataFrame:
    """Run a query over named frames in an in-memory DuckDB without file access."""
    con = duckdb.connect(":memory:", config={"enable_external_access": False})
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.execute(sql).fetch_df()
    except duckdb.Error as error:
        raise InvalidInput(f"The query failed: {error}") from None
    finally:
        con.close()


# ------------------------------------------------------------------ expiry and usage
DEFAULT_UNUSED = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Thresholds of an expiry analysis (the page's adjustable ones).

    ``expiring``: client certificates (default 30 days); ``server_warning`` and
    ``server_error``: the server, node and CA certificates (20 and 3 days); ``unused``: no
    use (or, never used, no registration) for this long (90 days); the timeline covers
    ``horizon_months`` (two years); lists hold at most ``list_limit`` rows.
    """

    expiring: timedelta = DEFAULT_EXPIRING_THRESHOLD
    server_warning: timedelta = SERVER_WARNING
    server_error: timedelta = SERVER_ERROR
    unused: timedelta = DEFAULT_UNUSED
    horizon_months: int = 24
    list_limit: int = 500

    def __post_init__(self) -> None:
        self.thresholds()  # validates the expiry thresholds
        if self.unused < timedelta(0):
            raise InvalidInput("The unused period cannot be negative.")
        if not 1 <= self.horizon_months <= 120:
            raise InvalidInput("The expiry timeline covers 1 to 120 months.")

    def thresholds(self) -> ExpiryThresholds:
        return ExpiryThresholds(self.expiring, self.server_warning, self.server_error)


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    """The expiry and usage analysis of a registry at ``now``.

    ``totals``: ``certificates``, one per state, ``replaced``, ``never_used``, ``unused``,
    ``shared_key_groups`` and ``shared_key_certificates``. Frames: ``by_state``,
    ``by_clearance``, ``by_database``, ``per_week`` and ``per_month`` (expirations from now
    to the horizon, every period), the lists ``expiring``, ``expired``, ``never_used``,
    ``unused`` and ``shared_keys`` (at most ``settings.list_limit`` rows each, with
    ``days_left``), and ``own``: the server, node and CA certificates with their ``level``.
    """

    now: datetime
    settings: AnalysisSettings
    totals: Mapping[str, int]
    by_state: pd.DataFrame = field(repr=False)
    by_clearance: pd.DataFrame = field(repr=False)
    by_database: pd.DataFrame = field(repr=False)
    per_week: pd.DataFrame = field(repr=False)
    per_month: pd.DataFrame = field(repr=False)
    expiring: pd.DataFrame = field(repr=False)
    expired: pd.DataFrame = field(repr=False)
    never_used: pd.DataFrame = field(repr=False)
    unused: pd.DataFrame = field(repr=False)
    shared_keys: pd.DataFrame = field(repr=False)
    own: pd.DataFrame = field(repr=False)


def expiry_report(kit: Certkit, settings: AnalysisSettings | None = None) -> ExpiryReport:
    """Analyse the registry at the kit's clock: counts, timeline, lists, shared keys and
    the expiry of certkit's own certificates (one read transaction for the registry)."""
    settings = settings or AnalysisSettings()
    now = kit.now()
    window = queries.Window(
        now=now,
        expiring=settings.expiring,
        unused=settings.unused,
        horizon=add_period(now, (settings.horizon_months, "m")),
    )
    own = kit.own_certificates()
    limit = settings.list_limit
    with kit.read_registry() as tx:
        by_clearance = queries.counts_by_clearance(tx, window)
        by_database = queries.counts_by_database(tx, window)
        per_week = queries.expirations(tx, window, "week")
        per_month = queries.expirations(tx, window, "month")
        lists = {
            "expiring": queries.expiring(tx, window, limit=limit),
            "expired": queries.expired(tx, window, limit=limit),
            "never_used": queries.never_used(tx, window, limit=limit),
            "unused": queries.unused(tx, window, limit=limit),
        }
        shared = queries.shared_keys(tx, limit=limit)
    for frame in lists.values():
        frame["days_left"] = _days_left(frame["not_after"], now)
    totals = {
        "certificates": int(by_clearance["certificates"].sum()),
        **{s: int(by_clearance[s].sum()) for s in queries.STATES},
        "replaced": int(by_clearance["replaced"].sum()),
        "never_used": int(by_clearance["never_used"].sum()),
        "unused": int(by_clearance["unused"].sum()),
        "shared_key_groups": int(shared["groups"].iloc[0]) if len(shared) else 0,
        "shared_key_certificates": int(shared["total"].iloc[0]) if len(shared) else 0,
    }
    by_state = pd.DataFrame(
        {
            "state": list(queries.STATES),
            "label": [CertState(s).label for s in queries.STATES],
            "certificates": [totals[s] for s in queries.STATES],
        }
    )
    thresholds = settings.thresholds()
    own_frame = pd.DataFrame(
        [o.to_json(now, thresholds) for o in own],
        columns=["kind", "name", "node", "thumbprint", "subject", "not_before", "not_after",
                 "days_left", "level"],
    )  # fmt: skip
    for column in ("not_before", "not_after"):
        own_frame[column] = pd.to_datetime(own_frame[column], utc=True)
    return ExpiryReport(
        now=now,
        settings=settings,
        totals=totals,
        by_state=by_state,
        by_clearance=by_clearance,
        by_database=by_database,
        per_week=per_week,
        per_month=per_month,
        shared_keys=shared.drop(columns=["groups", "total"]),
        own=own_frame,
        **lists,
    )


def _days_left(not_after: pd.Series, now: datetime) -> pd.Series:
    return ((not_after - pd.Timestamp(now)).dt.total_seconds() / 86400).round(1)


# --------------------------------------------------------------------------- plots
_GROUP_COLOURS = (("admin", "#7c3aed"), ("operator", "#2563eb"), ("user", "#9ca3af"))
_STATE_COLOURS = {
    "valid": "#16a34a",
    "expiring": "#d97706",
    "expired": "#dc2626",
    "not-yet-valid": "#4f46e5",
}


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100)
    return out.getvalue()


def timeline_png(report: ExpiryReport, *, period: str = "month") -> bytes:
    """The expiry timeline (``week`` or ``month``) as a stacked bar chart by clearance
    group, PNG bytes. Drawn on its own Figure: no global pyplot state, safe in a kernel."""
    from matplotlib.figure import Figure

    frame = report.per_week if period == "week" else report.per_month
    figure = Figure(figsize=(7.5, 3.0))
    axes = figure.add_subplot()
    labels = [p.strftime("%Y-%m-%d" if period == "week" else "%b %Y") for p in frame["period"]]
    bottom = [0] * len(frame)
    positions = list(range(len(frame)))
    for group, colour in _GROUP_COLOURS:
        values = [int(v) for v in frame[group]]
        axes.bar(positions, values, bottom=bottom, color=colour, label=group.title(), width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(labels) // 12)
    axes.set_xticks(positions[::step], labels[::step], rotation=45, ha="right", fontsize=7)
    axes.set_ylabel("certificates")
    axes.set_title(f"Client certificates expiring per {period}", fontsize=10)
    axes.legend(fontsize=7, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _png(figure)


def breakdown_png(report: ExpiryReport) -> bytes:
    """Certificates by state and by clearance (stacked by state), PNG bytes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 2.8))
    by_state, by_clearance = figure.subplots(1, 2)
    states = report.by_state
    by_state.barh(
        list(states["label"]),
        [int(v) for v in states["certificates"]],
        color=[_STATE_COLOURS[s] for s in states["state"]],
    )
    by_state.invert_yaxis()
    by_state.set_title("By state", fontsize=10)
    clearances = report.by_clearance
    left = [0] * len(clearances)
    for state in queries.STATES:
        values = [int(v) for v in clearances[state]]
        by_clearance.barh(
            list(clearances["label"]),
            values,
            left=left,
            color=_STATE_COLOURS[state],
            label=CertState(state).label,
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    by_clearance.invert_yaxis()
    by_clearance.set_title("By clearance", fontsize=10)
    by_clearance.legend(fontsize=7, frameon=False)
    for axes in (by_state, by_clearance):
        axes.tick_params(labelsize=8)
        axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _png(figure)
