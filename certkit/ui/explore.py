"""The Explore page: the registry as pandas DataFrames, queried with SQL, read-only.

The frames are copies made through the Certkit facade. SQL is run by a ``SqlRunner``: the
one of ``certkit.analysis.run_sql`` (DuckDB in memory, without file access; the UI itself
never imports DuckDB), or one given by the caller. Nothing here can change the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets
import pandas as pd

from certkit import analysis
from certkit.errors import InvalidInput
from certkit.ops import Certkit, open_certkit
from certkit.ui.common import (
    Banner,
    Parts,
    css,
    escape,
    on_change,
    on_click,
    reports_errors,
)
from certkit.ui.style import stylesheet

ROW_LIMIT = 500
DEFAULT_SQL = (
    "SELECT clearance, state, count(*) AS certificates\n"
    "FROM certificates\nGROUP BY ALL\nORDER BY certificates DESC"
)
SqlRunner = Callable[[Mapping[str, pd.DataFrame], str], pd.DataFrame]
"""Runs SQL over named frames; raises a CertkitError (InvalidInput) for a bad query."""


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


def explore_page(
    kit: Certkit | None = None, *, run_sql: SqlRunner = analysis.run_sql
) -> widgets.VBox:
    """The Explore page as one widget (``ck-explore-*``).

    Args:
        kit: The certkit home; ``None`` opens the default (``$CERTKIT_HOME``).
        run_sql: What runs the SQL panel; default :func:`certkit.analysis.run_sql`.
    """
    kit = kit or open_certkit()
    runner = run_sql
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
        frames.update(analysis.registry_frames(kit))
        table.options = [(f"{name} ({len(f):,} rows)", name) for name, f in frames.items()]
        table.value = "certificates"
        show_table()

    def query() -> None:
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
