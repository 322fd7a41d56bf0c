"""Live order lookups: what a lookup in the shop's system adds to a turn, against the floor.

    .venv/bin/python bench/bench_orders.py [--turns N] [--delay-ms 0,150]

A loopback server speaks Shopify's Admin GraphQL API (tests/shop_apis.py) and answers
after a fixed delay, as a real API would. For each delay, N turns ask "where is my
order?" as signed-in customers (answered by the order-status template, no model):
once with the imported snapshot, once with the live Shopify connector (cache off).
The floor is the connector's own response time: the same lookup made directly.
Added latency = live turn − snapshot turn, compared with the floor in the same run.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402
from sqlalchemy import select  # noqa: E402

from connectors import connector_for  # noqa: E402
from desk import Desk  # noqa: E402
from ingestion.order_states import Vocabulary  # noqa: E402
from ingestion.sync import sync  # noqa: E402
from settings import Settings  # noqa: E402
from store.db import session_factory  # noqa: E402
from store.models import Customer, Order  # noqa: E402
from store.orders import import_orders  # noqa: E402
from tests.loopback import served  # noqa: E402
from tests.shop_apis import SHOPIFY_TOKEN, Faults, shopify_app, shopify_nodes  # noqa: E402

SHOP = ROOT / "sample_shop"
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise


def _p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _timed(call, turns: int) -> list[float]:
    call()  # warm: connections, caches, lazy imports
    samples = []
    for _ in range(turns):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--delay-ms", default="0,150")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Settings(data_dir=Path(tmp), shop_name="Kettle & Crane", llm_model="local/none")
        sync([SHOP / n for n in ("faqs.jsonl", "articles.jsonl", "tickets.jsonl")], base)
        with session_factory(base.db_url)() as session:
            import_orders(SHOP / "shop.json", session, Vocabulary.from_settings(base))
        snapshot = Desk(base)
        with snapshot.sessions() as session:
            order = session.scalars(
                select(Order).join(Customer).where(Order.status == "shipped")
            ).first()
            known, owner = order.id, order.customer.email
        print(f"{args.turns} turns each; milliseconds, p50 / p95")
        print(
            "| server delay | connector floor | snapshot turn | live turn | added | added / floor |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for delay in (float(d) / 1000 for d in args.delay_ms.split(",")):
            faults = Faults(delay=delay)
            with served(shopify_app(shopify_nodes(), faults)) as url:
                live_settings = base.model_copy(
                    update={
                        "shopify_store": url,
                        "shopify_token": SecretStr(SHOPIFY_TOKEN),
                        "orders_cache_seconds": 0,
                    }
                )
                connector = connector_for(live_settings)
                live = Desk(live_settings)
                floor = _timed(partial(connector.find, "1001"), args.turns)
                before = _timed(
                    lambda: snapshot.ask(f"Where is my order {known}?", email=owner), args.turns
                )
                after = _timed(
                    partial(live.ask, "Where is my order #1001?", email="ada.lovelace@example.com"),
                    args.turns,
                )
            (f50, f95), (b50, b95), (a50, a95) = map(_p50_p95, (floor, before, after))
            print(
                f"| {delay * 1000:.0f} | {f50:.1f} / {f95:.1f} | {b50:.1f} / {b95:.1f} "
                f"| {a50:.1f} / {a95:.1f} | {a50 - b50:.1f} | {(a50 - b50) / f50:.2f} |"
            )


if __name__ == "__main__":
    main()
