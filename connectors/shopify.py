"""Shopify's Admin GraphQL API: an order by its name (#1001), a customer's orders by email.

Shopify's search is loose (an email query also matches similar addresses), so only
exact matches count, read page by page. Throttling arrives as HTTP 429 or as a
THROTTLED error in a 200 response; both are retried like any transient failure.
https://shopify.dev/docs/api/admin-graphql/latest/queries/orders
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.base import Connector, ConnectorError, Transient, malformed, require_https
from ingestion.order_states import OrderState
from ingestion.records import OrderItem, ShopOrder
from settings import Settings

QUERY = """
query Orders($query: String!, $first: Int!, $after: String) {
  orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT, reverse: true) {
    pageInfo { hasNextPage endCursor }
    nodes {
      name email createdAt cancelledAt
      displayFinancialStatus displayFulfillmentStatus
      totalPriceSet { shopMoney { amount currencyCode } }
      totalRefundedSet { shopMoney { amount currencyCode } }
      shippingAddress { name zip }
      lineItems(first: 20) {
        nodes { name sku quantity originalUnitPriceSet { shopMoney { amount currencyCode } } }
      }
      fulfillments(first: 3) {
        createdAt deliveredAt estimatedDeliveryAt displayStatus
        trackingInfo(first: 2) { company number url }
      }
    }
  }
}
"""
# A query may cost at most 1,000 points, and each order's nested connections multiply
# it: 10 orders × (20 line items + 3 fulfillments × 2 tracking entries) stays well under.
PAGE = 10
PAGES = 4  # a customer's recent orders are on the first pages; the rest is not worth a wait


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Money(_Shape):
    amount: Decimal
    currencyCode: str


class MoneyBag(_Shape):
    shopMoney: Money


class Address(_Shape):
    name: str | None = None
    zip: str | None = None


class LineItem(_Shape):
    name: str
    sku: str | None = None
    quantity: int
    originalUnitPriceSet: MoneyBag


class LineItems(_Shape):
    nodes: list[LineItem]


class Tracking(_Shape):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class Fulfillment(_Shape):
    createdAt: datetime
    deliveredAt: datetime | None = None
    estimatedDeliveryAt: datetime | None = None
    displayStatus: str | None = None
    trackingInfo: list[Tracking] = []


class Node(_Shape):
    name: str
    email: str | None = None
    createdAt: datetime
    cancelledAt: datetime | None = None
    displayFinancialStatus: str | None = None
    displayFulfillmentStatus: str
    totalPriceSet: MoneyBag  # as ordered; refunds are in totalRefundedSet
    totalRefundedSet: MoneyBag | None = None
    shippingAddress: Address | None = None
    lineItems: LineItems
    fulfillments: list[Fulfillment] = []


class PageInfo(_Shape):
    hasNextPage: bool
    endCursor: str | None = None


class Page(_Shape):
    pageInfo: PageInfo
    nodes: list[dict]  # each read on its own, and only when it is the order asked for


def _store_url(store: str, version: str) -> str:
    if "://" in store:
        base = store.rstrip("/")
    elif "." in store:
        base = f"https://{store}"
    else:
        base = f"https://{store}.myshopify.com"
    return f"{base}/admin/api/{version}/graphql.json"


class ShopifyOrders(Connector):
    name = "Shopify"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._url = _store_url(settings.shopify_store or "", settings.shopify_api_version)
        require_https(self._url, "SUPPORT_SHOPIFY_STORE")
        token = settings.shopify_token.get_secret_value() if settings.shopify_token else ""
        self._headers = {"X-Shopify-Access-Token": token, "Content-Type": "application/json"}

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.shopify_store and settings.shopify_token)

    def _find(self, order_id: str) -> ShopOrder | None:
        name = order_id.lstrip("#")
        found = self._orders(f"name:{name}", enough=1, key="name", value=f"#{name}")
        return found[0] if found else None

    def _recent(self, email: str, limit: int) -> list[ShopOrder]:
        return self._orders(f"email:{email}", enough=limit, key="email", value=email)

    def _orders(self, search: str, *, enough: int, key: str, value: str) -> list[ShopOrder]:
        """Orders whose `key` is exactly `value`; Shopify's search also returns near misses,
        which are skipped unread, so another customer's odd order cannot break this one."""
        found: list[ShopOrder] = []
        after = None
        for _ in range(PAGES):
            page = self._page(search, after)
            exact = [n for n in page.nodes if str(n.get(key) or "").lower() == value.lower()]
            found += [order for node in exact if (order := self._order(node))]
            if len(found) >= enough or not page.pageInfo.hasNextPage:
                break
            after = page.pageInfo.endCursor
        return found[:enough]

    def _page(self, search: str, after: str | None) -> Page:
        variables = {"query": search, "first": PAGE, "after": after}
        body = self._retrying(lambda: self._post(variables))
        try:
            return Page.model_validate(body["data"]["orders"])
        except (ValidationError, KeyError, TypeError) as error:
            raise malformed(self.name, error) from None

    def _post(self, variables: dict) -> dict:
        response = self._send(
            "POST", self._url, json={"query": QUERY, "variables": variables}, headers=self._headers
        )
        body = self._json(response)
        if not isinstance(body, dict):
            raise ConnectorError(f"{self.name} sent a response we cannot read")
        errors = body.get("errors") or []
        if isinstance(errors, str):  # Shopify writes some errors as one string
            errors = [{"message": errors}]
        errors = [e if isinstance(e, dict) else {"message": str(e)} for e in errors]
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
            raise Transient("throttled (THROTTLED)")
        if errors and not body.get("data"):
            message = str(errors[0].get("message", "?"))[:160]
            raise ConnectorError(f"{self.name} refused the query: {message}")
        return body

    def _order(self, raw: dict) -> ShopOrder | None:
        """Our record of one order; None for an order without an email (a shop counter sale),
        which no customer can be shown."""
        try:
            node = Node.model_validate(raw)
        except ValidationError as error:
            raise malformed(self.name, error) from None
        if not node.email:
            return None
        fulfillments = sorted(node.fulfillments, key=lambda f: f.createdAt)
        tracking = next((t for f in fulfillments for t in f.trackingInfo if t.number), None)
        delivered = [f.deliveredAt for f in fulfillments if f.deliveredAt]
        money = node.totalPriceSet.shopMoney
        state = self.vocabulary.shopify_state(
            node.displayFinancialStatus, node.displayFulfillmentStatus
        )
        if node.cancelledAt and state != OrderState.REFUNDED:
            state = OrderState.CANCELLED
        if state == OrderState.SHIPPED and fulfillments and len(delivered) == len(fulfillments):
            state = OrderState.DELIVERED
        carrier = self.vocabulary.carrier(tracking.company) if tracking else None
        words = [node.displayFinancialStatus or "", node.displayFulfillmentStatus]
        try:
            return ShopOrder(
                id=node.name.lstrip("#"),
                email=node.email.lower(),
                customer_name=node.shippingAddress.name if node.shippingAddress else None,
                postcode=node.shippingAddress.zip if node.shippingAddress else None,
                status=" / ".join(w.lower() for w in words if w),
                state=state,
                created_at=node.createdAt,
                items=[
                    OrderItem(
                        sku=item.sku or item.name,
                        name=item.name,
                        quantity=item.quantity,
                        unit_price=item.originalUnitPriceSet.shopMoney.amount,
                    )
                    for item in node.lineItems.nodes
                    if item.quantity > 0
                ],
                total=money.amount,
                currency=self.vocabulary.currency(money.currencyCode),
                carrier=carrier,
                tracking_number=tracking.number if tracking else None,
                tracking_url=(tracking.url if tracking else None)
                or self.vocabulary.tracking_url(carrier, tracking.number if tracking else None),
                shipped_at=fulfillments[0].createdAt if fulfillments else None,
                delivered_at=max(delivered) if delivered else None,
                expected_delivery=next(
                    (f.estimatedDeliveryAt for f in fulfillments if f.estimatedDeliveryAt), None
                ),
                refunded_total=node.totalRefundedSet.shopMoney.amount
                if node.totalRefundedSet
                else Decimal(0),
            )
        except ValidationError as error:
            raise malformed(self.name, error) from None
