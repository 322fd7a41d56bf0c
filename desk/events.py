"""Live events: a conversation's wake-ups and a turn's streamed tokens, across threads or processes.

Both are append-only logs read from a cursor, so a reader that subscribes late (a web
request that starts reading after the worker began writing) misses nothing. In one
process the logs live in memory; with SUPPORT_REDIS_URL they are Redis streams, so
web processes and separate workers see each other's events.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Protocol

# Events older than this are of no use to anyone: a turn's stream or a wake-up.
KEEP_SECONDS = 600
KEEP_ENTRIES = 2000


def conversation_key(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def turn_key(turn_id: int) -> str:
    return f"turn:{turn_id}"


class Events(Protocol):
    def append(self, key: str, item: dict) -> None: ...

    def last(self, key: str) -> str:
        """The cursor after the newest entry (reading from it waits for the next one)."""
        ...

    def read(self, key: str, after: str, timeout: float) -> list[tuple[str, dict]]:
        """Entries after the cursor `after` ("0" for all), waiting up to `timeout` for one."""
        ...


class _Log:
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.entries: deque[tuple[int, dict]] = deque(maxlen=KEEP_ENTRIES)
        self.touched = time.monotonic()


class MemoryEvents:
    """Events within one process: web threads and in-process job workers share it.

    Each key has its own lock, so a turn's tokens wake only that turn's readers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, _Log] = {}
        self._next = 1
        self._swept = time.monotonic()

    def _log(self, key: str) -> _Log:
        with self._lock:
            log = self._logs.get(key)
            if log is None:
                log = self._logs[key] = _Log()
            now = time.monotonic()
            if now - self._swept > KEEP_SECONDS / 10:
                self._swept = now
                for old in [k for k, v in self._logs.items() if now - v.touched > KEEP_SECONDS]:
                    del self._logs[old]
            return log

    def append(self, key: str, item: dict) -> None:
        log = self._log(key)
        with self._lock:
            number, self._next = self._next, self._next + 1
        with log.changed:
            log.entries.append((number, item))
            log.touched = time.monotonic()
            log.changed.notify_all()

    def last(self, key: str) -> str:
        log = self._log(key)
        with log.changed:
            return str(log.entries[-1][0]) if log.entries else "0"

    def read(self, key: str, after: str, timeout: float) -> list[tuple[str, dict]]:
        cursor = int(after) if after.isdigit() else 0
        log = self._log(key)

        def newer() -> list[tuple[str, dict]]:
            if not log.entries or log.entries[-1][0] <= cursor:
                return []
            return [(str(n), item) for n, item in log.entries if n > cursor]

        with log.changed:
            log.changed.wait_for(newer, timeout)
            return newer()


class RedisEvents:
    """Events shared by every process that reaches the same Redis."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=None)

    def append(self, key: str, item: dict) -> None:
        name = f"support:{key}"
        pipe = self._redis.pipeline()
        pipe.xadd(name, {"item": json.dumps(item)}, maxlen=KEEP_ENTRIES, approximate=True)
        pipe.expire(name, KEEP_SECONDS)
        pipe.execute()

    def last(self, key: str) -> str:
        newest = self._redis.xrevrange(f"support:{key}", count=1)
        return newest[0][0].decode() if newest else "0-0"

    def read(self, key: str, after: str, timeout: float) -> list[tuple[str, dict]]:
        after = "0-0" if after == "0" else after
        block = max(1, int(timeout * 1000))
        answer = self._redis.xread({f"support:{key}": after}, block=block)
        return [
            (entry_id.decode(), json.loads(fields[b"item"]))
            for _, entries in answer
            for entry_id, fields in entries
        ]


def events_for(redis_url: str | None) -> Events:
    return RedisEvents(redis_url) if redis_url else MemoryEvents()
