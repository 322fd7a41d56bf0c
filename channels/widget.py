"""The widget's turn glue: after the desk stored a message, wait for (or stream) its answer.

The wait is a coroutine: under `serve` it runs on the front's event loop (web/front.py),
so a customer waiting for a slow model holds no request thread. It sleeps on a
subscription to the turn's events and reads the stored outcome when the worker says it
is done; reads of the database and the event log run on threads. A reply that takes
longer than SUPPORT_REPLY_WAIT_SECONDS is still delivered, through the conversation's
event stream, and the request answers that it is being drafted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from desk import Desk, Outcome, Receipt
from desk.events import nap, turn_key, woken_by

# How often a waiting request re-reads the database even without a wake-up.
RECHECK_SECONDS = 2.0
# How long a stored reply's words may lag behind it: the worker appends them just after
# the commit, and a request that looked in between would otherwise miss them all.
STORED_GRACE_SECONDS = 1.0


def result(receipt: Receipt, outcome: Outcome | None) -> dict:
    """The API's answer for one message (see docs/formats.md)."""
    if outcome is None:
        return {"message_id": receipt.message_id, "status": "pending", "drafting": True}
    return outcome.model_dump(exclude_none=True, mode="json")


async def wait(desk: Desk, receipt: Receipt, timeout: float) -> Outcome | None:
    async for _ in _follow(desk, receipt, timeout):
        pass
    return await asyncio.to_thread(desk.outcome, receipt.turn_id)


async def stream(desk: Desk, receipt: Receipt, timeout: float) -> AsyncIterator[tuple[str, dict]]:
    """`token` events of a reply the gate sent, then one `result`."""
    async for kind, item in _follow(desk, receipt, timeout):
        if kind == "token":
            yield "token", {"text": item["text"]}
    yield "result", result(receipt, await asyncio.to_thread(desk.outcome, receipt.turn_id))


async def _follow(desk: Desk, receipt: Receipt, timeout: float) -> AsyncIterator[tuple[str, dict]]:
    """The turn's events until it is done or `timeout` passes."""
    loop = asyncio.get_running_loop()
    key, cursor = turn_key(receipt.turn_id), "0"
    with woken_by(desk.events, key) as woken:
        deadline = loop.time() + timeout
        stored_at = None
        while (left := deadline - loop.time()) > 0:
            woken.clear()
            entries = await asyncio.to_thread(desk.events.read, key, cursor, 0)
            for entry_id, item in entries:
                cursor = entry_id
                if item.get("kind") == "done":
                    return
                yield item.get("kind", ""), item
            if entries:
                continue
            pause = min(left, RECHECK_SECONDS)
            if await asyncio.to_thread(desk.outcome, receipt.turn_id) is not None:
                # Stored: its words follow unless the worker died or its events never reach us.
                stored_at = stored_at or loop.time()
                grace = STORED_GRACE_SECONDS - (loop.time() - stored_at)
                if grace <= 0:
                    return
                pause = min(pause, grace)
            await nap(woken, pause)
