"""The widget's wait for a turn: every word of a sent reply reaches the customer."""

from __future__ import annotations

import asyncio
import threading

from channels import widget
from desk.events import MemoryEvents, turn_key


class _StoredFirst:
    """A desk whose worker stores the draft, then appends its words a moment later,
    as a worker in another process does."""

    def __init__(self) -> None:
        self.events = MemoryEvents()
        self.stored = False

    def outcome(self, turn_id: int):
        return "the stored outcome" if self.stored else None

    def finish_later(self, turn_id: int, delay: float) -> None:
        def worker() -> None:
            self.stored = True
            threading.Event().wait(delay)
            for piece in ("Within ", "30 ", "days."):
                self.events.append(turn_key(turn_id), {"kind": "token", "text": piece})
            self.events.append(turn_key(turn_id), {"kind": "done"})

        threading.Thread(target=worker).start()


def test_words_appended_just_after_the_draft_was_stored_are_still_streamed(monkeypatch):
    monkeypatch.setattr(widget, "RECHECK_SECONDS", 0.05)
    desk = _StoredFirst()
    receipt = type("Receipt", (), {"turn_id": 7, "message_id": 1})()
    desk.finish_later(7, delay=0.3)

    async def follow() -> list[str]:
        return [kind async for kind, _ in widget._follow(desk, receipt, timeout=5)]

    assert asyncio.run(follow()) == ["token", "token", "token"]
