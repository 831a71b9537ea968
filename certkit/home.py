"""The certkit home: where the registry file, key files and the local secret live.

``$CERTKIT_HOME`` (default ``~/.certkit``) holds ``registry.duckdb``, the CA and server keys
as passphrase-protected PKCS#12 files, and, on the embedded default, ``secret.key``: a
random passphrase in a 0600 file, never inside the database. ``CERTKIT_KEY_PASSPHRASE``
replaces that file where it is set.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from certkit.errors import InvalidInput
from certkit.model import Secret

REGISTRY_FILE = "registry.duckdb"
SECRET_FILE = "secret.key"


def default_home() -> Path:
    env = os.environ.get("CERTKIT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".certkit"


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (0600), atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class Home:
    """Paths of one certkit home."""

    path: Path

    @classmethod
    def at(cls, path: Path | str | None = None) -> Home:
        home = Path(path).expanduser() if path is not None else default_home()
        if home.exists() and not home.is_dir():
            raise InvalidInput(f"The certkit home {home} is a file, not a directory.")
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(home.resolve())

    @property
    def registry_path(self) -> Path:
        return self.path / REGISTRY_FILE

    def key_file(self, name: str) -> Path:
        return self.path / name

    def key_passphrase(self) -> Secret:
        """``CERTKIT_KEY_PASSPHRASE`` if set, else the home's random secret (created once)."""
        env = os.environ.get("CERTKIT_KEY_PASSPHRASE")
        if env is not None:
            if not env:
                raise InvalidInput("CERTKIT_KEY_PASSPHRASE is set but empty; give it a value.")
            return Secret(env)
        path = self.path / SECRET_FILE
        if not path.exists():
            # Write a complete temp file, then link it into place: a concurrent first run
            # either wins the link or reads the winner's complete file.
            tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        value = path.read_text().strip()
        if not value:
            raise InvalidInput(f"{path} is empty; restore it from a backup.")
        return Secret(value)
