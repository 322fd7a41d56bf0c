"""Failed order lookups, counted per client address, email and order, in memory or Redis.

A guest who guesses order numbers, emails or postcodes fails; past the limit
(SUPPORT_FAILED_LOOKUP_LIMIT) every lookup for that address, email or order is
refused with the same answer as a wrong guess, so the limit itself reveals nothing.
"""

from __future__ import annotations

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from settings import Settings


class FailedLookups:
    """Implements agent.tools.LookupGuard."""

    def __init__(self, settings: Settings) -> None:
        self._limit = parse(settings.failed_lookup_limit)
        self._window = MovingWindowRateLimiter(storage_from_string(_storage(settings)))

    def blocked(self, keys: list[str]) -> bool:
        return any(not self._window.test(self._limit, "lookup", key) for key in keys)

    def failed(self, keys: list[str]) -> None:
        for key in keys:
            self._window.hit(self._limit, "lookup", key)


def _storage(settings: Settings) -> str:
    return settings.redis_url or "memory://"
