"""Load the bundled sample shop (Kettle & Crane) into a data dir: `demo` and the evals use it.

Idempotent: the knowledge base sync skips unchanged documents and the orders import
upserts, so running it again costs seconds.
"""

from __future__ import annotations

from pathlib import Path

import sample_shop
from ingestion.order_states import Vocabulary
from ingestion.sync import SyncReport, reindex_all, sync
from kb.index import IndexMismatch
from settings import Settings
from store.db import session_factory
from store.orders import ImportReport, import_orders

# The `sample_shop` package, wherever it is installed (a checkout or site-packages).
FOLDER = Path(sample_shop.__file__).resolve().parent
KNOWLEDGE = ("faqs.jsonl", "articles.jsonl", "tickets.jsonl")
SHOP_NAME = "Kettle & Crane"


def load_sample_shop(
    settings: Settings, progress: bool | None = None
) -> tuple[SyncReport, ImportReport]:
    files = [FOLDER / name for name in KNOWLEDGE]
    try:
        report = sync(files, settings, progress=progress)
    except IndexMismatch:
        # Our own shop, indexed by an older version with other models: embed it again.
        reindex_all(settings, progress=progress)
        report = sync(files, settings, progress=progress)
    with session_factory(settings.db_url)() as session:
        imported = import_orders(FOLDER / "shop.json", session, Vocabulary.from_settings(settings))
    return report, imported
