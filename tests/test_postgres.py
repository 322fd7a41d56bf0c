"""PostgreSQL by URL: the same migrations, import and turns against a real server."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desk import Desk
from kb.retrieval import Retriever
from store.db import session_factory
from store.models import Draft, Message
from tests import scripted_llm
from tests.conftest import SAMPLE_SHOP, run_cli, shop_settings
from tests.scripted_llm import script


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")), None)
    assert found, f"{name} not found: make test installs Debian's postgresql"
    return found


def _as_postgres(*command: str) -> list[str]:
    # initdb refuses to run as root; the Debian package brings a postgres user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@pytest.fixture(scope="module")
def postgres_url():
    base = Path(tempfile.mkdtemp(prefix="support-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = base / "data"
    subprocess.run(
        _as_postgres(_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "support"),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    # The server outlives pg_ctl: it must not hold our pipes open, so it logs to a file.
    subprocess.run(
        _as_postgres(
            _bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )
    yield f"postgresql+psycopg://support@127.0.0.1:{port}/postgres"
    subprocess.run(
        _as_postgres(_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )
    shutil.rmtree(base, ignore_errors=True)


def test_orders_import_and_doctor_against_postgres(postgres_url, monkeypatch):
    monkeypatch.setenv("SUPPORT_DATABASE_URL", postgres_url)
    result = run_cli("orders", "import", str(SAMPLE_SHOP / "shop.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "imported 65 customers and 146 orders (146 new, 0 updated) from json"
    )
    again = run_cli("orders", "import", str(SAMPLE_SHOP / "shop.json"))
    assert again.stdout.strip() == (
        "imported 65 customers and 146 orders (0 new, 146 updated) from json"
    )
    shopify = Path(__file__).parent / "fixtures" / "orders" / "shopify_orders_export.csv"
    for summary in ("(12 new, 0 updated)", "(0 new, 12 updated)"):
        assert summary in run_cli("orders", "import", str(shopify)).stdout


def test_a_turn_is_stored_in_postgres(postgres_url, shop_dir):
    scripted_llm.register()
    settings = shop_settings(shop_dir, database_url=postgres_url, llm_model="scripted/pg")
    agent = Desk(settings, retriever=Retriever(settings))
    script("scripted/pg", ["We ship to Canada with DHL Express. [faq-international-shipping]"])
    draft = agent.ask("Do you ship to Canada?")
    with session_factory(postgres_url)() as session:
        stored = session.get(Draft, draft.draft_id)
        assert stored.reply == draft.reply
        assert stored.reasons == [r.model_dump(mode="json") for r in draft.reasons]
        texts = session.scalars(
            select(Message.text).where(Message.conversation_id == draft.conversation_id)
        ).all()
        assert texts[0] == "Do you ship to Canada?"


def test_mail_is_stored_threaded_quarantined_and_deduplicated_in_postgres(postgres_url, tmp_path):
    from desk.email_intake import MailReceipt
    from store.models import MailMessage, MailStatus, QuarantinedMail

    fixtures = Path(__file__).parent / "fixtures" / "mail"
    expected = json.loads((fixtures / "expected.json").read_text())
    settings = shop_settings(
        tmp_path / "pg-mail", database_url=postgres_url, mail_from="Shop <support@shop.example>"
    )
    desk = Desk(settings)

    first: dict[str, MailReceipt] = {}
    for name in sorted(expected):
        first[name] = desk.receive_mail((fixtures / name).read_bytes())
    again = [desk.receive_mail((fixtures / name).read_bytes()) for name in sorted(expected)]
    # Values PostgreSQL refuses where SQLite is lenient: a NUL byte, an over-long id.
    odd = (
        b"From: ada@example.com\r\nMessage-ID: <"
        + b"x" * 2000
        + b"@e>\r\nSubject: \x00hi\r\n\r\nHi\x00"
    )
    stored_odd = desk.receive_mail(odd)

    people = [n for n, w in expected.items() if not w.get("unparseable") and not w["loop"]]
    assert {first[n].status for n in people} == {MailStatus.PENDING}
    assert [r.status for r in again].count(MailStatus.DUPLICATE) == len(expected) - sum(
        1 for w in expected.values() if w.get("unparseable")
    )
    assert stored_odd.status in (MailStatus.PENDING, MailStatus.IGNORED)
    with session_factory(postgres_url)() as session:
        assert session.scalar(select(func.count(QuarantinedMail.id))) >= 3
        assert session.scalar(select(func.count(MailMessage.id))) >= len(expected) - 3
