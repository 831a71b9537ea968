"""certkit's web pages, built with ipywidgets and served by Voila.

Each page is a function that takes its dependencies and returns a widget; the notebooks
in ``notebooks/`` only call them.
"""

from __future__ import annotations

from certkit.ui.certificates import certificates_page
from certkit.ui.explore import explore_page

__all__ = ["certificates_page", "explore_page"]
