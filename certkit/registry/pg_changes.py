"""Which changes to a PostgreSQL registry this process has heard of: the stamp that
``certkit serve`` compares to know when to re-read what authentication depends on."""

from __future__ import annotations

import threading
import time

import psycopg

CHANNEL = "certkit_changes"
"""The channel the registry's statement triggers notify, with the schema's name."""


class ChangeFeed:
    """Changes to one registry, as this process learns of them.

    A background connection LISTENs on the channel the triggers notify; the stamp counts
    notifications, commits of this process (known at once, before their notification comes
    back) and reconnections (a lost listener may have missed one). One per URL and process,
    shared by every :class:`~certkit.registry.postgres.PostgresRegistry` on it.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.count = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()  # listening (or failed to, and will retry)

    def bump(self) -> None:
        with self._lock:
            self.count += 1

    def stamp(self) -> int:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, args=(self._ready,), name="certkit-listen", daemon=True
                )
                self._thread.start()
        self._ready.wait(timeout=5)
        return self.count

    def _listen(self, ready: threading.Event) -> None:
        while True:
            try:
                with psycopg.connect(
                    self.url, autocommit=True, application_name="certkit-listen"
                ) as raw:
                    row = raw.execute("SELECT current_schema()").fetchone()
                    schema = str(row[0]) if row else ""
                    raw.execute(f"LISTEN {CHANNEL}")
                    self.bump()  # anything before LISTEN went unheard
                    ready.set()
                    while True:
                        for notice in raw.notifies(timeout=1.0):
                            if notice.payload == schema:  # not another registry's
                                self.bump()
            except psycopg.Error:
                self.bump()
                ready.set()
                time.sleep(0.5)


_FEEDS: dict[str, ChangeFeed] = {}
_FEEDS_LOCK = threading.Lock()


def feed(url: str) -> ChangeFeed:
    with _FEEDS_LOCK:
        if url not in _FEEDS:
            _FEEDS[url] = ChangeFeed(url)
        return _FEEDS[url]
