"""Every test runs with a fresh data dir, no developer .env, and the small local model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SHOP = ROOT / "sample_shop"
# Assembled GGUF files are kept between runs; assembling them costs seconds, not minutes.
MODELS_DIR = ROOT / ".cache" / "models"
TEST_LLM = os.environ.get("SUPPORT_TEST_LLM_MODEL", "local/qwen2.5-0.5b")


@pytest.fixture(autouse=True)
def support_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.startswith("SUPPORT_") and name != "SUPPORT_TEST_LLM_MODEL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPPORT_MODELS_DIR", str(MODELS_DIR))
    monkeypatch.setenv("SUPPORT_LLM_MODEL", TEST_LLM)
    monkeypatch.chdir(tmp_path)
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


@pytest.fixture(autouse=True, scope="module")
def _stop_job_workers():
    yield
    from tests.web_helpers import stop_workers

    stop_workers()


def run_cli(*args: str, env: dict | None = None, input: str | None = None):
    """Run `support-agent ARGS` as a user would, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=input,
        timeout=600,
    )


@pytest.fixture(scope="session")
def shop_dir(tmp_path_factory) -> Path:
    """The sample shop ingested and its orders imported, once per test run."""
    from ingestion.order_states import Vocabulary
    from ingestion.sync import sync
    from settings import Settings
    from store.db import session_factory
    from store.orders import import_orders

    data = tmp_path_factory.mktemp("shop")
    settings = Settings(data_dir=data, models_dir=MODELS_DIR)
    report = sync(
        [SAMPLE_SHOP / n for n in ("faqs.jsonl", "articles.jsonl", "tickets.jsonl")], settings
    )
    assert report.problems == []
    with session_factory(settings.db_url)() as session:
        assert (
            import_orders(
                SAMPLE_SHOP / "shop.json", session, Vocabulary.from_settings(settings)
            ).problems
            == []
        )
    return data


@pytest.fixture
def settings(tmp_path):
    """Settings on an empty data dir of this test's own."""
    from settings import Settings

    return Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR)


@pytest.fixture(scope="session")
def embedder():
    from kb.embeddings import Embedder

    return Embedder("local/all-MiniLM-L6-v2")


def shop_settings(shop_dir: Path, **overrides):
    from settings import Settings

    values = {"data_dir": shop_dir, "models_dir": MODELS_DIR, "shop_name": "Kettle & Crane"}
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="module")
def web_data_dir(shop_dir, tmp_path_factory, request) -> Path:
    """A private copy of the sample shop for a module whose tests write conversations."""
    import shutil
    import sqlite3

    # A turn left open in the shared shop would be drafted by the next module's job
    # workers, with that module's scripted replies: fail here, not somewhere later.
    with sqlite3.connect(shop_dir / "support.db") as db:
        open_turns = db.execute("SELECT count(*) FROM turns WHERE status != 'done'").fetchone()[0]
    assert open_turns == 0, f"a test left {open_turns} turns open in the shared sample shop"
    name = request.module.__name__.rsplit(".", 1)[-1]
    target = tmp_path_factory.mktemp(name) / "data"
    shutil.copytree(shop_dir, target)
    return target


@pytest.fixture
def browser():
    """A real Chromium for this test (tests/browser_helpers.py)."""
    from tests.browser_helpers import chromium

    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def client(app):
    """A test client of the module's own `app` fixture."""
    return app.test_client()


@pytest.fixture(scope="module")
def web_retriever(web_data_dir):
    from kb.retrieval import Retriever
    from tests import scripted_llm

    scripted_llm.register()
    return Retriever(shop_settings(web_data_dir))
