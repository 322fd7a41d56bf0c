"""What every live connector shares: HTTP with timeouts, retries with backoff, a short cache.

A customer waits while we ask the shop, so each request has a timeout and the retries
a budget (Retry-After included); past it the lookup fails with a reason in plain
words, and the turn goes to a person instead of guessing a status.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from email.utils import parsedate_to_datetime
from typing import ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from ingestion.order_states import Vocabulary
from ingestion.records import ShopOrder
from settings import ConfigError, Settings

T = TypeVar("T")
# An address no shop has orders for: `doctor` asks for it to test the connection.
PROBE_EMAIL = "doctor-check@example.invalid"


class ConnectorError(Exception):
    """The shop's system could not answer; the message says why, without any secret."""


class Transient(Exception):
    """Worth another try: a timeout, a refused connection, 429 or a 5xx."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, given as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class TtlCache:
    """Answers reused for a few seconds: a conversation asks about the same order twice."""

    def __init__(self, seconds: float, size: int = 1024) -> None:
        self._seconds = seconds
        self._size = size
        self._items: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self._seconds <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[return-value]
        value = compute()  # errors are not cached: the next turn asks again
        with self._lock:
            self._items[key] = (now + self._seconds, value)
            while len(self._items) > self._size:
                self._items.pop(next(iter(self._items)))
        return value


class Connector(ABC):
    """One shop system's API, answering `find` and `recent` as the snapshot does."""

    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.vocabulary = Vocabulary.from_settings(settings)
        self._client = httpx.Client(timeout=settings.orders_timeout, follow_redirects=False)
        self._timeout = settings.orders_timeout
        self._attempts = settings.orders_retries
        self._max_wait = settings.orders_max_wait
        self._cache = TtlCache(settings.orders_cache_seconds)
        self.sleep: Callable[[float], None] = time.sleep  # between retries; tests record it

    @classmethod
    @abstractmethod
    def configured(cls, settings: Settings) -> bool:
        """Whether the settings name this shop system."""

    @abstractmethod
    def _find(self, order_id: str) -> ShopOrder | None: ...

    @abstractmethod
    def _recent(self, email: str, limit: int) -> list[ShopOrder]: ...

    def find(self, order_id: str) -> ShopOrder | None:
        return self._cache.get(("find", order_id), lambda: self._find(order_id))

    def recent(self, email: str, limit: int) -> list[ShopOrder]:
        return self._cache.get(("recent", email, limit), lambda: self._recent(email, limit))

    def check(self) -> int:
        """One real request, uncached, for `doctor`: milliseconds it took."""
        started = time.perf_counter()
        self._recent(PROBE_EMAIL, 1)
        return round((time.perf_counter() - started) * 1000)

    def _retrying(self, call: Callable[[], T]) -> T:
        """`call` until it succeeds, with backoff, within the attempts and the time budget."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts) | self._out_of_patience,
            wait=_wait,
            retry=retry_if_exception_type(Transient),
            sleep=lambda seconds: self.sleep(seconds),
            reraise=True,
        )
        try:
            return retrying(call)
        except Transient as error:
            tries = retrying.statistics.get("attempt_number", 1)
            raise ConnectorError(
                f"{self.name} did not answer: {error} ({tries} {'try' if tries == 1 else 'tries'})"
            ) from None

    def _out_of_patience(self, state: RetryCallState) -> bool:
        """Stop when the next wait would make the waiting so far exceed the budget."""
        return state.idle_for + (state.upcoming_sleep or 0) > self._max_wait

    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One request; a status worth retrying raises Transient, a refusal ConnectorError."""
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise Transient(f"no response within {self._timeout:g} s") from None
        except httpx.TransportError as error:
            raise Transient(f"cannot connect ({type(error).__name__})") from None
        except httpx.HTTPError as error:  # a body that cannot be decoded, a bad URL
            raise ConnectorError(f"{self.name}: {type(error).__name__}") from None
        if response.status_code == 429:
            raise Transient("rate limited (HTTP 429)", retry_after(response))
        if response.status_code >= 500:
            raise Transient(f"HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise ConnectorError(
                f"{self.name} refused our credentials (HTTP {response.status_code}); "
                "check the token or keys in the settings"
            )
        return response

    def _json(self, response: httpx.Response) -> object:
        if response.status_code >= 400:
            raise ConnectorError(f"{self.name} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ConnectorError(f"{self.name} sent a response that is not JSON") from None


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, Transient) and error.retry_after is not None:
        return error.retry_after
    return wait_exponential(multiplier=0.5, max=4)(state)


LOOPBACK = ("localhost", "127.0.0.1", "::1")


def require_https(url: str, setting: str) -> None:
    """Credentials go only over TLS (or to this machine, for tests and a local proxy)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in LOOPBACK:
        raise ConfigError(f"{setting}: credentials are only sent over https://")


def malformed(name: str, error: Exception) -> ConnectorError:
    """A response in a shape we do not know: said once, in one line."""
    first = str(error).splitlines()
    detail = first[1].strip() if len(first) > 1 else first[0] if first else type(error).__name__
    return ConnectorError(f"{name} sent an order in a shape we cannot read ({detail})")
