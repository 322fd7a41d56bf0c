"""The widget's turn glue: after the desk stored a message, wait for (or stream) its answer.

The web request holds no database session while it waits: it sleeps on the turn's
event log and reads the stored outcome when the worker says it is done. A reply
that takes longer than SUPPORT_REPLY_WAIT_SECONDS is still delivered, through the
conversation's event stream, and the request answers that it is being drafted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from desk import Desk, Outcome, Receipt
from desk.events import turn_key

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


def wait(desk: Desk, receipt: Receipt, timeout: float) -> Outcome | None:
    for _, _ in _follow(desk, receipt, timeout):
        pass
    return desk.outcome(receipt.turn_id)


def stream(desk: Desk, receipt: Receipt, timeout: float) -> Iterator[tuple[str, dict]]:
    """`token` events of a reply the gate sent, then one `result`."""
    for kind, item in _follow(desk, receipt, timeout):
        if kind == "token":
            yield "token", {"text": item["text"]}
    yield "result", result(receipt, desk.outcome(receipt.turn_id))


def _follow(desk: Desk, receipt: Receipt, timeout: float) -> Iterator[tuple[str, dict]]:
    """The turn's events until it is done or `timeout` passes."""
    key, cursor = turn_key(receipt.turn_id), "0"
    deadline = time.monotonic() + timeout
    stored_at = None
    while (left := deadline - time.monotonic()) > 0:
        entries = desk.events.read(key, cursor, min(left, RECHECK_SECONDS))
        for entry_id, item in entries:
            cursor = entry_id
            if item.get("kind") == "done":
                return
            yield item.get("kind", ""), item
        if entries or desk.outcome(receipt.turn_id) is None:
            continue
        # Stored: its words follow unless the worker died or its events never reach us.
        stored_at = stored_at or time.monotonic()
        if time.monotonic() - stored_at >= STORED_GRACE_SECONDS:
            return
