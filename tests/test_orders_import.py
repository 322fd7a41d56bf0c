"""`orders import`: bad records skipped by line, the rest loaded; re-import updates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ingestion.order_states import OrderState
from settings import load_settings
from store.db import session_factory
from store.models import Customer, Order, OrderItem
from tests.conftest import SAMPLE_SHOP, run_cli

GOOD_ORDER = {
    "id": "KC-1",
    "customer_id": "C1",
    "status": "shipped",
    "created_at": "2026-01-02T10:00:00Z",
    "items": [{"sku": "KC-FL-100", "name": "Paper Filters", "quantity": 2, "unit_price": 7.5}],
    "total": 20.95,
    "currency": "USD",
    "carrier": "USPS",
    "tracking_number": "9400100000000000000001",
    "shipped_at": "2026-01-02T20:00:00Z",
}


def test_sample_shop_imports_completely():
    result = run_cli("orders", "import", str(SAMPLE_SHOP / "shop.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "imported 65 customers and 146 orders (146 new, 0 updated) from json"
    )


def test_bad_records_are_reported_by_line_and_the_rest_load(tmp_path):
    path = tmp_path / "shop.json"
    data = {
        "customers": [
            {"id": "C1", "name": "Ada", "email": "Ada@Example.com"},
            {"id": "C2", "name": "No Email"},
            {"id": "C3", "name": "Dup", "email": "ada@example.com"},
        ],
        "orders": [
            GOOD_ORDER,
            {**GOOD_ORDER, "id": "KC-2", "customer_id": "C404"},
            {**GOOD_ORDER, "id": "KC-3", "status": "teleported", "currency": "zorkmid"},
            {**GOOD_ORDER, "id": "KC-4", "items": []},
        ],
    }
    path.write_text(json.dumps(data, indent=2))
    result = run_cli("orders", "import", str(path))
    assert result.returncode == 1
    assert result.stdout.strip() == "imported 1 customers and 2 orders (2 new, 0 updated) from json"
    lines = result.stderr.strip().splitlines()
    problems = [line for line in lines if line.startswith("skipped:")]
    assert len(problems) == 4
    # A status or currency nobody mapped is imported as unknown, and said so.
    assert lines[4:] == [
        "unmapped: status 'teleported' on 1 orders, imported as unknown "
        "(map it with SUPPORT_ORDER_STATUSES)",
        "unmapped: 1 orders in a currency we could not name, imported without one "
        "(map it with SUPPORT_CURRENCIES)",
    ]
    lines = path.read_text().splitlines()
    for problem, needle in zip(problems, ['"C2"', '"C3"', '"KC-2"', '"KC-4"'], strict=True):
        number = int(problem.split(":")[2])
        assert needle in "".join(lines[number - 1 : number + 1]), (problem, needle)
    assert "email: Field required" in problems[0]
    assert "email already used by C1" in problems[1]
    assert "unknown customer C404" in problems[2]
    assert "items" in problems[3]
    with session_factory(load_settings().db_url)() as session:
        teleported = session.get(Order, "KC-3")
        assert (teleported.status, teleported.shop_status) == ("unknown", "teleported")
        assert teleported.currency == "XXX"


def test_reimport_updates_instead_of_duplicating(tmp_path):
    path = tmp_path / "shop.json"
    customer = {"id": "C1", "name": "Ada", "email": "ada@example.com"}
    path.write_text(json.dumps({"customers": [customer], "orders": [GOOD_ORDER]}))
    assert run_cli("orders", "import", str(path)).returncode == 0
    delivered = {**GOOD_ORDER, "status": "delivered", "delivered_at": "2026-01-05T12:00:00Z"}
    path.write_text(json.dumps({"customers": [customer], "orders": [delivered]}))
    assert run_cli("orders", "import", str(path)).returncode == 0
    with session_factory(load_settings().db_url)() as session:
        orders = session.scalars(select(Order)).all()
        assert [(o.id, o.status, len(o.items)) for o in orders] == [("KC-1", "delivered", 1)]
        assert session.scalars(select(Customer)).one().email == "ada@example.com"


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "shop.json"
    path.write_text('{"customers": [\n  {"id": "C1",,}\n]}')
    result = run_cli("orders", "import", str(path))
    assert result.returncode == 1
    assert f"{path}:2: malformed JSON" in result.stderr


EXPORTS = Path(__file__).parent / "fixtures" / "orders"


@pytest.mark.parametrize(
    ("export", "summary", "skipped"),
    [
        (
            "shopify_orders_export.csv",
            "imported 11 customers and 12 orders (12 new, 0 updated) from shopify_csv",
            ["5: order #1013", "17: order #1004"],
        ),
        (
            "woocommerce_orders_export.csv",
            "imported 12 customers and 12 orders (12 new, 0 updated) from woocommerce_csv",
            ["13: order #1051", "15: order #1053"],
        ),
    ],
)
def test_a_shops_own_order_export_imports_and_reimports_without_duplicates(
    export, summary, skipped
):
    first = run_cli("orders", "import", str(EXPORTS / export))
    assert first.stdout.strip() == summary, first.stderr
    problems = [line for line in first.stderr.splitlines() if line.startswith("skipped:")]
    assert [p.split(f"{export}:")[1].split(" skipped")[0] for p in problems] == skipped
    again = run_cli("orders", "import", str(EXPORTS / export))
    assert "(0 new, 12 updated)" in again.stdout
    with session_factory(load_settings().db_url)() as session:
        assert session.scalar(select(func.count(Order.id))) == 12
        assert session.scalar(select(func.count(OrderItem.id))) >= 12
        states = {order.status for order in session.scalars(select(Order))}
        assert states <= {state.value for state in OrderState}


def test_a_shopify_export_keeps_the_shops_words_beside_ours():
    run_cli("orders", "import", str(EXPORTS / "shopify_orders_export.csv"))
    with session_factory(load_settings().db_url)() as session:
        partly = session.get(Order, "1006")
        assert (partly.shop_status, partly.status) == ("partially_refunded / fulfilled", "shipped")
        assert str(partly.refunded_total) == "18.00"
        boston = session.get(Order, "1001")
        assert boston.shipping_zip == "02134" and len(boston.items) == 2


def test_a_status_mapped_to_no_state_of_ours_stops_with_one_line():
    env = {"SUPPORT_ORDER_STATUSES": '{"woocommerce:awaiting-pickup": "teleported"}'}
    result = run_cli("orders", "import", str(EXPORTS / "woocommerce_orders_export.csv"), env=env)
    assert result.returncode != 0
    assert "SUPPORT_ORDER_STATUSES: 'woocommerce:awaiting-pickup' maps to 'teleported'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_dates_with_and_without_a_zone_and_overlong_names_still_import(tmp_path):
    path = tmp_path / "shop.json"
    customer = {"id": "C1", "name": "Ada", "email": "ada@example.com"}
    odd = {
        **GOOD_ORDER,
        "created_at": "2026-01-02T10:00:00",
        "carrier": "A carrier whose name goes on and on " * 3,
        "items": [{"sku": "S" * 90, "name": "N" * 300, "quantity": 1, "unit_price": 5}],
    }
    path.write_text(json.dumps({"customers": [customer], "orders": [odd]}))
    result = run_cli("orders", "import", str(path))
    assert result.returncode == 0, result.stderr
    with session_factory(load_settings().db_url)() as session:
        [item] = session.get(Order, "KC-1").items
        assert len(item.name) == 200 and len(item.sku) == 64
