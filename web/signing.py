"""Signed-in customers: the shop's server vouches for an email with a short-lived signature.

The shop's server and this service share SUPPORT_WIDGET_SECRET. The server signs

    v1|<lower-cased email>|<expiry, unix seconds>

with HMAC-SHA256 and hands the page `email`, `signature` (64 hex digits) and `expires`;
the widget sends all three when it starts a conversation. The `v1|` prefix names what
the signature is for, so a signature the shop makes with the same secret for anything
else cannot be replayed here, and the expiry bounds how long a leaked one is good for.

    sign("shop-secret", "dana@example.com")   # what a shop's server does, in Python
"""

from __future__ import annotations

import hashlib
import hmac
import time

VERSION = "v1"
# Long enough for a page left open a while, short enough that a leaked tag soon dies.
DEFAULT_TTL_SECONDS = 4 * 3600


def message(email: str, expires: int) -> bytes:
    return f"{VERSION}|{email.lower()}|{expires}".encode()


def signature(secret: str, email: str, expires: int) -> str:
    return hmac.new(secret.encode(), message(email, expires), hashlib.sha256).hexdigest()


def sign(secret: str, email: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> dict:
    """The fields a shop's page passes to the widget (data-email, data-signature, data-expires)."""
    expires = int(time.time()) + ttl_seconds
    return {"email": email, "signature": signature(secret, email, expires), "expires": expires}
