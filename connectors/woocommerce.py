"""WooCommerce's REST API v3: an order by its number, a customer's orders by billing email.

`search` matches far more than the email (names, addresses), so only exact billing
emails count, read page by page up to X-WP-TotalPages. Tracking comes from the
official Shipment Tracking extension's order meta when the shop has it.
https://woocommerce.github.io/woocommerce-rest-api-docs/#orders
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.base import Connector, ConnectorError, malformed, require_https
from ingestion.order_states import ShopSystem
from ingestion.records import OrderItem, ShopOrder
from settings import Settings

PAGE = 20
PAGES = 4
TRACKING_META = "_wc_shipment_tracking_items"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Contact(_Shape):
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    postcode: str = ""


class LineItem(_Shape):
    name: str
    sku: str = ""
    quantity: int
    price: Decimal


class Refund(_Shape):
    total: Decimal


class Meta(_Shape):
    key: str
    value: object = None


class Tracking(_Shape):
    tracking_provider: str = ""
    custom_tracking_provider: str = ""
    custom_tracking_link: str = ""
    tracking_number: str = ""
    date_shipped: int | str | None = None


class WooOrder(_Shape):
    id: int
    number: str = ""
    status: str
    currency: str
    date_created_gmt: datetime | None = None
    date_created: datetime
    date_completed_gmt: datetime | None = None
    total: Decimal
    billing: Contact
    shipping: Contact = Contact()
    line_items: list[LineItem] = []
    refunds: list[Refund] = []
    meta_data: list[Meta] = []


def _billing_email(raw: object) -> str | None:
    billing = raw.get("billing") if isinstance(raw, dict) else None
    email = billing.get("email") if isinstance(billing, dict) else None
    return email.lower() if isinstance(email, str) else None


def _utc(moment: datetime | None) -> datetime | None:
    """WooCommerce's *_gmt fields carry no zone but are UTC."""
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


class WooCommerceOrders(Connector):
    name = "WooCommerce"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        url = (settings.woocommerce_url or "").rstrip("/")
        require_https(url, "SUPPORT_WOOCOMMERCE_URL")  # the keys go in a Basic header
        self._base = f"{url}/wp-json/wc/v3"
        key = settings.woocommerce_key.get_secret_value() if settings.woocommerce_key else ""
        secret = (
            settings.woocommerce_secret.get_secret_value() if settings.woocommerce_secret else ""
        )
        self._auth = (key, secret)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(
            settings.woocommerce_url and settings.woocommerce_key and settings.woocommerce_secret
        )

    def _get(self, path: str, params: dict | None = None):
        return self._retrying(
            lambda: self._send("GET", f"{self._base}{path}", params=params, auth=self._auth)
        )

    def _find(self, order_id: str) -> ShopOrder | None:
        number = order_id.lstrip("#")
        if not number.isdigit():
            return None
        response = self._get(f"/orders/{number}")
        if response.status_code == 404:
            return None
        order = self._order(self._json(response))
        # With a plugin's own numbering, post 1001 may be order 1040: never the one asked.
        return order if order is not None and order.id == number else None

    def _recent(self, email: str, limit: int) -> list[ShopOrder]:
        found: list[ShopOrder] = []
        for page in range(1, PAGES + 1):
            params = {"search": email, "per_page": PAGE, "page": page}
            response = self._get("/orders", params | {"orderby": "date", "order": "desc"})
            body = self._json(response)
            if not isinstance(body, list):
                raise ConnectorError(f"{self.name} sent an order list we cannot read")
            # Only the customer's own orders are read: someone else's odd order is not
            # allowed to break this customer's lookup.
            mine = [raw for raw in body if _billing_email(raw) == email]
            found += [order for raw in mine if (order := self._order(raw))]
            pages = response.headers.get("X-WP-TotalPages", "1")
            if len(found) >= limit or not pages.isdigit() or page >= int(pages):
                break
        return found[:limit]

    def _order(self, raw: object) -> ShopOrder | None:
        try:
            order = WooOrder.model_validate(raw)
        except ValidationError as error:
            raise malformed(self.name, error) from None
        if not order.billing.email:
            return None
        tracking = self._tracking(order.meta_data) or Tracking()
        carrier = self.vocabulary.carrier(
            tracking.custom_tracking_provider or tracking.tracking_provider
        )
        shipped = _utc(order.date_completed_gmt)
        stamp = str(tracking.date_shipped or "")
        if stamp.isdigit() and len(stamp) <= 10:  # Unix seconds; milliseconds are not dates
            shipped = datetime.fromtimestamp(int(stamp), UTC)
        status = order.status.removeprefix("wc-")
        name = f"{order.billing.first_name} {order.billing.last_name}".strip()
        try:
            return ShopOrder(
                id=order.number or str(order.id),
                email=order.billing.email.lower(),
                customer_name=name or None,
                postcode=order.shipping.postcode or order.billing.postcode or None,
                status=status,
                state=self.vocabulary.state(status, system=ShopSystem.WOOCOMMERCE),
                created_at=_utc(order.date_created_gmt) or order.date_created,
                items=[
                    OrderItem(
                        sku=i.sku or i.name, name=i.name, quantity=i.quantity, unit_price=i.price
                    )
                    for i in order.line_items
                    if i.quantity > 0
                ],
                total=order.total,
                currency=self.vocabulary.currency(order.currency),
                carrier=carrier,
                tracking_number=tracking.tracking_number if tracking else None,
                tracking_url=(tracking.custom_tracking_link if tracking else None)
                or self.vocabulary.tracking_url(
                    carrier, tracking.tracking_number if tracking else None
                ),
                shipped_at=shipped,
                refunded_total=sum((abs(r.total) for r in order.refunds), Decimal(0)),
            )
        except ValidationError as error:
            raise malformed(self.name, error) from None

    @staticmethod
    def _tracking(meta: list[Meta]) -> Tracking | None:
        for entry in meta:
            if entry.key == TRACKING_META and isinstance(entry.value, list) and entry.value:
                try:
                    return Tracking.model_validate(entry.value[-1])
                except ValidationError:
                    return None
        return None
