"""Order exports as shops hand them to their owners, read into our common `ShopOrder`.

An owner's first import is the file their shop already gives them, so we read it as it
is rather than asking for a conversion they would get wrong. Each order is read on its
own: a bad one comes back as a problem with its line, the rest still load. What stops
the whole file (unreadable, not UTF-8, an unknown header, cut off) comes back as text;
nothing here raises on bad input.

Layouts followed, checked against public copies (tests/fixtures/orders/README.md):

- Shopify admin "Export orders" CSV: 79 columns, one row per line item. The first row
  of an order carries the order's columns; further rows repeat `Name`, `Email`,
  `Created at`, `Vendor` and the `Lineitem …` columns only. Zips may carry a leading
  apostrophe that keeps Excel from dropping their leading zeros.
- WooCommerce Customer / Order / Coupon Export, "Default" CSV format (one row per order),
  as its generator writes it (v4.x): the order date's header is `date` (`order_date` in
  custom formats), `line_items` holds `key:value|key:value` items separated by `;` with
  `:`, `|` and `;` inside values escaped by a backslash, and a cell starting with `=`,
  `+`, `-` or `@` gets a leading apostrophe. Shipment Tracking adds one
  `shipment_tracking` column of such items (unescaped); custom formats may instead
  carry flat `tracking_provider` / `tracking_number` / `date_shipped` columns.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ingestion.order_states import OrderState, ShopSystem, Vocabulary
from ingestion.records import ShopOrder, describe


class ExportFormat(StrEnum):
    SHOPIFY = "shopify_csv"
    WOOCOMMERCE = "woocommerce_csv"


@dataclass
class ExportRow:
    """One order, or why it was skipped; `line` is the order's first line in the file."""

    line: int
    order: ShopOrder | None
    problem: str | None


@dataclass
class _Record:
    """One CSV record, keyed by lower-cased column; `broken` says why its cells can't be trusted."""

    line: int
    cells: dict[str, str]
    width: int
    broken: str | None = None


# Columns that only these exports have together; every other column is optional.
SHOPIFY_COLUMNS = frozenset(
    {"name", "email", "financial status", "fulfillment status", "created at", "total"}
    | {"lineitem name", "lineitem quantity", "lineitem price"}
)
WOOCOMMERCE_COLUMNS = frozenset(
    {"order_id", "status", "order_total", "billing_email", "line_items"}
)
WOOCOMMERCE_DATES = ("date", "order_date")

# Thousands separators only where they belong, so "1.234,50" is refused, not misread.
AMOUNT = re.compile(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")
CENT = Decimal("0.01")
# WooCommerce's pipe-delimited items: separators count unless escaped with a backslash.
ITEMS, FIELDS, KEY_VALUE = (re.compile(r"(?<!\\)" + separator) for separator in (";", r"\|", ":"))
ESCAPED = re.compile(r"\\([:|;])")


def sniff(header: list[str]) -> ExportFormat | None:
    """Which export a header row belongs to, or None when it is neither."""
    columns = {_column(name) for name in header}
    if columns >= SHOPIFY_COLUMNS:
        return ExportFormat.SHOPIFY
    if columns >= WOOCOMMERCE_COLUMNS and columns & set(WOOCOMMERCE_DATES):
        return ExportFormat.WOOCOMMERCE
    return None


def read_export(
    path: Path, vocabulary: Vocabulary
) -> tuple[ExportFormat | None, list[ExportRow], list[str]]:
    """The export's format, one row per order, and the problems that concern the whole file."""
    try:
        text = _read_text(path)
    except ValueError as error:
        return None, [], [str(error)]
    header, records = _parse(text)
    if not any(cell.strip() for cell in header):
        return None, [], ["the file is empty"]
    export_format = sniff(header)
    if export_format is None:
        shown = ", ".join(cell.strip() for cell in header[:6])
        unknown = (
            "unknown header: not a Shopify orders export nor a WooCommerce Customer/Order "
            f"Export CSV (it starts {shown}…)"
        )
        return None, [], [unknown]
    read = _shopify if export_format is ExportFormat.SHOPIFY else _woocommerce
    return export_format, read(records, vocabulary), _cut_off(records, len(header))


def _read_text(path: Path) -> str:
    """The file as text, or a ValueError saying in plain words why not."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the file: {error.strerror or error}") from None
    if b"\x00" in raw[:8192]:
        raise ValueError("binary data (or UTF-16 text), not a CSV file: export it again as CSV")
    try:
        return raw.decode("utf-8-sig")  # Excel puts a byte order mark in front
    except UnicodeDecodeError as error:
        raise ValueError(
            f"not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); "
            "save it as CSV UTF-8"
        ) from None


def _column(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


def _parse(text: str) -> tuple[list[str], list[_Record]]:
    """The header row and every non-blank record after it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    columns = [_column(name) for name in header]
    records: list[_Record] = []
    while True:
        line = reader.line_num + 1  # where this record starts; quoted cells may span lines
        try:
            cells = next(reader)
        except StopIteration:
            return header, records
        except csv.Error as error:
            records.append(_Record(line, {}, 0, f"unreadable: {error}"))
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, or the empty rows a spreadsheet leaves behind
        record = _Record(line, dict(zip(columns, cells, strict=False)), len(cells))
        if len(cells) != len(columns):
            # A stray comma or a cut shifts every later cell: nothing in the row is safe.
            record.broken = f"has {len(cells)} cells where the header has {len(columns)}"
        records.append(record)


def _cut_off(records: list[_Record], width: int) -> list[str]:
    last = records[-1] if records else None
    if last is None or not 0 < last.width < width:  # width 0: unreadable, not short
        return []
    return [
        f"the file looks cut off: its last record (line {last.line}) has {last.width} of "
        f"{width} cells; export it again"
    ]


def _export_row(
    records: list[_Record], order_id: str, fields: Callable[[], dict[str, Any]]
) -> ExportRow:
    line = records[0].line
    try:
        for record in records:
            if record.broken:
                where = "" if record.line == line else f"line {record.line} "
                raise ValueError(where + record.broken)
        return ExportRow(line, ShopOrder.model_validate(fields()), None)
    except ValidationError as error:
        reason = describe(error)
    except ValueError as error:  # our own parsing: amounts, dates, quantities
        reason = str(error)
    who = f"order #{order_id}" if order_id else "row"
    return ExportRow(line, None, f"{who} skipped: {reason}")


# Shopify


def _shopify(records: list[_Record], vocabulary: Vocabulary) -> list[ExportRow]:
    orders: dict[str, list[_Record]] = {}
    for record in records:
        # A row without a Name belongs to no order, so it stands alone.
        key = _cell(record.cells, "Name") or f"line {record.line}"
        orders.setdefault(key, []).append(record)
    return [
        _export_row(group, _shopify_id(group[0].cells), partial(_shopify_order, group, vocabulary))
        for group in orders.values()
    ]


def _shopify_id(cells: Mapping[str, str]) -> str:
    return _cell(cells, "Name").lstrip("#")


def _shopify_order(records: list[_Record], vocabulary: Vocabulary) -> dict[str, Any]:
    if not _shopify_id(records[0].cells):
        raise ValueError("Name: empty, so the row belongs to no order")
    # One row carries the order's own columns: the first, unless a spreadsheet sorted them.
    first = next((r.cells for r in records if _cell(r.cells, "Financial Status")), None)
    if first is None:
        raise ValueError("no row has the order's Financial Status: its first row is missing")
    financial = _cell(first, "Financial Status")
    fulfillment = _cell(first, "Fulfillment Status")
    state = vocabulary.shopify_state(financial, fulfillment)
    # Cancelling keeps the financial status, so the cancellation is only in this column.
    if _cell(first, "Cancelled at") and state is not OrderState.REFUNDED:
        state = OrderState.CANCELLED
    return {
        "id": _shopify_id(first),
        "email": _cell(first, "Email").lower(),
        "customer_name": _cell(first, "Billing Name") or _cell(first, "Shipping Name") or None,
        "postcode": _postcode(first, "Shipping Zip", "Billing Zip"),
        "status": f"{financial} / {fulfillment}" if fulfillment else financial,
        "state": state,
        "created_at": _time(first, "Created at"),
        "items": [_shopify_item(record.cells) for record in records],
        "total": _money(first, "Total"),
        "currency": vocabulary.currency(_cell(first, "Currency")),
        "refunded_total": abs(_money(first, "Refunded Amount")),
        "shipped_at": _time(first, "Fulfilled at"),
    }


def _shopify_item(cells: Mapping[str, str]) -> dict[str, Any]:
    name = _cell(cells, "Lineitem name")
    return {
        "sku": _cell(cells, "Lineitem sku") or name or "-",  # many products have no SKU
        "name": name,
        "quantity": _quantity(cells, "Lineitem quantity"),
        "unit_price": _money(cells, "Lineitem price"),
    }


# WooCommerce


def _woocommerce(records: list[_Record], vocabulary: Vocabulary) -> list[ExportRow]:
    return [
        _export_row(
            [record],
            _woocommerce_id(record.cells),
            partial(_woocommerce_order, record.cells, vocabulary),
        )
        for record in records
    ]


def _woocommerce_id(cells: Mapping[str, str]) -> str:
    # The formatted number is the one in the customer's emails (Sequential Order
    # Numbers and the like); `order_id` is the WordPress post behind it.
    return (
        _cell(cells, "order_number_formatted")
        or _cell(cells, "order_number")
        or _cell(cells, "order_id")
    )


def _woocommerce_order(cells: Mapping[str, str], vocabulary: Vocabulary) -> dict[str, Any]:
    status = _cell(cells, "status")
    if status.lower().startswith("wc-"):
        status = status[3:]  # WordPress's name for the status, not the shop's
    date = next((column for column in WOOCOMMERCE_DATES if column in cells), "date")
    return {
        "id": _woocommerce_id(cells),
        "email": _cell(cells, "billing_email").lower(),
        "customer_name": _full_name(cells, "billing") or _full_name(cells, "shipping") or None,
        "postcode": _postcode(cells, "shipping_postcode", "billing_postcode"),
        "status": status,
        "state": vocabulary.state(status, system=ShopSystem.WOOCOMMERCE),
        "created_at": _time(cells, date),
        "items": [_woocommerce_item(item) for item in _pipe_items(_cell(cells, "line_items"))],
        "total": _money(cells, "order_total"),
        "currency": vocabulary.currency(_cell(cells, "order_currency")),
        "refunded_total": abs(_money(cells, "refunded_total")),
        **_woocommerce_tracking(cells, vocabulary),
    }


def _full_name(cells: Mapping[str, str], kind: str) -> str:
    return f"{_cell(cells, kind + '_first_name')} {_cell(cells, kind + '_last_name')}".strip()


def _woocommerce_item(item: Mapping[str, str]) -> dict[str, Any]:
    name = _cell(item, "name")
    sku = _cell(item, "sku")
    if sku == "unknown_product":
        sku = ""  # the extension's stand-in when the product was deleted
    quantity = _quantity(item, "quantity")
    # `subtotal` is the line before coupons; a zero quantity is refused by the model.
    unit_price = (_money(item, "subtotal") / max(quantity, 1)).quantize(CENT)
    return {"sku": sku or name or "-", "name": name, "quantity": quantity, "unit_price": unit_price}


def _woocommerce_tracking(cells: Mapping[str, str], vocabulary: Vocabulary) -> dict[str, Any]:
    # Shipment Tracking lists every parcel; the last one is the latest. Without its
    # column, flat tracking columns (custom formats) live on the row itself.
    shipment = (_pipe_items(_cell(cells, "shipment_tracking")) or [cells])[-1]
    number = _cell(shipment, "tracking_number")
    if not number:
        return {}
    carrier = vocabulary.carrier(
        _cell(shipment, "formatted_tracking_provider")
        or _cell(shipment, "custom_tracking_provider")
        or _cell(shipment, "tracking_provider")
    )
    return {
        "carrier": carrier,
        "tracking_number": number,
        # The owner's settings first, then the link the shop itself built.
        "tracking_url": vocabulary.tracking_url(carrier, number)
        or _cell(shipment, "formatted_tracking_link")
        or _cell(shipment, "custom_tracking_link")
        or None,
        "shipped_at": _time(shipment, "date_shipped"),
    }


def _pipe_items(text: str) -> list[dict[str, str]]:
    """`key:value|key:value;key:value…` as one dict per item, backslash escapes undone."""
    items = []
    for item in ITEMS.split(text):
        pairs = [KEY_VALUE.split(field, maxsplit=1) for field in FIELDS.split(item)]
        fields = {
            pair[0].strip().lower(): ESCAPED.sub(r"\1", pair[1]) for pair in pairs if len(pair) == 2
        }
        if fields:
            items.append(fields)
    return items


# Cells


def _cell(cells: Mapping[str, str], column: str) -> str:
    return (cells.get(column.lower()) or "").strip()


def _postcode(cells: Mapping[str, str], *columns: str) -> str | None:
    text = next((_cell(cells, column) for column in columns if _cell(cells, column)), "")
    return text.lstrip("'") or None


def _money(cells: Mapping[str, str], column: str) -> Decimal:
    text = _cell(cells, column).lstrip("'")  # WooCommerce guards a leading "-" this way
    if not text:
        return Decimal(0)
    if not AMOUNT.fullmatch(text):
        raise ValueError(f'{column}: "{text}" is not an amount like 1,234.50')
    return Decimal(text.replace(",", ""))


def _quantity(cells: Mapping[str, str], column: str) -> int:
    text = _cell(cells, column)
    if not re.fullmatch(r"[0-9]+", text):
        raise ValueError(f'{column}: "{text}" is not a whole number')
    return int(text)


def _time(cells: Mapping[str, str], column: str) -> datetime | None:
    """Shopify's `2026-10-01 14:03:22 -0400`, WooCommerce's `2026-10-01 14:03:22` or a date."""
    text = _cell(cells, column)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)  # Python 3.11 reads all three
    except ValueError:
        raise ValueError(f'{column}: "{text}" is not a date like 2026-10-01 14:03:22') from None
