"""The HTML of the Expiry page: the figures, tables and rows, every value escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from certkit import analysis
from certkit.model import Clearance
from certkit.ui.common import day, escape

LIST_ROWS = 100
CSS = """
.ck-expiry-page .ck-expiry-plot { gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.ck-expiry-page .widget-image { max-width: 100%; height: auto; flex: 0 1 auto; }
.ck-expiry-page .ck-expiry-numbers, .ck-expiry-page .ck-expiry-counts { flex: 1 1 260px; }
.ck-nums { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
.ck-num { border: 1px solid var(--ck-border); border-radius: 8px; padding: 8px 10px; }
.ck-num-value { display: block; font-size: 20px; font-weight: 650; }
.ck-num-label { color: var(--ck-muted); font-size: 12px; }
.ck-num.ck-bad .ck-num-value { color: var(--ck-danger); }
.ck-num.ck-warn .ck-num-value { color: #b45309; }
.ck-level-ok { background: #dcfce7; color: #166534; }
.ck-level-warning { background: #fef3c7; color: #92400e; }
.ck-level-error, .ck-level-expired { background: #fee2e2; color: #991b1b; }
.ck-expiry-page .ck-row { grid-template-columns: minmax(0, 1fr) 150px; }
.ck-expiry-cells { display: grid; gap: 10px; align-items: center;
  grid-template-columns: 1.4fr 2.3fr 1fr 0.9fr 0.7fr 0.9fr; }
.ck-thresholds { gap: 12px; flex-wrap: wrap; align-items: flex-end; }
.ck-thresholds .ck-field { width: 170px; }
"""
_NUMBERS = (
    ("certificates", "client certificates", ""),
    ("expiring", "expiring within {expiring} days", "ck-warn"),
    ("expired", "expired, still registered", "ck-bad"),
    ("replaced", "renewed, kept until they expire", ""),
    ("never_used", "never used", ""),
    ("unused", "unused for {unused} days", "ck-warn"),
    ("not-yet-valid", "not yet valid", ""),
    ("shared_key_certificates", "sharing a public key", "ck-bad"),
)
Column = tuple[str, str, Callable[[Any], str]]


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _date(value: Any) -> str:
    return escape(day(value.to_pydatetime())) if isinstance(value, pd.Timestamp) else "never"


def _code(value: Any) -> str:
    text = _text(value)
    return f"<code>{escape(text)}</code>" if text else ""


def _clearance(value: Any) -> str:
    clearance = Clearance(str(value))
    return (
        f'<span class="ck-badge ck-clr-{clearance.group.lower()}">{escape(clearance.label)}</span>'
    )


def _number(value: Any) -> str:
    return escape(f"{value:g}") if isinstance(value, float) else escape(_text(value))


def _name(value: Any) -> str:
    return f'<span class="ck-name">{escape(_text(value))}</span>'


def table_html(frame: pd.DataFrame, columns: Sequence[Column], *, total: int, empty: str) -> str:
    """Rows of a frame as an escaped table (at most LIST_ROWS), with how many there are."""
    if frame.empty:
        return f'<p class="ck-empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{show(row[key])}</td>" for key, _, show in columns) + "</tr>"
        for _, row in frame.head(LIST_ROWS).iterrows()
    )
    shown = min(len(frame), LIST_ROWS)
    note = f"Showing {shown:,} of {total:,}." if total > shown else f"{total:,} in all."
    return (
        f'<table class="ck-table-plain"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
        f'</table><p class="ck-hint">{escape(note)}</p>'
    )


_PEOPLE: tuple[Column, ...] = (
    ("name", "Name", _name),
    ("thumbprint", "Thumbprint", _code),
    ("clearance", "Clearance", _clearance),
)
EXPIRED_COLUMNS = (
    *_PEOPLE,
    ("not_after", "Expired on", _date),
    ("last_used", "Last used", _date),
    ("replaced_by", "Replaced by", _code),
)
UNUSED_COLUMNS = (
    *_PEOPLE,
    ("created_at", "Registered", _date),
    ("last_used", "Last used", _date),
    ("not_after", "Expires", _date),
)
SHARED_COLUMNS: tuple[Column, ...] = (
    ("spki_sha256", "Public key (SHA-256)", lambda v: _code(_text(v)[:16] + "…")),
    ("name", "Name", _name),
    ("thumbprint", "Thumbprint", _code),
    ("not_after", "Expires", _date),
    ("replaced_by", "Replaced by", _code),
)


def numbers_html(report: analysis.ExpiryReport) -> str:
    settings = report.settings
    days = {"expiring": settings.expiring.days, "unused": settings.unused.days}
    items = []
    for key, label, alarm in _NUMBERS:
        value = report.totals[key]
        tone = alarm if value else ""
        items.append(
            f'<div class="ck-num ck-expiry-num-{key} {tone}"><span class="ck-num-value">'
            f'{value:,}</span><span class="ck-num-label">{escape(label.format(**days))}'
            "</span></div>"
        )
    return f'<div class="ck-nums">{"".join(items)}</div>'


def counts_html(report: analysis.ExpiryReport) -> str:
    """The numbers behind the breakdown plot: by state, clearance and database."""
    states = "".join(
        f"<tr><td>{escape(r.label)}</td><td>{int(r.certificates):,}</td></tr>"
        for r in report.by_state.itertuples()
    )
    clearances = "".join(
        f"<tr><td>{escape(r.label)}</td><td>{int(r.certificates):,}</td>"
        f"<td>{int(r.expiring):,}</td><td>{int(r.expired):,}</td></tr>"
        for r in report.by_clearance.itertuples()
    )
    databases = "".join(
        f"<tr><td>{escape(r.database)}</td><td>{int(r.certificates):,}</td>"
        f"<td>{int(r.expiring):,}</td><td>{int(r.expired):,}</td></tr>"
        for r in report.by_database.head(20).itertuples()
    )
    more = len(report.by_database) - 20
    return (
        '<table class="ck-table-plain ck-expiry-by-state"><thead><tr><th>State</th>'
        f"<th>Certificates</th></tr></thead><tbody>{states}</tbody></table>"
        '<table class="ck-table-plain ck-expiry-by-clearance"><thead><tr><th>Clearance</th>'
        "<th>Certificates</th><th>Expiring</th><th>Expired</th></tr></thead>"
        f"<tbody>{clearances}</tbody></table>"
        '<table class="ck-table-plain ck-expiry-by-database"><thead><tr><th>Database</th>'
        "<th>Certificates</th><th>Expiring</th><th>Expired</th></tr></thead>"
        f"<tbody>{databases}</tbody></table>"
        + (f'<p class="ck-hint">and {more:,} more databases</p>' if more > 0 else "")
    )


def own_html(report: analysis.ExpiryReport) -> str:
    """Server, node and CA certificates with their alert level against the thresholds."""
    settings = report.settings
    rows = "".join(
        f'<tr class="ck-expiry-own-row"><td>{escape(r.name)}</td><td>{_code(r.thumbprint)}</td>'
        f"<td>{_date(r.not_after)}</td><td>{escape(f'{r.days_left:g}')}</td>"
        f'<td><span class="ck-badge ck-level-{escape(r.level)}">{escape(r.level)}</span></td>'
        "</tr>"
        for r in report.own.itertuples()
    )
    return (
        f'<p class="ck-note">Warning within {settings.server_warning.days} days, error within '
        f"{settings.server_error.days} days.</p>"
        '<table class="ck-table-plain"><thead><tr><th>Certificate</th><th>Thumbprint</th>'
        f"<th>Expires</th><th>Days left</th><th>Level</th></tr></thead><tbody>{rows}</tbody>"
        "</table>"
    )


def expiring_row_html(row: pd.Series) -> str:
    renewal = (
        f'<div class="ck-hint ck-renewal-of">renewal of {_code(row["replaces"])}</div>'
        if _text(row["replaces"])
        else ""
    )
    two_factor = ' <span class="ck-badge ck-badge-2fa">2FA</span>' if row["two_factor"] else ""
    cells = [
        ("name", f"{_name(row['name'])}{two_factor}{renewal}"),
        ("thumbprint", _code(row["thumbprint"])),
        ("clearance", _clearance(row["clearance"])),
        ("expiration", _date(row["not_after"])),
        ("days-left", f"{_number(row['days_left'])} days"),
        ("last-used", _date(row["last_used"])),
    ]
    inner = "".join(f'<div class="ck-cell ck-cell-{k}">{v}</div>' for k, v in cells)
    return f'<div class="ck-expiry-cells">{inner}</div>'
