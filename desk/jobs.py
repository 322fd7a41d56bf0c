"""The task queue that drafts turns and sends mail: huey, on SQLite in the data dir or on Redis.

The queue only says "look at turn N" or "send outbox row N"; the tables say what is owed.
A job lost with a killed worker is found again by the recovery sweep, which runs when
workers start and then every quarter lease (at most a minute); the sweep also runs the
desk's schedules (the morning digest, SLA alerts).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import SqliteStorage

from settings import Settings

log = logging.getLogger(__name__)

# How long an idle worker waits for a job before it looks at the SQLite queue again
# (for jobs queued by another process; this process's own jobs wake it at once).
IDLE_POLL_SECONDS = 0.5


class _WakeableSqliteStorage(SqliteStorage):
    """SQLite jobs whose idle workers sleep until this process queues one, not on a timer."""

    blocking = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._queued = threading.Condition()
        self._pending = 0

    def enqueue(self, data, priority=None) -> None:
        super().enqueue(data, priority)
        with self._queued:
            self._pending += 1
            self._queued.notify()

    def dequeue(self):
        data = super().dequeue()
        if data is None:
            with self._queued:
                self._queued.wait_for(lambda: self._pending > 0, IDLE_POLL_SECONDS)
                self._pending = max(0, self._pending - 1)
            data = super().dequeue()
        return data


class _SqliteHuey(SqliteHuey):
    storage_class = _WakeableSqliteStorage


class JsonSerializer(Serializer):
    """Jobs as JSON, not huey's pickle: whoever can write to the queue's store (a Redis
    others share, the data dir's jobs.db) could otherwise run code in every worker by
    queueing a crafted job. Our jobs carry ids and flags, which JSON holds; a payload
    that is not our JSON fails to load and is dropped (the recovery sweep re-queues
    whatever the tables say is owed)."""

    _DATES = ("eta", "expires_resolved")

    def _serialize(self, data) -> bytes:
        if not isinstance(data, Message):
            return json.dumps({"data": data}).encode()
        fields = data._asdict()
        if fields["on_complete"] or fields["on_error"] or fields["chord_config"]:
            raise TypeError("chained or chorded jobs are not used here")
        for name in self._DATES:
            if fields[name] is not None:
                fields[name] = fields[name].isoformat()
        return json.dumps({"message": fields}).encode()

    def _deserialize(self, data: bytes):
        loaded = json.loads(data)
        if "message" not in loaded:
            return loaded["data"]
        fields = loaded["message"]
        for name in self._DATES:
            if fields[name] is not None:
                fields[name] = datetime.fromisoformat(fields[name])
        return Message(**fields)


class _QuietConsumer(Consumer):
    """A consumer inside a process that owns its signals (gunicorn, the CLI, tests)."""

    def _set_signal_handlers(self) -> None:
        pass


class JobQueue:
    def __init__(
        self,
        settings: Settings,
        *,
        draft_turn: Callable[..., None],
        deliver: Callable[[int], None],
        summarise: Callable[[], int],
        recover: Callable[[], int],
    ) -> None:
        if settings.redis_url:
            self.huey = RedisHuey(
                settings.job_queue,
                url=settings.redis_url,
                blocking=True,
                results=False,
                serializer=JsonSerializer(),
            )
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.huey = _SqliteHuey(
                settings.job_queue,
                filename=str(settings.data_dir / "jobs.db"),
                results=False,
                serializer=JsonSerializer(),
            )
        self._recover = recover
        # Retries with backoff for a turn that failed; the last failure becomes a pending draft.
        self._draft = self.huey.task(
            retries=settings.turn_attempts - 1,
            retry_delay=settings.turn_retry_seconds,
            retry_backoff=2,
            name="draft_turn",
        )(draft_turn)
        # One try per job: a failed send schedules its own next try (see desk.delivery).
        self._deliver = self.huey.task(name="deliver")(deliver)
        # The insights' per-conversation summaries; queued by every sweep, quick when idle.
        self._summarise = self.huey.task(name="summarise")(summarise)
        self._sweep_seconds = max(1.0, min(60.0, settings.turn_lease_seconds / 4))
        self._consumer: Consumer | None = None
        self._stop = threading.Event()

    def enqueue(self, turn_id: int, *, stream: bool = False) -> None:
        self._draft(turn_id, stream=stream)

    def deliver(self, outbox_id: int, *, delay: float | None = None) -> None:
        if delay:
            self._deliver.schedule(args=(outbox_id,), delay=delay)
        else:
            self._deliver(outbox_id)

    def summarise(self) -> None:
        self._summarise()

    def start_workers(self, count: int) -> None:
        """Worker threads in this process; recovers left-over turns first."""
        if self._consumer is not None or count < 1:
            return
        self._stop.clear()
        self._sweep()
        threading.Thread(target=self._sweeper, name="turn-sweeper", daemon=True).start()
        self._consumer = _QuietConsumer(
            self.huey,
            workers=count,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            max_delay=0.5,
            check_worker_health=False,
        )
        self._consumer.start()
        log.info("%d job workers started", count)

    def _sweeper(self) -> None:
        while not self._stop.wait(self._sweep_seconds):
            self._sweep()

    def _sweep(self) -> None:
        try:
            self._recover()
        except Exception:  # a failed sweep must not stop the workers; the next one retries
            log.exception("the recovery sweep failed")

    def stop_workers(self, graceful: bool = True) -> None:
        self._stop.set()
        if self._consumer is not None:
            self._consumer.stop(graceful=graceful)
            self._consumer = None
