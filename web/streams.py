"""How many event streams are open, per conversation and per client address.

Each open stream holds a socket, a coroutine and its database re-reads for up to
STREAM_SECONDS (web/live.py), so a client that opened streams without end would hold
them all. The count is process-local: a stream lives in one process, and counting
here costs no round trip. With
several web processes (SUPPORT_WEB_WORKERS) each process counts its own streams, so
the caps hold per process, and one client may hold at most that many times the cap.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class StreamSlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Counter[tuple[str, str]] = Counter()

    def acquire(
        self, conversation: str, address: str, per_conversation: int, per_address: int
    ) -> Callable[[], None] | None:
        """A release function for a new stream, or None when either cap is reached."""
        keys = (("conversation", conversation), ("address", address))
        with self._lock:
            if self._open[keys[0]] >= per_conversation or self._open[keys[1]] >= per_address:
                return None
            for key in keys:
                self._open[key] += 1
        released = False

        def release() -> None:
            # Called when the stream ends and again when the response closes: once counts.
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                for key in keys:
                    self._open[key] -= 1
                    if self._open[key] <= 0:
                        del self._open[key]

        return release

    def open(self, kind: str, name: str) -> int:
        with self._lock:
            return self._open[(kind, name)]
