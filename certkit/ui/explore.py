"""The Explore page: the registry as pandas DataFrames, queried with SQL, read-only.

The frames are copies made through the Certkit facade. SQL is run by a ``SqlRunner``: the
one of ``certkit.analysis.run_sql`` (DuckDB in memory, without file access; the UI itself
never imports DuckDB), or one given by the caller. Nothing here can change the registry.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping

import ipywidgets as widgets
import pandas as pd

from certkit.errors import InvalidInput
from certkit.model import ListQuery
from certkit.ops import Certkit, open_certkit
from certkit.ui.common import (
    Banner,
    Parts,
    css,
    escape,
    on_change,
    on_click,
    reports_errors,
    set_visible,
)
from certkit.ui.style import stylesheet

ROW_LIMIT = 500
DEFAULT_SQL = (
    "SELECT clearance, state, count(*) AS certificates\n"
    "FROM certificates\nGROUP BY ALL\nORDER BY certificates DESC"
)
SqlRunner = Callable[[Mapping[str, pd.DataFrame], str], pd.DataFrame]
"""Runs SQL over named frames; raises a CertkitError (InvalidInput) for a bad query."""
_TIMES = ("not_before", "not_after", "last_used", "installed_at", "retired_at")
_COMMON = (
    "name", "thumbprint", "sha256", "kind", "clearance", "permissions", "not_before",
    "not_after", "state", "last_used", "two_factor", "subject", "issuer", "serial",
)  # fmt: skip
_COLUMNS = {
    "certificates": (*_COMMON, "collection_size"),
    "server_certificates": (*_COMMON, "node", "hostnames", "installed_at", "retired_at"),
    "well_known": ("id", *_COMMON),
}


def registry_frames(kit: Certkit) -> dict[str, pd.DataFrame]:
    """Client, server and well-known certificates as DataFrames (times as UTC datetimes)."""
    now = kit.now()
    query = ListQuery(limit=None, threshold=kit.expiring_threshold)
    clients = [r.to_json(now, kit.expiring_threshold) for r in kit.list_certificates(query).records]
    for row in clients:
        row["permissions"] = json.dumps(row["permissions"])
        row["collection_size"] = len(row.pop("collection"))
    servers = [
        s.to_json(now, kit.expiring_threshold) for s in kit.server_certificates(history=True)
    ]
    for row in servers:
        row["hostnames"] = ", ".join(row["hostnames"])
        row["permissions"] = json.dumps(row["permissions"])
        row.pop("collection")
    known = [w.to_json(now, kit.expiring_threshold) for w in kit.well_known()]
    for row in known:
        row["permissions"] = json.dumps(row["permissions"])
        row.pop("collection")
    return {
        "certificates": _frame(clients, _COLUMNS["certificates"]),
        "server_certificates": _frame(servers, _COLUMNS["server_certificates"]),
        "well_known": _frame(known, _COLUMNS["well_known"]),
    }


def _frame(rows: list[dict[str, object]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in _TIMES:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def default_sql_runner() -> SqlRunner | None:
    """``certkit.analysis.run_sql`` where the analysis layer provides it, else None."""
    try:
        module = importlib.import_module("certkit.analysis")
    except ImportError:
        return None
    runner = getattr(module, "run_sql", None)
    return runner if callable(runner) else None


def _checked(runner: SqlRunner, frames: Mapping[str, pd.DataFrame], sql: str) -> pd.DataFrame:
    if not sql.strip():
        raise InvalidInput("Write a SQL query first, e.g. SELECT * FROM certificates.")
    result = runner(frames, sql)
    if not isinstance(result, pd.DataFrame):
        raise InvalidInput("The query returned no table.")
    return result


def frame_html(frame: pd.DataFrame, *, limit: int = ROW_LIMIT) -> str:
    """A DataFrame as an escaped HTML table, with a note when rows were left out."""
    shown = frame.head(limit).to_html(index=False, escape=True, border=0, na_rep="")
    more = (
        f'<p class="ck-hint">Showing {limit:,} of {len(frame):,} rows.</p>'
        if len(frame) > limit
        else f'<p class="ck-hint">{len(frame):,} rows.</p>'
    )
    return f'<div class="ck-frame">{shown}</div>{more}'


def explore_page(kit: Certkit | None = None, *, run_sql: SqlRunner | None = None) -> widgets.VBox:
    """The Explore page as one widget (``ck-explore-*``).

    Args:
        kit: The certkit home; ``None`` opens the default (``$CERTKIT_HOME``).
        run_sql: What runs the SQL panel; default :func:`default_sql_runner`. Without one,
            the panel says so and only the tables are shown.
    """
    kit = kit or open_certkit()
    runner = run_sql or default_sql_runner()
    parts = Parts()
    banner = Banner(parts, "ck-banner")
    frames: dict[str, pd.DataFrame] = {}
    table = widgets.Dropdown(options=[("certificates", "certificates")], value="certificates")
    css(table, "ck-input", "ck-explore-table")
    preview = parts.html("", "ck-explore-frame")
    sql = widgets.Textarea(value=DEFAULT_SQL)
    css(sql, "ck-input", "ck-sql", "ck-explore-sql")
    run = parts.button("Run query", "ck-explore-run", kind="primary", icon="play")
    reload = parts.button("Reload from registry", "ck-explore-reload", icon="refresh")
    result = parts.html("", "ck-explore-result")

    def show_table() -> None:
        frame = frames.get(str(table.value))
        preview.value = frame_html(frame) if frame is not None else ""

    def load() -> None:
        frames.clear()
        frames.update(registry_frames(kit))
        table.options = [(f"{name} ({len(f):,} rows)", name) for name, f in frames.items()]
        table.value = "certificates"
        show_table()

    def query() -> None:
        if runner is None:
            raise InvalidInput("SQL needs certkit.analysis.run_sql, which is not installed.")
        result.value = frame_html(_checked(runner, frames, sql.value))
        banner.clear()

    def reload_all() -> None:
        load()
        banner.success("Reloaded from the registry.")

    on_change(table, banner, show_table)
    on_click(run, banner, query)
    on_click(reload, banner, reload_all)
    reports_errors(banner)(load)()
    tables = ", ".join(
        escape(name) for name in ("certificates", "server_certificates", "well_known")
    )
    if runner is None:
        result.value = (
            '<p class="ck-note">SQL is not available: it needs <code>certkit.analysis.run_sql'
            "</code>. The tables above are the registry as DataFrames.</p>"
        )
        set_visible(sql, False)
        set_visible(run, False)
    return parts.vbox(
        [
            stylesheet(),
            parts.hbox(
                [
                    parts.html('<div class="ck-title"><h1>Explore the registry</h1></div>'),
                    parts.hbox([reload], "ck-actions"),
                ],
                "ck-header",
            ),
            banner.widget,
            parts.card("Tables", [table, preview]),
            parts.card(
                "SQL (read-only)",
                [
                    parts.html(f'<p class="ck-note">Tables: {tables}.</p>'),
                    sql,
                    parts.hbox([run], "ck-actions"),
                    result,
                ],
            ),
        ],
        "ck-page",
        "ck-explore",
    )
