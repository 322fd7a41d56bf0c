"""`orders import`: bad records skipped by line, the rest loaded; re-import updates."""

from __future__ import annotations

import json

from sqlalchemy import select

from settings import load_settings
from store.db import session_factory
from store.models import Customer, Order
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
    assert result.stdout.strip() == "imported 65 customers and 146 orders"


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
            {**GOOD_ORDER, "id": "KC-3", "status": "teleported"},
            {**GOOD_ORDER, "id": "KC-4", "items": []},
        ],
    }
    path.write_text(json.dumps(data, indent=2))
    result = run_cli("orders", "import", str(path))
    assert result.returncode == 1
    assert result.stdout.strip() == "imported 1 customers and 1 orders"
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 5
    lines = path.read_text().splitlines()
    for problem, needle in zip(
        problems, ['"C2"', '"C3"', '"KC-2"', '"KC-3"', '"KC-4"'], strict=True
    ):
        number = int(problem.split(":")[2])
        assert needle in "".join(lines[number - 1 : number + 1]), (problem, needle)
    assert "email: Field required" in problems[0]
    assert "email already used by C1" in problems[1]
    assert "unknown customer C404" in problems[2]
    assert "status" in problems[3] and "items" in problems[4]


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
