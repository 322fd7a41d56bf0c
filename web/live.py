"""A conversation's event stream, a coroutine that waits on an event loop, not in a thread.

The Flask view checks a stream's request like any other (token, cursor, open-stream
caps), then hands the coroutine to the evented front (web/front.py), which runs it on
its event loop: an open widget costs a socket and a coroutine, not one of the web
threads that requests need. Under a plain WSGI server (the tests' Flask client) the
same coroutine runs in the request's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from desk import Desk
from desk.events import conversation_key

log = logging.getLogger(__name__)

# A stream ends after this long; the client reconnects from its cursor.
STREAM_SECONDS = 300.0
KEEP_ALIVE_SECONDS = 15.0
# Without a wake-up the database is re-read this often, sooner when wake-ups can be
# missed (job workers or web processes elsewhere, and no Redis to carry their events).
RECHECK_SECONDS = 15.0
RECHECK_UNWOKEN_SECONDS = 3.0
# The key under which the evented front offers its hand-off in the request's ASGI scope.
HAND_OFF = "support.live"

# Database reads of open streams, on threads of their own: requests keep theirs.
_reads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="stream-reads")


def sse(event: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@dataclass(frozen=True)
class Live:
    """An event stream ready to run: its chunks, and the release of its open-stream slot."""

    chunks: AsyncIterator[str]
    release: Callable[[], None]


def messages(
    desk: Desk, conversation_id: str, *, after: int, recheck: float, release: Callable[[], None]
) -> Live:
    """Each new message after the cursor `after` as a `message` event whose id is its cursor."""
    return Live(_messages(desk, conversation_id, after, recheck, release), release)


async def _messages(
    desk: Desk, conversation_id: str, after: int, recheck: float, release: Callable[[], None]
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:  # called from the thread that appended the event
        if not loop.is_closed():
            loop.call_soon_threadsafe(woken.set)

    # Subscribed before the first read, so nothing appended after that read is missed.
    unsubscribe = desk.events.subscribe(conversation_key(conversation_id), wake)
    try:
        cursor, quiet_since = after, loop.time()
        deadline = quiet_since + STREAM_SECONDS
        yield "retry: 2000\n\n"
        while (now := loop.time()) < deadline:
            woken.clear()
            read = partial(desk.transcript, conversation_id, after=cursor)
            state = await loop.run_in_executor(_reads, read)
            for message in state.messages:
                yield sse("message", message.model_dump(), message.id)
                quiet_since = loop.time()
            cursor, now = state.cursor, loop.time()
            if now - quiet_since >= KEEP_ALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet_since = now
            pause = min(recheck, deadline - now, KEEP_ALIVE_SECONDS - (now - quiet_since))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), max(pause, 0.0))
    except Exception:  # the client resumes from its cursor (Last-Event-ID)
        log.exception("the event stream of conversation %s failed", conversation_id)
    finally:
        unsubscribe()
        release()


def hand_off(environ: dict, live: Live) -> bool:
    """Give the stream to the evented front that serves this request, if one does."""
    offer = environ.get("asgi.scope", {}).get(HAND_OFF)
    if offer is None:
        return False
    offer.append(live)
    return True


def in_thread(live: Live) -> Iterator[str]:
    """The stream for a plain WSGI server: its own event loop, in the request's thread."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(anext(live.chunks))
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(live.chunks.aclose())
        loop.close()
        live.release()
