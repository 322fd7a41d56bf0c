"""Rate limits (Flask-Limiter): per client address unless a route says otherwise.

The counts live in memory, or in Redis when SUPPORT_REDIS_URL is set, so several web
processes share one limit instead of each granting its own.
"""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(get_remote_address)


def storage_uri(redis_url: str | None) -> str:
    return redis_url or "memory://"
