"""Responses that wait: coroutines run on an event loop, not in a request thread.

A Flask view checks its request like any other (token, body, cursor, open-stream caps),
then hands the coroutine that writes the response (a conversation's event stream, or a
message's reply as it is drafted) to the evented front (web/front.py), which runs it on
its event loop: an open widget, or a customer waiting for a slow model, costs a socket
and a coroutine, not one of the threads that requests need. Under a plain WSGI server
(the tests' Flask client) the same coroutine runs in the request's own thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from desk import Desk
from desk.events import conversation_key, nap, woken_by

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


def sse(event: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Live:
    """A response ready to run: its chunks, and what to release once it ends (an event
    stream's slot)."""

    chunks: AsyncIterator[str]
    release: Callable[[], None] = _nothing


def messages(
    desk: Desk, conversation_id: str, *, after: int, recheck: float, release: Callable[[], None]
) -> Live:
    """Each new message after the cursor `after` as a `message` event whose id is its cursor."""
    return Live(_messages(desk, conversation_id, after, recheck, release), release)


async def _messages(
    desk: Desk, conversation_id: str, after: int, recheck: float, release: Callable[[], None]
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    try:
        with woken_by(desk.events, conversation_key(conversation_id)) as woken:
            cursor, quiet_since = after, loop.time()
            deadline = quiet_since + STREAM_SECONDS
            yield "retry: 2000\n\n"
            while (now := loop.time()) < deadline:
                woken.clear()
                # Database reads run on the loop's own threads: requests keep theirs.
                state = await asyncio.to_thread(desk.transcript, conversation_id, after=cursor)
                for message in state.messages:
                    yield sse("message", message.model_dump(), message.id)
                    quiet_since = loop.time()
                cursor, now = state.cursor, loop.time()
                if now - quiet_since >= KEEP_ALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = now
                await nap(
                    woken, min(recheck, deadline - now, KEEP_ALIVE_SECONDS - (now - quiet_since))
                )
    except Exception:  # the client resumes from its cursor (Last-Event-ID)
        log.exception("the event stream of conversation %s failed", conversation_id)
    finally:
        release()


def hand_off(environ: dict, live: Live) -> bool:
    """Give the response to the evented front that serves this request, if one does."""
    offer = environ.get("asgi.scope", {}).get(HAND_OFF)
    if offer is None:
        return False
    offer.append(live)
    return True


def in_thread(live: Live) -> Iterator[str]:
    """The response for a plain WSGI server: its own event loop, in the request's thread."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(anext(live.chunks))
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(live.chunks.aclose())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        live.release()
