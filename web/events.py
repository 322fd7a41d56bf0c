"""Wakes the event streams of a conversation when something new is stored for it.

In one process a notification wakes waiting streams at once; streams also re-read the
database every few seconds, so messages written by another worker still arrive.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class Broker:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._versions: dict[str, int] = defaultdict(int)

    def version(self, conversation_id: str) -> int:
        with self._changed:
            return self._versions[conversation_id]

    def notify(self, conversation_id: str) -> None:
        with self._changed:
            self._versions[conversation_id] += 1
            self._changed.notify_all()

    def wait(self, conversation_id: str, seen: int, timeout: float) -> int:
        """Block until the conversation changes after version `seen`, or `timeout` passes."""
        with self._changed:
            self._changed.wait_for(lambda: self._versions[conversation_id] != seen, timeout)
            return self._versions[conversation_id]
