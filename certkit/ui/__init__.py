"""certkit's web pages, built with ipywidgets and served by Voila.

Each page is a function that takes its dependencies and returns a widget; the notebooks
in ``notebooks/`` only call them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from certkit.ui.certificates import certificates_page

if TYPE_CHECKING:
    from certkit.ui.expiry import expiry_page
    from certkit.ui.explore import explore_page

__all__ = ["certificates_page", "expiry_page", "explore_page"]


def __getattr__(name: str) -> Any:
    # The Explore page needs pandas (~0.2 s to import): load it only when asked for, so
    # that the Certificates view's kernel starts without it.
    if name == "explore_page":
        from certkit.ui.explore import explore_page

        return explore_page
    if name == "expiry_page":  # pandas and matplotlib, likewise
        from certkit.ui.expiry import expiry_page

        return expiry_page
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
