"""Loopback servers speaking the shop systems' documented APIs, with faults on demand.

Shopify's Admin GraphQL orders query and WooCommerce's REST v3 orders endpoints answer
from the recorded-shape fixtures in tests/fixtures/orders; the shop's own signed
endpoint is a small Flask app that checks the HMAC itself, as a shop's server would.
`Faults.queue` holds responses served before the real ones: (status, headers, body),
where body is a dict (sent as JSON), a str (sent as it is) or a number of seconds to
stall for (a timeout).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response, request

FIXTURES = Path(__file__).parent / "fixtures" / "orders"
SHOPIFY_TOKEN = "shpat_test_token_never_logged"
WOO_KEY, WOO_SECRET = "ck_test_key", "cs_test_secret_never_logged"
ENDPOINT_SECRET = "whsec_test_secret_never_logged"
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def shopify_nodes() -> list[dict]:
    return json.loads((FIXTURES / "shopify_graphql_orders.json").read_text())["nodes"]


def woocommerce_orders() -> list[dict]:
    return json.loads((FIXTURES / "woocommerce_rest_orders.json").read_text())["orders"]


@dataclass
class Faults:
    queue: list[tuple[int, dict, object]] = field(default_factory=list)
    always: tuple[int, dict, object] | None = None  # a server that stays down
    requests: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds every answer takes, like a real API's (for bench/)

    def next(self) -> Response | None:
        if self.delay:
            time.sleep(self.delay)
        fault = self.always or (self.queue.pop(0) if self.queue else None)
        if fault is None:
            return None
        status, headers, body = fault
        if isinstance(body, int | float):
            time.sleep(body)
            body = {}
        text = body if isinstance(body, str) else json.dumps(body)
        return Response(text, status=status, headers=headers, content_type="application/json")


def _cursor(index: int) -> str:
    return base64.b64encode(json.dumps({"last_id": index}).encode()).decode()


def shopify_app(nodes: list[dict], faults: Faults, page_size: int | None = None) -> Flask:
    """POST /admin/api/<version>/graphql.json answering the `orders` query."""
    app = Flask("shopify")

    @app.post("/admin/api/<version>/graphql.json")
    def graphql(version: str):
        faults.requests.append(request.get_data(as_text=True))
        if request.headers.get("X-Shopify-Access-Token") != SHOPIFY_TOKEN:
            return {"errors": UNAUTHORIZED}, 401
        if (fault := faults.next()) is not None:
            return fault
        variables = request.get_json()["variables"]
        field_name, _, value = variables["query"].partition(":")
        if field_name == "name":
            matches = [n for n in nodes if n["name"].lstrip("#") == value.lstrip("#")]
        else:
            # Shopify's search is loose: the same mailbox name at any domain matches too.
            local = value.split("@")[0].split("+")[0]
            matches = [n for n in nodes if (n.get("email") or "").startswith(local)]
        after = variables.get("after")
        start = json.loads(base64.b64decode(after))["last_id"] + 1 if after else 0
        size = page_size or variables["first"]
        page = matches[start : start + size]
        more = start + size < len(matches)
        return {
            "data": {
                "orders": {
                    "pageInfo": {"hasNextPage": more, "endCursor": _cursor(start + len(page) - 1)},
                    "nodes": page,
                }
            },
            "extensions": {
                "cost": {
                    "requestedQueryCost": 52,
                    "actualQueryCost": 12,
                    "throttleStatus": {
                        "maximumAvailable": 2000.0,
                        "currentlyAvailable": 1988,
                        "restoreRate": 100.0,
                    },
                }
            },
        }

    return app


def woocommerce_app(orders: list[dict], faults: Faults, page_size: int | None = None) -> Flask:
    """GET /wp-json/wc/v3/orders/<id> and /wp-json/wc/v3/orders?search=…&page=…"""
    app = Flask("woocommerce")

    def refused():
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (WOO_KEY, WOO_SECRET):
            body = {
                "code": "woocommerce_rest_cannot_view",
                "message": "Sorry, you cannot list resources.",
                "data": {"status": 401},
            }
            return body, 401
        return faults.next()

    @app.get("/wp-json/wc/v3/orders/<int:order_id>")
    def one(order_id: int):
        faults.requests.append(request.full_path)
        if (refusal := refused()) is not None:
            return refusal
        for order in orders:
            if order["id"] == order_id:
                return order
        body = {
            "code": "woocommerce_rest_shop_order_invalid_id",
            "message": "Invalid ID.",
            "data": {"status": 404},
        }
        return body, 404

    @app.get("/wp-json/wc/v3/orders")
    def listing():
        faults.requests.append(request.full_path)
        if (refusal := refused()) is not None:
            return refusal
        search = request.args.get("search", "").lower()
        # WooCommerce searches names, addresses and emails: a surname matches other people.
        local = search.split("@")[0].split(".")[0]
        matches = [o for o in orders if local in json.dumps(o["billing"]).lower()]
        if request.args.get("orderby") == "date":
            newest = request.args.get("order") == "desc"
            matches.sort(key=lambda o: o.get("date_created_gmt", ""), reverse=newest)
        size = page_size or int(request.args.get("per_page", 10))
        page = int(request.args.get("page", 1))
        pages = max(1, -(-len(matches) // size))
        response = Response(
            json.dumps(matches[(page - 1) * size : page * size]), content_type="application/json"
        )
        response.headers["X-WP-Total"] = str(len(matches))
        response.headers["X-WP-TotalPages"] = str(pages)
        return response

    return app


def endpoint_app(orders: list[dict], faults: Faults, secret: str = ENDPOINT_SECRET) -> Flask:
    """The shop's own server, written from docs/formats.md alone: it checks the signature."""
    app = Flask("shop-endpoint")

    @app.before_request
    def verify():
        faults.requests.append(request.full_path)
        stamp = request.headers.get("X-Support-Timestamp", "")
        target = request.full_path.rstrip("?")
        expected = hmac.new(
            secret.encode(), f"{stamp}.{request.method}.{target}".encode(), hashlib.sha256
        ).hexdigest()
        given = request.headers.get("X-Support-Signature", "").removeprefix("v1=")
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300
        if not fresh or not hmac.compare_digest(given, expected):
            return {"error": "bad signature"}, 401
        return faults.next()

    @app.get("/orders/<order_id>")
    def one(order_id: str):
        for order in orders:
            if order["id"] == order_id:
                return {"order": order}
        return {"error": "not found"}, 404

    @app.get("/orders")
    def listing():
        email = request.args.get("email", "").lower()
        limit = int(request.args.get("limit", 3))
        mine = [o for o in orders if o["email"].lower() == email]
        return {"orders": sorted(mine, key=lambda o: o["created_at"], reverse=True)[:limit]}

    return app


ENDPOINT_ORDERS = [
    {
        "id": "A-5001",
        "email": "rosalind@example.net",
        "status": "Dispatched",
        "created_at": "2026-11-22T10:00:00Z",
        "items": [{"sku": "TEA-01", "name": "Sencha 100 g", "quantity": 3, "unit_price": "8.00"}],
        "total": "24.00",
        "currency": "€",
        "postcode": "75011",
        "carrier": "Colissimo",
        "tracking_number": "6A12345678901",
        "shipped_at": "2026-11-23T09:00:00Z",
        "expected_delivery": "2026-11-26T00:00:00Z",
    },
    {
        "id": "A-5002",
        "email": "rosalind@example.net",
        "status": "Awaiting courier",
        "created_at": "2026-11-27T10:00:00Z",
        "items": [{"sku": "TEA-02", "name": "Genmaicha", "quantity": 1, "unit_price": "9.00"}],
        "total": "9.00",
        "currency": "EUR",
        "postcode": "75011",
    },
]
