"""Run the notebooks against a throwaway certkit home, never the developer's ~/.certkit.

``pytest --nbval-lax --nbval-current-env notebooks/`` loads this file before nbval starts
its kernels, and the kernels inherit the environment set here.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_ENV = ("CERTKIT_HOME", "CERTKIT_KEY_PASSPHRASE", "CERTKIT_DATABASE_URL")
_saved: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    _saved.update({name: os.environ.get(name) for name in _ENV})
    os.environ["CERTKIT_HOME"] = tempfile.mkdtemp(prefix="certkit-nbval-")
    os.environ.pop("CERTKIT_KEY_PASSPHRASE", None)
    os.environ.pop("CERTKIT_DATABASE_URL", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ["CERTKIT_HOME"], ignore_errors=True)
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
