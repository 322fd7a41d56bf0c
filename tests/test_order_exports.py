"""Shop order exports (Shopify, WooCommerce) read into ShopOrder: bad orders by line, no raising."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.order_exports import ExportFormat, ExportRow, read_export, sniff
from ingestion.order_states import OrderState, Vocabulary
from ingestion.records import RefundState, ShopOrder

FIXTURES = Path(__file__).parent / "fixtures" / "orders"
SHOPIFY = FIXTURES / "shopify_orders_export.csv"
WOOCOMMERCE = FIXTURES / "woocommerce_orders_export.csv"
EDT = timezone(timedelta(hours=-4))


def orders(path: Path, vocabulary: Vocabulary | None = None) -> dict[str, ShopOrder]:
    _, rows, _ = read_export(path, vocabulary or Vocabulary())
    return {row.order.id: row.order for row in rows if row.order}


def problems(rows: list[ExportRow]) -> list[str]:
    return [f"line {row.line}: {row.problem}" for row in rows if row.problem]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


def woocommerce_csv(tmp_path: Path, **cells: str) -> Path:
    """One WooCommerce order with just the columns that matter, `cells` overriding them."""
    row = {
        "order_id": "7001",
        "order_number": "7001",
        "date": "2026-10-05 10:00:00",
        "status": "completed",
        "order_total": "20.00",
        "refunded_total": "0.00",
        "order_currency": "USD",
        "billing_email": "ada@example.com",
        "line_items": "id:1|name:Sencha 100g|sku:TEA-SEN|quantity:1|subtotal:20.00|total:20.00",
        **cells,
    }
    path = tmp_path / "woo.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(row)
        writer.writerow(row.values())
    return path


def test_the_shopify_export_reads_twelve_orders_and_skips_two_by_their_first_line():
    export_format, rows, file_problems = read_export(SHOPIFY, Vocabulary())
    assert export_format is ExportFormat.SHOPIFY
    assert file_problems == []
    assert [row.line for row in rows] == [2, 5, 6, 7, 8, 9, 10, 11, 12, 14, 17, 19, 23, 24]
    assert len([row for row in rows if row.order]) == 12
    bad_date, bad_email = problems(rows)
    assert bad_date == (
        'line 5: order #1013 skipped: Created at: "11/5/2026 10:41" is not a date like '
        "2026-10-01 14:03:22"
    )
    assert bad_email.startswith(
        "line 17: order #1004 skipped: email: value is not a valid email address"
    )


def test_the_woocommerce_export_reads_twelve_orders_and_skips_two_by_line():
    export_format, rows, file_problems = read_export(WOOCOMMERCE, Vocabulary())
    assert export_format is ExportFormat.WOOCOMMERCE
    assert file_problems == []
    assert len([row for row in rows if row.order]) == 12
    no_email, shifted = problems(rows)
    assert no_email.startswith(
        "line 13: order #1051 skipped: email: value is not a valid email address"
    )
    assert shifted == "line 15: order #1053 skipped: has 48 cells where the header has 47"


def test_a_multi_line_shopify_order_becomes_one_order_with_all_its_items():
    order = orders(SHOPIFY)["1003"]
    assert [(item.sku, item.quantity, item.unit_price) for item in order.items] == [
        ("MUG2-FOG", 2, Decimal("36.00")),
        ("BGM-01", 1, Decimal("129.00")),
        ("HB-12-G", 4, Decimal("16.00")),
    ]
    assert order.total == Decimal("254.96")


def test_a_shopify_order_sorted_by_a_spreadsheet_still_finds_its_own_row(tmp_path):
    header, *order_1014 = SHOPIFY.read_text(encoding="utf-8").splitlines()[:4]  # lines 1-4
    sorted_by_item = write(tmp_path, "\n".join([header, *reversed(order_1014), ""]))
    order = orders(sorted_by_item)["1014"]
    assert (order.status, order.total, len(order.items)) == ("paid / partial", Decimal("171.11"), 3)


def test_shopify_rows_without_their_order_row_or_a_name_are_skipped(tmp_path):
    lines = SHOPIFY.read_text(encoding="utf-8").splitlines()
    header, second_item = lines[0], lines[2]  # an item row of #1014, without its order row
    orphans = write(tmp_path, "\n".join([header, second_item, second_item[5:], ""]))
    _, rows, _ = read_export(orphans, Vocabulary())
    assert problems(rows) == [
        "line 2: order #1014 skipped: no row has the order's Financial Status: "
        "its first row is missing",
        "line 3: row skipped: Name: empty, so the row belongs to no order",
    ]


def test_a_shopify_line_item_without_a_sku_uses_its_name():
    beans = orders(SHOPIFY)["1001"].items[1]
    assert beans.sku == beans.name == "Single Origin Ethiopia Guji 12oz - Whole Bean"


@pytest.mark.parametrize(
    ("order_id", "status", "state"),
    [
        ("1001", "paid / fulfilled", OrderState.SHIPPED),
        ("1002", "pending / unfulfilled", OrderState.AWAITING_PAYMENT),
        ("1003", "authorized / unfulfilled", OrderState.PROCESSING),
        ("1005", "partially_paid / partial", OrderState.AWAITING_PAYMENT),
        ("1006", "partially_refunded / fulfilled", OrderState.SHIPPED),
        ("1007", "refunded / restocked", OrderState.REFUNDED),
        ("1008", "voided / unfulfilled", OrderState.CANCELLED),
        ("1009", "expired", OrderState.CANCELLED),
        ("1014", "paid / partial", OrderState.SHIPPED),
    ],
)
def test_shopify_statuses_keep_the_shops_words_and_map_to_our_state(order_id, status, state):
    order = orders(SHOPIFY)[order_id]
    assert (order.status, order.state) == (status, state)


def test_a_cancelled_shopify_order_is_cancelled_unless_it_was_refunded():
    read = orders(SHOPIFY)
    assert (read["1011"].status, read["1011"].state) == ("paid / unfulfilled", "cancelled")
    assert (read["1010"].status, read["1010"].state) == ("refunded / unfulfilled", "refunded")


def test_a_shopify_order_brings_its_customer_money_and_dates():
    read = orders(SHOPIFY)
    first = read["1001"]
    assert first.email == "maya.lindqvist@example.com"
    assert first.customer_name == "Maya Lindqvist"
    assert first.postcode == "02134"  # written '02134 to keep Excel from eating the zero
    assert first.created_at == datetime(2026, 10, 2, 8, 31, 13, tzinfo=EDT)
    assert first.shipped_at == datetime(2026, 10, 3, 13, 47, 29, tzinfo=EDT)
    assert (first.total, first.currency) == (Decimal("128.39"), "USD")
    assert (read["1006"].refunded_total, read["1006"].refund_state) == (
        Decimal("18.00"),
        RefundState.PARTIAL,
    )
    assert read["1007"].refund_state is RefundState.FULL
    assert (read["1012"].currency, read["1012"].postcode) == ("CAD", "M5V 2A2")


@pytest.mark.parametrize(
    ("order_id", "status", "state"),
    [
        ("1041", "completed", OrderState.SHIPPED),
        ("1042", "processing", OrderState.PROCESSING),
        ("1043", "on-hold", OrderState.ON_HOLD),  # written wc-on-hold
        ("1044", "pending", OrderState.AWAITING_PAYMENT),
        ("1045", "failed", OrderState.AWAITING_PAYMENT),
        ("1046", "cancelled", OrderState.CANCELLED),
        ("1047", "refunded", OrderState.REFUNDED),
        ("1050", "completed", OrderState.SHIPPED),  # written wc-completed
    ],
)
def test_woocommerce_statuses_keep_the_shops_words_without_wc_and_map_to_our_state(
    order_id, status, state
):
    order = orders(WOOCOMMERCE)[order_id]
    assert (order.status, order.state) == (status, state)


def test_a_custom_woocommerce_status_is_unknown_until_the_owner_maps_it():
    assert orders(WOOCOMMERCE)["1049"].state is OrderState.UNKNOWN
    owner = Vocabulary(statuses={"woocommerce:awaiting-pickup": "shipped"})
    pickup = orders(WOOCOMMERCE, owner)["1049"]
    assert (pickup.status, pickup.state) == ("awaiting-pickup", OrderState.SHIPPED)


def test_a_woocommerce_order_brings_its_number_customer_money_and_date():
    read = orders(WOOCOMMERCE)
    first = read["1041"]  # its WordPress order_id is 5811; customers know 1041
    assert first.email == "hazel.montgomery@example.com"
    assert first.customer_name == "Hazel Montgomery"
    assert first.postcode == "97211"
    assert first.created_at == datetime(2026, 10, 1, 14, 3, 22)
    assert (first.total, first.currency) == (Decimal("34.50"), "USD")
    assert read["1045"].email == "sofia.marchetti@example.com"
    assert (read["1047"].refunded_total, read["1047"].refund_state) == (
        Decimal("43.50"),
        RefundState.FULL,
    )
    assert read["1048"].refund_state is RefundState.PARTIAL
    assert read["1050"].currency == "CAD"


def test_woocommerce_line_items_are_unescaped_and_priced_per_unit():
    read = orders(WOOCOMMERCE)
    assert [(item.sku, item.name) for item in read["1052"].items] == [
        ("ACC-CHASEN", "Matcha Whisk (Chasen)"),
        ("Gift Card: $25", "Gift Card: $25"),  # no SKU: the name stands in
        ("Discontinued Tin - Blue", "Discontinued Tin - Blue"),  # sku was unknown_product
    ]
    mugs, tin = read["1048"].items[1:]
    assert (mugs.quantity, mugs.unit_price) == (2, Decimal("12.50"))  # subtotal 25.00 / 2
    assert tin.name == "Tea Tin: Large (Copper)"


def test_shipment_tracking_gives_carrier_number_link_and_ship_date():
    read = orders(WOOCOMMERCE)
    usps = read["1041"]
    assert (usps.carrier, usps.tracking_number) == ("USPS", "9400111899561234567890")
    assert usps.tracking_url == (
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899561234567890"
    )
    assert usps.shipped_at == datetime(2026, 10, 2)
    assert read["1048"].tracking_number == "1Z999AA10123456795"  # the later of two parcels
    assert read["1050"].carrier == "Canada Post"
    ontrac = read["1054"]  # a carrier we don't know keeps its name and the shop's own link
    assert (ontrac.carrier, ontrac.tracking_url) == (
        "OnTrac",
        "https://www.ontrac.com/tracking/?number=D10011234567890",
    )
    assert read["1042"].tracking_number is None


def test_flat_tracking_columns_of_a_custom_woocommerce_format_are_read_too(tmp_path):
    path = woocommerce_csv(
        tmp_path,
        tracking_provider="royal-mail",
        tracking_number="AB123456789GB",
        date_shipped="2026-10-06",
    )
    order = orders(path)["7001"]
    assert (order.carrier, order.tracking_number) == ("Royal Mail", "AB123456789GB")
    assert order.tracking_url.endswith("AB123456789GB")
    assert order.shipped_at == datetime(2026, 10, 6)


@pytest.mark.parametrize(("written", "code"), [("BTC", "XXX"), ("C$", "CAD"), ("", "XXX")])
def test_a_currency_becomes_its_iso_code_or_xxx_when_nobody_mapped_it(tmp_path, written, code):
    assert orders(woocommerce_csv(tmp_path, order_currency=written))["7001"].currency == code


def test_amounts_may_have_thousands_separators_or_be_empty(tmp_path):
    path = woocommerce_csv(tmp_path, order_total="1,234.50", refunded_total="")
    order = orders(path)["7001"]
    assert (order.total, order.refunded_total) == (Decimal("1234.50"), Decimal(0))


def test_a_negative_refund_guarded_with_an_apostrophe_counts_as_refunded(tmp_path):
    order = orders(woocommerce_csv(tmp_path, refunded_total="'-12.50"))["7001"]
    assert order.refunded_total == Decimal("12.50")


def test_an_amount_in_another_locale_is_refused_not_misread(tmp_path):
    _, rows, _ = read_export(woocommerce_csv(tmp_path, order_total="1.234,50"), Vocabulary())
    assert problems(rows) == [
        'line 2: order #7001 skipped: order_total: "1.234,50" is not an amount like 1,234.50'
    ]


@pytest.mark.parametrize(("path", "last_line", "width"), [(SHOPIFY, 26, 79), (WOOCOMMERCE, 16, 47)])
def test_a_truncated_file_says_so_and_keeps_the_orders_before_the_cut(
    tmp_path, path, last_line, width
):
    text = path.read_text(encoding="utf-8")
    cut = write(tmp_path, text[: text.rindex("\n", 0, -1) + 60])  # into the last record
    export_format, rows, file_problems = read_export(cut, Vocabulary())
    assert export_format is not None
    [cut_off] = file_problems
    assert cut_off.startswith(f"the file looks cut off: its last record (line {last_line})")
    assert len([row for row in rows if row.order]) == 11
    assert problems(rows)[-1].endswith(f"where the header has {width}")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"sku,title,price\nKPG-BLK,Kettle,89.00\n", "unknown header: not a Shopify orders export"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data (or UTF-16 text), not a CSV file"),
        (SHOPIFY.read_text(encoding="utf-8").encode("cp1252"), "not UTF-8 text (byte 0xed at"),
    ],
    ids=["empty", "unknown header", "binary", "windows-1252"],
)
def test_a_file_we_cannot_read_gives_one_clear_problem_without_raising(tmp_path, content, problem):
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    export_format, rows, file_problems = read_export(path, Vocabulary())
    assert (export_format, rows) == (None, [])
    assert len(file_problems) == 1
    assert file_problems[0].startswith(problem)


def test_a_missing_file_is_a_problem_not_an_exception(tmp_path):
    assert read_export(tmp_path / "nope.csv", Vocabulary()) == (
        None,
        [],
        ["cannot read the file: No such file or directory"],
    )


def test_an_excel_byte_order_mark_and_windows_line_ends_change_nothing(tmp_path):
    text = SHOPIFY.read_text(encoding="utf-8")
    excel = write(tmp_path, "\ufeff" + text.replace("\n", "\r\n"))
    assert read_export(excel, Vocabulary()) == read_export(SHOPIFY, Vocabulary())


def test_sniff_knows_each_export_by_its_header():
    shopify = SHOPIFY.read_text(encoding="utf-8").splitlines()[0].split(",")
    woocommerce = WOOCOMMERCE.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert sniff(shopify) is ExportFormat.SHOPIFY
    assert sniff(["\ufeff" + shopify[0].upper(), *shopify[1:]]) is ExportFormat.SHOPIFY
    assert sniff(woocommerce) is ExportFormat.WOOCOMMERCE
    custom = ["order_date" if name == "date" else name for name in woocommerce]
    assert sniff(custom) is ExportFormat.WOOCOMMERCE
    assert sniff(["Handle", "Title", "Variant SKU"]) is None
