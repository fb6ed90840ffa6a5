"""Whether a page script is running in this server: background work (the cache warmer) waits for quiet.

Imports nothing heavy, so the page counts itself from its first line, before flowsim loads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class PageActivity:
    """How many page scripts run in this server now, and since when none has."""

    def __init__(self) -> None:
        self._running = 0
        self._quiet_since = time.monotonic()
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around a page script run: background work waits (and stops) while any runs."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._quiet_since = time.monotonic()

    @property
    def busy(self) -> bool:
        return self._running > 0

    def quiet_for(self) -> float:
        """Seconds since the last page script ended (0 while one runs)."""
        with self._lock:
            return 0.0 if self._running else time.monotonic() - self._quiet_since


ACTIVITY = PageActivity()
