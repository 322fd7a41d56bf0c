"""The shop's own server, for any other shop system: two GET endpoints, HMAC-signed.

Each request carries `X-Support-Timestamp` (Unix seconds) and `X-Support-Signature:
v1=<hex HMAC-SHA256 of "<timestamp>.<METHOD>.<path?query>" under the shared secret>`,
the path taken after SUPPORT_ORDERS_URL (`/orders/1001`),
so the shop's server can refuse anyone else and any replay older than five minutes.
docs/formats.md has the whole contract, with a verifying example.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

from pydantic import ValidationError

from connectors.base import Connector, ConnectorError, malformed, require_https
from ingestion.order_states import OrderState
from ingestion.records import ShopOrder
from settings import Settings


class EndpointOrder(ShopOrder):
    """One order as the shop's endpoint sends it: a ShopOrder in the shop's own words."""

    state: OrderState | None = None  # the shop's own mapping, when it has one
    currency: str  # an ISO code, a symbol or a name


def signature(secret: str, timestamp: str, method: str, target: str) -> str:
    """The signature header's value for one request; `target` is its path and query."""
    message = f"{timestamp}.{method}.{target}".encode()
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SignedEndpointOrders(Connector):
    name = "The shop's order endpoint"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._base = (settings.orders_url or "").rstrip("/")
        require_https(self._base, "SUPPORT_ORDERS_URL")
        self._secret = settings.orders_secret.get_secret_value() if settings.orders_secret else ""

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.orders_url and settings.orders_secret)

    def _get(self, path: str, params: dict | None = None):
        query = f"?{urlencode(params)}" if params else ""
        url = f"{self._base}{path}{query}"
        # Relative to SUPPORT_ORDERS_URL, so an app mounted under a prefix sees the same.
        target = path + query

        def signed():
            stamp = str(int(time.time()))
            headers = {
                "X-Support-Timestamp": stamp,
                "X-Support-Signature": signature(self._secret, stamp, "GET", target),
            }
            return self._send("GET", url, headers=headers)

        return self._retrying(signed)

    def _find(self, order_id: str) -> ShopOrder | None:
        response = self._get(f"/orders/{quote(order_id, safe='')}")
        if response.status_code == 404:
            return None
        body = self._json(response)
        if not isinstance(body, dict) or "order" not in body:
            raise ConnectorError(f'{self.name} sent no "order" object')
        return self._order(body["order"])

    def _recent(self, email: str, limit: int) -> list[ShopOrder]:
        body = self._json(self._get("/orders", {"email": email, "limit": limit}))
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list):
            raise ConnectorError(f'{self.name} sent no "orders" list')
        # The endpoint is the shop's code: trust it to filter, but check who each order is for.
        mine = [
            raw
            for raw in body["orders"]
            if isinstance(raw, dict) and str(raw.get("email", "")).lower() == email
        ]
        return [self._order(raw) for raw in mine][:limit]

    def _order(self, raw: object) -> ShopOrder:
        try:
            order = EndpointOrder.model_validate(raw)
            carrier = self.vocabulary.carrier(order.carrier)
            ours = {
                "email": order.email.lower(),
                "state": order.state or self.vocabulary.state(order.status),
                "currency": self.vocabulary.currency(order.currency),
                "carrier": carrier,
                "tracking_url": order.tracking_url
                or self.vocabulary.tracking_url(carrier, order.tracking_number),
            }
            return ShopOrder.model_validate(order.model_dump() | ours)
        except ValidationError as error:
            raise malformed(self.name, error) from None
