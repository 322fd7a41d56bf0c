"""The queue and the audit log page by page, and logins that give nothing away."""

from __future__ import annotations

import hashlib
import re
import statistics
import time

import pytest
from sqlalchemy import delete, func, select
from werkzeug.security import generate_password_hash

import store.operators
from store.models import AuditEntry, QuarantinedMail
from store.operators import audit, check_login, set_operator
from tests.web_helpers import empty_queue, log_in, make_app, queue_pending_draft

MODEL = "scripted/pages"
PASSWORD = "long enough secret"


@pytest.fixture
def app(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
        # Each test starts from an empty queue and log: the module shares one shop copy.
        session.execute(delete(AuditEntry))
        empty_queue(session)
        session.commit()
    return app


def _login(client, name="owner", password=PASSWORD, address="127.0.0.1"):
    return log_in(client, name, password, address)


def _owner(app):
    client = app.test_client()
    assert _login(client).status_code == 302
    return client


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _links(page: str, rel: str) -> list[str]:
    return [
        link.replace("&amp;", "&")
        for link in re.findall(rf'<a [^>]*rel="{rel}"[^>]*href="([^"]+)"', page)
        + re.findall(rf'<a [^>]*href="([^"]+)"[^>]*rel="{rel}"', page)
    ]


def _queue_drafts(app, count: int) -> list[str]:
    """COUNT pending drafts, each asked by its own customer; their questions, newest last."""
    questions = []
    with app.extensions["support"].sessions() as session:
        for number in range(count):
            question = f"Question number {number:03d} about a refund"
            queue_pending_draft(session, question, reply="Let me check.", priority=50.0)
            questions.append(question)
        session.commit()
    return questions


def test_the_queue_shows_fifty_drafts_a_page_with_links_between_pages(app):
    questions = _queue_drafts(app, 120)
    client = _owner(app)
    first = _page(client, "/operator/")
    shown = re.findall(r"Question number \d{3}", first)
    assert len(shown) == 50
    assert "120 waiting" in first
    assert _links(first, "prev") == []
    assert _links(first, "next") == ["/operator/?page=2"]
    second = _page(client, "/operator/?page=2")
    assert len(re.findall(r"Question number \d{3}", second)) == 50
    assert _links(second, "prev") == ["/operator/?page=1"]
    last = _page(client, "/operator/?page=3")
    rest = re.findall(r"Question number \d{3}", last)
    assert len(rest) == 20 and _links(last, "next") == []
    # Every waiting draft is on exactly one page.
    everything = set(re.findall(r"Question number \d{3}", first + second + last))
    assert everything == {q.removesuffix(" about a refund") for q in questions}
    assert _page(client, "/operator/?page=99").count("Question number") == 20
    assert _page(client, "/operator/?page=nonsense").count("Question number") == 50


def test_the_audit_log_pages_through_older_entries(app):
    with app.extensions["support"].sessions() as session:
        for number in range(130):
            audit(session, "owner", "reject", f"draft:{number}", reason=f"Reason {number:03d}.")
        session.commit()
    client = _owner(app)
    first = _page(client, "/operator/audit")
    assert "Reason 129." in first and "Reason 079." not in first
    older = _links(first, "next")
    assert older == ["/operator/audit?page=2"]
    second = _page(client, older[0])
    assert "Reason 079." in second and "Reason 129." not in second
    third = _page(client, "/operator/audit?page=3")
    assert "Reason 000." in third and _links(third, "next") == []


def test_failed_logins_with_invented_names_do_not_hide_what_operators_did(app, monkeypatch):
    # This test is about the audit page, not the dummy hash's cost: make that cheap here.
    cheap = generate_password_hash("no operator", method="pbkdf2:sha256:1")
    monkeypatch.setattr(store.operators, "_dummy_hash", lambda: cheap, raising=False)
    with app.extensions["support"].sessions() as session:
        audit(session, "owner", "reject", "draft:1", reason="Keep this visible.")
        session.commit()
    attacker = app.test_client()
    for number in range(120):
        # Twelve addresses, each within the login rate limit.
        refused = _login(attacker, f"admin{number}", "guess", address=f"10.5.0.{number // 10}")
        assert refused.status_code == 401
    owner = app.test_client()
    assert _login(owner, password="wrong password", address="10.5.1.1").status_code == 401
    assert _login(owner, address="10.5.1.1").status_code == 302

    page = _page(owner, "/operator/audit")
    assert "Keep this visible." in page
    assert "admin119" not in page and "admin0" not in page
    # The failed login with the real name and the login itself are on the page too.
    assert page.count("login_failed") == 1 and "operator:owner" in page
    assert "120 failed logins with unknown names" in page

    hidden = _page(owner, "/operator/audit?show=unknown")
    assert "<td>admin119</td>" in hidden and "Keep this visible." not in hidden
    older = _page(owner, _links(hidden, "next")[0])
    oldest = _page(owner, _links(older, "next")[0])
    assert "<td>admin0</td>" in oldest and _links(oldest, "next") == []


def test_a_login_with_an_unknown_name_takes_as_long_as_a_wrong_password(app):
    with app.extensions["support"].sessions() as session:
        check_login(session, "nobody", "warm up")

        def timed(name: str) -> float:
            started = time.perf_counter()
            assert check_login(session, name, "not the password") is None
            return time.perf_counter() - started

        known = statistics.median(timed("owner") for _ in range(5))
        unknown = statistics.median(timed(f"nobody{n}") for n in range(5))
    assert unknown > 0.6 * known, f"unknown name {unknown:.3f} s, known name {known:.3f} s"
    assert unknown < 1.6 * known, f"unknown name {unknown:.3f} s, known name {known:.3f} s"


def test_failed_logins_are_still_audited_by_name(app):
    client = app.test_client()
    _login(client, "owner", "wrong password")
    _login(client, "mallory", "wrong password")
    with app.extensions["support"].sessions() as session:
        count = session.scalar(select(func.count()).select_from(AuditEntry))
        actors = set(session.scalars(select(AuditEntry.actor)))
    assert count == 2 and actors == {"owner", "mallory"}


def test_the_list_of_unreadable_mail_opens_with_each_mail_and_its_reason(app):
    raw = b"From: nobody\r\n\r\n\xff\xfe not a mail"
    with app.extensions["support"].sessions.begin() as session:
        session.add(
            QuarantinedMail(
                sha256=hashlib.sha256(raw).hexdigest(),
                reason="quarantined: the headers could not be read",
                raw=raw,
            )
        )
    page = _page(_owner(app), "/operator/mail/quarantine")
    assert "Unreadable mail" in page
    assert "the headers could not be read" in page
