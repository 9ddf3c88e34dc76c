"""A small in-memory rate limiter: the public event beacon (per client address) and API keys (per key).

Fixed one-minute windows. A beacon's address is held in memory for the current window only and
never stored: the stats stay free of personal data. One process = one limiter; with several API
replicas each limits on its own (the limit is per process, said so in the setting), which is
enough to keep a runaway script from starving other tenants of a replica; a proxy's or gateway's
rate limiting is the tool for a global one.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, per_window: int, window_seconds: float = 60.0):
        self.per_window = per_window
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def allow(self, client: str) -> bool:
        """Count one request from `client`; False once it is over the limit in this window."""
        window = int(time.monotonic() // self.window_seconds)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts.get(client, 0) + 1
            self._counts[client] = count
            return count <= self.per_window

    def retry_after(self) -> int:
        """Whole seconds until the next window starts."""
        return max(1, int(self.window_seconds - time.monotonic() % self.window_seconds) + 1)
