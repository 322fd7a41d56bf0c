"""The operator's side: login, CSRF, the queue's order, decisions, audit and delivery."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from kb.retrieval import TICKETS
from store.models import AuditEntry, Draft, Message, Operator, Review, utcnow
from store.operators import set_operator
from store.queue import AlreadyDecided, decide, expected_wait_minutes, pending
from tests.conftest import run_cli
from tests.scripted_llm import call, script
from tests.web_helpers import make_app, start

MODEL = "scripted/operator"
PASSWORD = "correct horse battery"


@pytest.fixture
def app(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    return app


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(client, name="owner", password=PASSWORD, next_page=None, address="127.0.0.1"):
    token = _csrf(client.get("/operator/login").get_data(as_text=True))
    return client.post(
        "/operator/login",
        query_string={"next": next_page} if next_page is not None else None,
        data={"name": name, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def _queued_draft(client, text="The grinder broke after a week. I want my money back!") -> int:
    conversation, auth = start(client)
    script(MODEL, [call("create_ticket", subject="Broken grinder", summary=text), "-", "So sorry!"])
    response = client.post(
        f"/api/v1/conversations/{conversation}/messages", json={"text": text}, headers=auth
    )
    assert response.json["status"] == "pending"
    return conversation, auth, response.json["message_id"]


def _draft_for(app, message_id: int) -> Draft:
    with app.extensions["support"].sessions() as session:
        return session.scalar(select(Draft).where(Draft.message_id == message_id))


def test_operators_add_hashes_the_password(tmp_path):
    result = run_cli("operators", "add", "sam", "--password-stdin", input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "sam can log in" in result.stdout
    short = run_cli("operators", "add", "kim", "--password-stdin", input="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    database = (tmp_path / "data" / "support.db").read_bytes()
    assert PASSWORD.encode() not in database and b"scrypt:" in database


def test_pages_need_a_login_and_a_wrong_password_is_refused(app):
    client = app.test_client()
    for page in ("/operator/", "/operator/tickets", "/operator/audit", "/operator/drafts/1"):
        response = client.get(page)
        assert response.status_code == 302 and "/operator/login" in response.location
    wrong = _login(client, password="guess guess")
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.get_data(as_text=True)
    assert client.get("/operator/").status_code == 302
    right = _login(client)
    assert right.status_code == 302
    assert client.get("/operator/").status_code == 200
    with app.extensions["support"].sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert "login_failed" in actions and "login" in actions


def test_login_never_redirects_off_site(app):
    client = app.test_client()
    token = _csrf(client.get("/operator/login").get_data(as_text=True))
    response = client.post(
        "/operator/login?next=https://evil.example/",
        data={"name": "owner", "password": PASSWORD, "csrf_token": token},
    )
    assert response.location == "/operator/"


HOSTILE_NEXT = [
    "////evil.example",
    "//evil.example/operator/",
    "///evil.example",
    "/\\evil.example",
    "/%2F%2Fevil.example",
    "/%5C%5Cevil.example",
    "/operator/%2F%2Fevil.example",
    "/operator/..//evil.example",
    "/operator/../../evil",
    "/\t/evil.example",
    "https://evil.example/operator/",
    "http:/evil.example",
    "javascript:alert(1)",
    "/operator",
    "/static/widget.js",
    "operator/",
]


def test_login_returns_only_to_operator_pages(app):
    for number, target in enumerate(HOSTILE_NEXT):
        # A fresh client and address per try: each login starts anew, under the rate limit.
        response = _login(app.test_client(), next_page=target, address=f"10.9.0.{number}")
        assert response.status_code == 302, target
        assert response.location == "/operator/", f"next={target!r} led to {response.location}"
    kept = _login(app.test_client(), next_page="/operator/drafts/7?from=mail", address="10.9.1.1")
    assert kept.location == "/operator/drafts/7?from=mail"


def test_forms_without_a_csrf_token_are_refused(app):
    client = app.test_client()
    _, _, message_id = _queued_draft(client)
    draft = _draft_for(app, message_id)
    no_token_login = client.post("/operator/login", data={"name": "owner", "password": PASSWORD})
    assert no_token_login.status_code == 400
    _login(client)
    forged = client.post(f"/operator/drafts/{draft.id}/approve", data={"text": "Refunded!"})
    assert forged.status_code == 400
    assert _draft_for(app, message_id).status == "pending"


def test_edit_then_approve_reaches_the_customer_and_is_audited(app, web_retriever, web_data_dir):
    client = app.test_client()
    conversation, auth, message_id = _queued_draft(client)
    draft = _draft_for(app, message_id)
    _login(client)
    page = client.get(f"/operator/drafts/{draft.id}").get_data(as_text=True)
    assert "The grinder broke after a week" in page  # the conversation
    assert "So sorry!" in page  # the draft
    assert "refund" in page.lower()  # its reasons
    assert "create_ticket" in page  # its tool calls
    edited = "We are sorry. A replacement grinder ships today; no need to return the old one."
    response = client.post(
        f"/operator/drafts/{draft.id}/approve", data={"text": edited, "csrf_token": _csrf(page)}
    )
    assert response.status_code == 302
    messages = client.get(f"/api/v1/conversations/{conversation}/messages", headers=auth).json
    assert messages["messages"][-1]["author"] == "operator"
    assert messages["messages"][-1]["text"] == edited
    assert messages["pending"] is False
    with app.extensions["support"].sessions() as session:
        review = session.scalar(select(Review).where(Review.draft_id == draft.id))
        assert (review.action, review.text) == ("edit", edited)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.subject == f"draft:{draft.id}"))
        assert (entry.actor, entry.action) == ("owner", "edit")
        assert entry.created_at is not None
    again = client.post(
        f"/operator/drafts/{draft.id}/approve", data={"text": "twice", "csrf_token": _csrf(page)}
    )
    assert "already approved" in client.get(again.location).get_data(as_text=True)

    # The correction becomes knowledge (indexed in the background) and an eval candidate.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        hits = web_retriever.search("grinder broke after a week", k=8, collections=(TICKETS,))
        if any(hit.doc_id == f"approved-{draft.id}" for hit in hits):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the approved edit never reached the knowledge base")
    candidates = (web_data_dir / "learned" / "eval_candidates.jsonl").read_text()
    assert edited in candidates


def test_approve_unchanged_and_reject_with_a_reason(app):
    client = app.test_client()
    _login(client)
    token = _csrf(client.get("/operator/").get_data(as_text=True))
    _, _, first = _queued_draft(client)
    conversation, auth, second = _queued_draft(client, "Cancel my order or I call my lawyer.")
    one, two = _draft_for(app, first), _draft_for(app, second)
    client.post(f"/operator/drafts/{one.id}/approve", data={"text": one.reply, "csrf_token": token})
    assert _draft_for(app, first).status == "approved"

    no_reason = client.post(f"/operator/drafts/{two.id}/reject", data={"csrf_token": token})
    assert "reason" in client.get(no_reason.location).get_data(as_text=True)
    assert _draft_for(app, second).status == "pending"
    client.post(
        f"/operator/drafts/{two.id}/reject",
        data={"reason": "Needs the order number first", "csrf_token": token},
    )
    assert _draft_for(app, second).status == "rejected"
    seen = client.get(f"/api/v1/conversations/{conversation}/messages", headers=auth).json
    assert [m["author"] for m in seen["messages"]] == ["customer"]
    with app.extensions["support"].sessions() as session:
        actions = {
            e.subject: (e.action, e.detail.get("reason"))
            for e in session.scalars(select(AuditEntry))
        }
    assert actions[f"draft:{one.id}"] == ("approve", None)
    assert actions[f"draft:{two.id}"] == ("reject", "Needs the order number first")
    audit_page = client.get("/operator/audit").get_data(as_text=True)
    assert "Needs the order number first" in audit_page


def test_the_queue_is_ordered_by_urgency_and_shows_the_sla_clock(app):
    client = app.test_client()
    _, _, calm = _queued_draft(client, "Could I maybe get a refund for the filters?")
    _, _, urgent = _queued_draft(client, "URGENT!!! Charged twice, refund NOW or I sue you!")
    _login(client)
    page = client.get("/operator/").get_data(as_text=True)
    assert page.index("Charged twice") < page.index("get a refund for the filters")
    assert "due in 3 h 59 min" in page or "due in 4 h 0 min" in page
    with app.extensions["support"].sessions() as session:
        now = utcnow()
        order = [w.draft.message_id for w in pending(session, 240, now)]
        assert order.index(urgent) < order.index(calm)
        # A day later the SLA is missed by everything: the clock says so.
        later = pending(session, 240, now + timedelta(days=1))
        assert all(w.due_in_minutes < 0 for w in later)


def test_the_expected_wait_follows_how_fast_reviews_happen(app):
    client = app.test_client()
    _login(client)
    token = _csrf(client.get("/operator/").get_data(as_text=True))
    for _ in range(5):
        _, _, message_id = _queued_draft(client)
        draft = _draft_for(app, message_id)
        client.post(
            f"/operator/drafts/{draft.id}/approve", data={"text": "Sorted.", "csrf_token": token}
        )
    with app.extensions["support"].sessions() as session:
        assert expected_wait_minutes(session, 240) == 1  # reviewed within seconds


def test_tickets_page_lists_tickets_the_agent_opened(app):
    client = app.test_client()
    _queued_draft(client, "My kettle whistle is broken, please open a ticket for a replacement.")
    _login(client)
    page = client.get("/operator/tickets").get_data(as_text=True)
    assert "Broken grinder" in page


def _operator_replies(client, conversation, auth) -> list[str]:
    seen = client.get(f"/api/v1/conversations/{conversation}/messages", headers=auth).json
    return [m["text"] for m in seen["messages"] if m["author"] == "operator"]


def test_two_operators_approving_the_same_draft_at_once_send_one_reply(app):
    with app.extensions["support"].sessions() as session:
        set_operator(session, "helper", PASSWORD)
    customer = app.test_client()
    conversation, auth, message_id = _queued_draft(customer, "Refund the broken kettle please!")
    draft = _draft_for(app, message_id)
    operators = []
    for number, name in enumerate(("owner", "helper")):
        client = app.test_client()
        _login(client, name=name, address=f"10.8.0.{number}")
        page = client.get(f"/operator/drafts/{draft.id}").get_data(as_text=True)
        operators.append((client, name, _csrf(page)))
    both_ready = threading.Barrier(len(operators))
    outcomes: dict[str, str] = {}

    def approve(client, name, token):
        both_ready.wait()
        text = f"Refund on its way, says {name}."
        response = client.post(
            f"/operator/drafts/{draft.id}/approve", data={"text": text, "csrf_token": token}
        )
        outcomes[name] = client.get(response.location).get_data(as_text=True)

    threads = [threading.Thread(target=approve, args=operator) for operator in operators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    replies = _operator_replies(customer, conversation, auth)
    assert len(replies) == 1, replies
    winner = replies[0].removeprefix("Refund on its way, says ").rstrip(".")
    loser = "helper" if winner == "owner" else "owner"
    assert "Edited and sent" in outcomes[winner]
    assert "already approved" in outcomes[loser]
    with app.extensions["support"].sessions() as session:
        reviews = session.scalars(select(Review).where(Review.draft_id == draft.id)).all()
    assert len(reviews) == 1


def test_a_decision_from_a_page_that_was_not_refreshed_is_refused(app):
    client = app.test_client()
    conversation, auth, message_id = _queued_draft(client, "Refund my filters, they tore.")
    sessions = app.extensions["support"].sessions
    # Two operators opened the draft while it was pending; neither reloaded it since.
    with sessions() as first, sessions() as second:
        first_view = first.scalar(select(Draft).where(Draft.message_id == message_id))
        second_view = second.scalar(select(Draft).where(Draft.message_id == message_id))
        owner = first.scalar(select(Operator).where(Operator.name == "owner"))
        also_owner = second.scalar(select(Operator).where(Operator.name == "owner"))
        decide(first, first_view, owner, "approve", text="Refund sent.")
        with pytest.raises(AlreadyDecided, match="already approved"):
            decide(second, second_view, also_owner, "reject", reason="Not covered")
    assert _operator_replies(client, conversation, auth) == ["Refund sent."]
    with sessions() as session:
        draft = session.scalar(select(Draft).where(Draft.message_id == message_id))
        assert draft.status == "approved"
        assert len(session.scalars(select(Review).where(Review.draft_id == draft.id)).all()) == 1
        sent = session.scalars(select(Message).where(Message.draft_id == draft.id)).all()
        assert [m.text for m in sent] == ["Refund sent."]


def test_the_operator_sees_when_a_draft_is_their_own_faq_answer(app):
    client = app.test_client()
    _, _, message_id = _queued_draft(client)
    draft = _draft_for(app, message_id)
    _login(client)
    generated = client.get(f"/operator/drafts/{draft.id}").get_data(as_text=True)
    assert "your FAQ answer, word for word" not in generated
    with app.extensions["support"].sessions() as session:
        session.get(Draft, draft.id).answer_type = "faq"
        session.commit()
    page = client.get(f"/operator/drafts/{draft.id}").get_data(as_text=True)
    assert "the reply is your FAQ answer, word for word" in page
