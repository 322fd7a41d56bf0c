"""Live order lookups against loopback servers speaking Shopify's, WooCommerce's and the
shop's own documented APIs: answers, pagination, and every way a shop's API fails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

import connectors.signed_http
from connectors import ConnectorError, connector_for, connector_name
from connectors.base import Connector
from doctor import _orders as doctor_orders
from doctor import run_check
from ingestion.order_states import OrderState
from ingestion.records import RefundState
from settings import ConfigError, Settings
from tests.loopback import served
from tests.shop_apis import (
    ENDPOINT_ORDERS,
    ENDPOINT_SECRET,
    SHOPIFY_TOKEN,
    WOO_KEY,
    WOO_SECRET,
    Faults,
    endpoint_app,
    shopify_app,
    shopify_nodes,
    woocommerce_app,
    woocommerce_orders,
)


@dataclass
class Shop:
    """One connector pointed at its loopback server, with what it sent and slept."""

    connector: Connector
    faults: Faults
    slept: list[float]
    order_id: str  # an order of `email`
    email: str
    secret: str


def _settings(tmp_path, **values) -> Settings:
    return Settings(data_dir=tmp_path, orders_timeout=1.0, orders_max_wait=5.0, **values)


@contextmanager
def _shop(
    kind: str, tmp_path, page_size: int | None = None, extra: tuple = (), **overrides
) -> Iterator[Shop]:
    """`extra` orders are served beside the fixture's."""
    faults = Faults()
    if kind == "shopify":
        app, order_id = shopify_app([*shopify_nodes(), *extra], faults, page_size), "1001"
        email = "ada.lovelace@example.com"
    elif kind == "woocommerce":
        orders = [*woocommerce_orders(), *extra]
        app, order_id = woocommerce_app(orders, faults, page_size), "727"
        email = "mary.somerville@example.co.uk"
    else:
        app, order_id = endpoint_app([*ENDPOINT_ORDERS, *extra], faults), "A-5001"
        email = "rosalind@example.net"
    with served(app) as url:
        values = {
            "shopify": {"shopify_store": url, "shopify_token": SHOPIFY_TOKEN},
            "woocommerce": {
                "woocommerce_url": url,
                "woocommerce_key": WOO_KEY,
                "woocommerce_secret": WOO_SECRET,
            },
            "http": {"orders_url": url, "orders_secret": ENDPOINT_SECRET},
        }[kind]
        secret = next(v for k, v in values.items() if k.endswith(("token", "secret")))
        connector = connector_for(_settings(tmp_path, **(values | overrides)))
        slept: list[float] = []
        connector.sleep = slept.append
        yield Shop(connector, faults, slept, order_id, email, secret)


KINDS = ["shopify", "woocommerce", "http"]


def test_shopify_order_comes_with_its_own_status_words_tracking_and_delivery_estimate(tmp_path):
    with _shop("shopify", tmp_path) as shop:
        order = shop.connector.find("#1001")
    assert order.id == "1001" and order.email == "ada.lovelace@example.com"
    assert order.status == "paid / fulfilled" and order.state == OrderState.SHIPPED
    assert order.carrier == "DHL" and order.tracking_number == "JD014600006281230704"
    assert order.tracking_url.startswith("https://www.dhl.com/")
    assert order.expected_delivery.date().isoformat() == "2026-11-25"
    assert [(i.name, i.quantity) for i in order.items] == [
        ("Pour-over Kettle - Matte Black", 1),
        ("Paper Filters (100)", 2),
    ]
    assert order.postcode == "10115" and order.currency == "EUR"


def test_shopify_delivered_partly_refunded_and_cancelled_orders_keep_their_meaning(tmp_path):
    with _shop("shopify", tmp_path) as shop:
        delivered, cancelled, held = (shop.connector.find(n) for n in ("1002", "1004", "1005"))
    assert delivered.state == OrderState.DELIVERED
    assert (
        delivered.refund_state == RefundState.PARTIAL and str(delivered.refunded_total) == "20.00"
    )
    assert delivered.tracking_url == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert cancelled.state == OrderState.CANCELLED and cancelled.status == "voided / unfulfilled"
    assert held.state == OrderState.ON_HOLD


def test_woocommerce_order_has_its_shipment_tracking_and_refunds(tmp_path):
    with _shop("woocommerce", tmp_path) as shop:
        completed, refunded = shop.connector.find("727"), shop.connector.find("#735")
        custom = shop.connector.find("740")
        missing = shop.connector.find("999")
    assert completed.status == "completed" and completed.state == OrderState.SHIPPED
    assert completed.carrier == "Royal Mail" and completed.tracking_number == "AB123456789GB"
    assert "AB123456789GB" in completed.tracking_url
    assert completed.shipped_at.year == 2026 and completed.currency == "GBP"
    assert completed.postcode == "EH1 1AA"
    assert refunded.state == OrderState.REFUNDED and refunded.refund_state == RefundState.FULL
    assert custom.status == "awaiting-pickup" and custom.state == OrderState.UNKNOWN
    assert missing is None


def test_an_owner_maps_a_custom_woocommerce_status_in_settings(tmp_path):
    statuses = {"woocommerce:awaiting-pickup": "shipped"}
    with _shop("woocommerce", tmp_path, order_statuses=statuses) as shop:
        assert shop.connector.find("740").state == OrderState.SHIPPED


def test_signed_endpoint_orders_are_read_in_the_shops_words(tmp_path):
    with _shop("http", tmp_path) as shop:
        order = shop.connector.find("A-5001")
        assert shop.connector.find("A-404") is None
    assert order.status == "Dispatched" and order.state == OrderState.SHIPPED
    assert order.currency == "EUR" and order.carrier == "La Poste"
    assert (
        order.tracking_url == "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_recent_orders_are_the_customers_own_newest_first(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        orders = shop.connector.recent(shop.email, 3)
    assert orders and all(order.email == shop.email for order in orders)
    assert [o.created_at for o in orders] == sorted((o.created_at for o in orders), reverse=True)


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
def test_loose_search_results_are_paged_through_and_only_exact_emails_count(kind, tmp_path):
    # One order a page: the near-miss emails (ada.lovelace+shop@…, other Marys) are skipped.
    with _shop(kind, tmp_path, page_size=1) as shop:
        orders = shop.connector.recent(shop.email, 3)
        pages = len(shop.faults.requests)
    expected = {"shopify": ["1001", "1002", "1005"], "woocommerce": ["727", "731", "735"]}[kind]
    assert sorted(o.id for o in orders) == expected
    assert pages >= 3


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limit_is_waited_out_as_retry_after_says(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        shop.faults.queue.append((429, {"Retry-After": "2"}, {"errors": "Exceeded 2 calls/s"}))
        order = shop.connector.find(shop.order_id)
    assert order is not None and shop.slept == [2.0]
    assert len(shop.faults.requests) == 2


def test_shopify_graphql_throttling_in_a_200_response_is_retried(tmp_path):
    throttled = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"throttleStatus": {"currentlyAvailable": 0}}},
    }
    with _shop("shopify", tmp_path) as shop:
        shop.faults.queue.append((200, {}, throttled))
        assert shop.connector.find("1001") is not None
    assert len(shop.slept) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_after_beyond_the_wait_budget_gives_up_at_once(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        shop.faults.always = (429, {"Retry-After": "120"}, {})
        with pytest.raises(ConnectorError, match=r"rate limited \(HTTP 429\) \(1 try\)"):
            shop.connector.find(shop.order_id)
    assert shop.slept == [] and len(shop.faults.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_server_errors_are_retried_with_backoff_then_reported(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        shop.faults.always = (503, {}, "<html>Service Unavailable</html>")
        with pytest.raises(ConnectorError, match=r"did not answer: HTTP 503 \(3 tries\)"):
            shop.connector.find(shop.order_id)
    assert len(shop.faults.requests) == 3
    assert len(shop.slept) == 2 and shop.slept[0] < shop.slept[1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_passing_outage_is_ridden_out(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        shop.faults.queue += [(502, {}, "Bad Gateway"), (500, {}, {"error": "boom"})]
        assert shop.connector.find(shop.order_id) is not None
    assert len(shop.faults.requests) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_credentials_fail_at_once_and_the_secret_is_not_in_the_message(kind, tmp_path):
    wrong = {
        "shopify": {"shopify_token": "shpat_wrong"},
        "woocommerce": {"woocommerce_secret": "cs_wrong"},
        "http": {"orders_secret": "wrong"},
    }[kind]
    refused = pytest.raises(ConnectorError, match="refused our credentials")
    with _shop(kind, tmp_path, **wrong) as shop, refused as error:
        shop.connector.find(shop.order_id)
    assert len(shop.faults.requests) == 1
    assert shop.secret not in str(error.value) and "wrong" not in str(error.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_that_is_not_json_is_a_clear_error(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        shop.faults.queue.append((200, {}, "<html><body>Maintenance</body></html>"))
        with pytest.raises(ConnectorError, match="not JSON"):
            shop.connector.find(shop.order_id)


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("shopify", {"data": {"orders": {"nodes": [{"name": "#1001"}]}}}),
        ("woocommerce", {"id": 727, "status": "completed", "total": "lots"}),
        ("http", {"order": {"id": "A-5001", "email": "rosalind@example.net"}}),
    ],
)
def test_an_order_in_a_shape_we_do_not_know_is_a_clear_error(kind, body, tmp_path):
    with _shop(kind, tmp_path) as shop:
        shop.faults.queue.append((200, {}, body))
        with pytest.raises(ConnectorError, match="shape we cannot read"):
            shop.connector.find(shop.order_id)


@pytest.mark.parametrize("kind", KINDS)
def test_a_shop_that_does_not_answer_in_time_is_a_timeout(kind, tmp_path):
    with _shop(kind, tmp_path, orders_retries=1) as shop:
        shop.faults.queue.append((200, {}, 3))
        with pytest.raises(ConnectorError, match=r"no response within 1 s \(1 try\)"):
            shop.connector.find(shop.order_id)


def test_a_dead_server_is_a_connection_error(tmp_path):
    with _shop("http", tmp_path, orders_retries=2) as shop:
        pass  # the server is gone now
    with pytest.raises(ConnectorError, match=r"cannot connect \(ConnectError\) \(2 tries\)"):
        shop.connector.find(shop.order_id)


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_is_reused_for_a_short_while(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        first, again = shop.connector.find(shop.order_id), shop.connector.find(shop.order_id)
    assert first == again and len(shop.faults.requests) == 1


def test_the_signed_endpoint_refuses_a_replayed_request(tmp_path, monkeypatch):
    hour_ago = SimpleNamespace(time=lambda: time.time() - 3600)
    monkeypatch.setattr(connectors.signed_http, "time", hour_ago)  # only the connector's clock
    with _shop("http", tmp_path) as shop, pytest.raises(ConnectorError, match="refused our"):
        shop.connector.find(shop.order_id)


def test_settings_choose_the_connector_or_say_what_is_missing(tmp_path):
    assert connector_name(_settings(tmp_path)) is None
    shopify = {"shopify_store": "kettle", "shopify_token": "t"}
    assert connector_name(_settings(tmp_path, **shopify)) == "shopify"
    both = shopify | {"orders_url": "https://shop.example/api", "orders_secret": "s"}
    with pytest.raises(ConfigError, match="choose one with SUPPORT_ORDERS_CONNECTOR"):
        connector_name(_settings(tmp_path, **both))
    assert connector_name(_settings(tmp_path, orders_connector="http", **both)) == "http"
    assert connector_name(_settings(tmp_path, orders_connector="snapshot", **both)) is None
    with pytest.raises(ConfigError, match="needs SUPPORT_WOOCOMMERCE_URL"):
        connector_name(_settings(tmp_path, orders_connector="woocommerce"))


@pytest.mark.parametrize("kind", KINDS)
def test_doctor_checks_the_configured_connector_with_one_real_call(kind, tmp_path):
    with _shop(kind, tmp_path) as shop:
        settings = shop.connector.settings
        check = run_check("orders", doctor_orders, settings)
        assert check.ok and check.detail.startswith(f"{shop.connector.name} answered a lookup")
        assert len(shop.faults.requests) == 1
        shop.faults.always = (401, {}, {"errors": "Invalid API key or access token"})
        refused = run_check("orders", doctor_orders, settings)
    assert not refused.ok and "refused our credentials" in refused.detail
    assert shop.secret not in refused.detail


ODD_ORDERS = {
    # Near misses of each search, in shapes we cannot read: someone else's orders.
    "shopify": {"name": "#1099", "email": "ada.lovelace@shop.local", "createdAt": "yesterday"},
    "woocommerce": {
        "id": 799,
        "status": "completed",
        "total": "lots",
        "billing": {"email": "mary.somerville@shop.local"},
    },
    "http": {"id": "A-5099", "email": "someone.else@example.net", "total": "lots"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_someone_elses_odd_order_in_the_results_does_not_break_a_lookup(kind, tmp_path):
    with _shop(kind, tmp_path, extra=(ODD_ORDERS[kind],)) as shop:
        orders = shop.connector.recent(shop.email, 3)
    assert orders and all(order.email == shop.email for order in orders)


def test_a_woocommerce_post_id_is_not_taken_for_another_order_number(tmp_path):
    renumbered = {**woocommerce_orders()[1], "id": 1001, "number": "1040"}
    with _shop("woocommerce", tmp_path, extra=(renumbered,)) as shop:
        assert shop.connector.find("1001") is None


def test_a_shipping_date_in_milliseconds_is_ignored_not_a_crash(tmp_path):
    order = woocommerce_orders()[0]
    [meta] = order["meta_data"]
    tracking = {**meta["value"][0], "date_shipped": "1795615200000"}
    odd = {**order, "id": 728, "number": "728", "meta_data": [{**meta, "value": [tracking]}]}
    with _shop("woocommerce", tmp_path, extra=(odd,)) as shop:
        found = shop.connector.find("728")
    assert found.tracking_number == "AB123456789GB"


@pytest.mark.parametrize(
    "values",
    [
        {"shopify_store": "http://kettle.example", "shopify_token": "t"},
        {"orders_url": "http://shop.example/api", "orders_secret": "s"},
        {
            "woocommerce_url": "http://shop.example",
            "woocommerce_key": "k",
            "woocommerce_secret": "s",
        },
    ],
)
def test_credentials_are_never_sent_over_plain_http(tmp_path, values):
    with pytest.raises(ConfigError, match="only sent over https"):
        connector_for(_settings(tmp_path, **values))
