"""Live events: a conversation's wake-ups and a turn's streamed tokens, across threads or processes.

Both are append-only logs read from a cursor, so a reader that subscribes late (a web
request that starts reading after the worker began writing) misses nothing. In one
process the logs live in memory; with SUPPORT_REDIS_URL they are Redis streams, so
web processes and separate workers see each other's events.

An open event stream does not read: it subscribes to a key, and a callback tells it that
something was appended (a thread per stream would cap the open widgets at the threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Protocol

log = logging.getLogger(__name__)

# Events older than this are of no use to anyone: a turn's stream or a wake-up.
KEEP_SECONDS = 600
KEEP_ENTRIES = 2000
# The Redis channel on which every append names its key.
WAKE_CHANNEL = "support:wake"


def conversation_key(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def turn_key(turn_id: int) -> str:
    return f"turn:{turn_id}"


Unsubscribe = Callable[[], None]


class Events(Protocol):
    def append(self, key: str, item: dict) -> None: ...

    def read(self, key: str, after: str, timeout: float) -> list[tuple[str, dict]]:
        """Entries after the cursor `after` ("0" for all), waiting up to `timeout` for one."""
        ...

    def subscribe(self, key: str, wake: Callable[[], None]) -> Unsubscribe:
        """Call `wake` (from any thread, quickly) after each later append to `key`."""
        ...


class _Subscribers:
    """Wake-up callbacks by key, for the appends of this process or of a Redis channel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: defaultdict[str, set[Callable[[], None]]] = defaultdict(set)

    def add(self, key: str, wake: Callable[[], None]) -> Unsubscribe:
        with self._lock:
            self._by_key[key].add(wake)

        def unsubscribe() -> None:
            with self._lock:
                waiting = self._by_key.get(key)
                if waiting is not None:
                    waiting.discard(wake)
                    if not waiting:
                        del self._by_key[key]

        return unsubscribe

    def wake(self, key: str) -> None:
        with self._lock:
            waiting = list(self._by_key.get(key, ()))
        for wake in waiting:
            try:
                wake()
            except Exception:  # one reader's failure must not keep the others asleep
                log.exception("a wake-up for %s failed", key)


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
        self._subscribers = _Subscribers()

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
        self._subscribers.wake(key)

    def subscribe(self, key: str, wake: Callable[[], None]) -> Unsubscribe:
        return self._subscribers.add(key, wake)

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
    """Events shared by every process that reaches the same Redis.

    Each append also publishes its key on one channel; a process with subscribers keeps
    one connection listening to it (one per process, not one per open stream).
    """

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=None)
        self._subscribers = _Subscribers()
        self._listening = False
        self._listen_lock = threading.Lock()

    def append(self, key: str, item: dict) -> None:
        name = f"support:{key}"
        pipe = self._redis.pipeline()
        pipe.xadd(name, {"item": json.dumps(item)}, maxlen=KEEP_ENTRIES, approximate=True)
        pipe.expire(name, KEEP_SECONDS)
        pipe.publish(WAKE_CHANNEL, key)
        pipe.execute()

    def subscribe(self, key: str, wake: Callable[[], None]) -> Unsubscribe:
        with self._listen_lock:
            if not self._listening:  # started on first use: in the process that serves
                self._listening = True
                threading.Thread(target=self._listen, name="event-wakeups", daemon=True).start()
        return self._subscribers.add(key, wake)

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(WAKE_CHANNEL)
                for message in pubsub.listen():
                    if message["type"] == "message":
                        self._subscribers.wake(message["data"].decode())
            except Exception:  # Redis restarted: streams re-read the database meanwhile
                log.exception("lost the event wake-up channel; listening again in 1 s")
                time.sleep(1)

    def read(self, key: str, after: str, timeout: float) -> list[tuple[str, dict]]:
        after = "0-0" if after == "0" else after
        block = max(1, int(timeout * 1000))
        answer = self._redis.xread({f"support:{key}": after}, block=block)
        return [
            (entry_id.decode(), json.loads(fields[b"item"]))
            for _, entries in answer
            for entry_id, fields in entries
        ]


@contextlib.contextmanager
def woken_by(events: Events, key: str) -> Iterator[asyncio.Event]:
    """An asyncio event of the running loop, set after each later append to `key`.

    Subscribe before reading what is there, so nothing appended after the read is missed;
    clear it before each read."""
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:  # called from the thread that appended the event
        if not loop.is_closed():
            loop.call_soon_threadsafe(woken.set)

    unsubscribe = events.subscribe(key, wake)
    try:
        yield woken
    finally:
        unsubscribe()


async def nap(woken: asyncio.Event, seconds: float) -> None:
    """Until `woken` is set or `seconds` pass."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(woken.wait(), max(seconds, 0.0))


def events_for(redis_url: str | None) -> Events:
    return RedisEvents(redis_url) if redis_url else MemoryEvents()
