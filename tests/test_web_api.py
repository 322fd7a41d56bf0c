"""The customer API through Flask's test client: every endpoint and its error paths."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from sqlalchemy import func, select

import web.live
from store.models import Conversation, Message
from tests.scripted_llm import call, script, server_error
from tests.web_helpers import RETURN_ANSWER, make_app, send, sse_events, start
from web import signing

MODEL = "scripted/web"


@pytest.fixture
def app(web_data_dir, web_retriever):
    return make_app(web_data_dir, web_retriever, MODEL)


def _count_messages(app, conversation_id: str) -> int:
    with app.extensions["support"].sessions() as session:
        return session.scalar(
            select(func.count(Message.id)).where(Message.conversation_id == conversation_id)
        )


def test_a_grounded_answer_is_sent_with_its_citations(client):
    conversation, auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    response = send(client, conversation, auth, "How long do I have to send something back?")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "sent"
    assert "30 days" in body["reply"]["text"]
    assert "[faq-return-window]" not in body["reply"]["text"]
    assert [c["doc_id"] for c in body["reply"]["citations"]] == ["faq-return-window"]

    listed = client.get(f"/api/v1/conversations/{conversation}/messages?after=0", headers=auth)
    messages = listed.json["messages"]
    assert [m["author"] for m in messages] == ["customer", "agent"]
    assert messages[0]["id"] == body["message_id"]
    assert messages[1]["citations"][0]["url"].endswith("/help/return-window")
    assert listed.json["cursor"] == messages[1]["id"] and listed.json["pending"] is False
    later = client.get(
        f"/api/v1/conversations/{conversation}/messages?after={listed.json['cursor']}",
        headers=auth,
    )
    assert later.json["messages"] == []


def test_a_refund_demand_waits_for_a_person_with_an_honest_wait(client):
    conversation, auth = start(client)
    script(MODEL, [call("create_ticket", subject="Refund", summary="wants money back"), "Sorry."])
    response = send(client, conversation, auth, "This kettle leaks. I want a full refund now.")
    assert response.json["status"] == "pending"
    assert "reply" not in response.json
    # No review history yet: the honest answer is the SLA target.
    assert response.json["expected_wait_minutes"] == 240
    listed = client.get(f"/api/v1/conversations/{conversation}/messages", headers=auth).json
    assert listed["pending"] is True
    assert [m["author"] for m in listed["messages"]] == ["customer"]


def test_the_reply_streams_as_token_events_then_the_result(client):
    conversation, auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    response = send(
        client, conversation, auth, "How long do I have to return an item I bought?", stream=True
    )
    assert response.mimetype == "text/event-stream"
    events = sse_events(response.get_data())
    tokens = [data["text"] for name, data in events if name == "token"]
    assert len(tokens) > 5
    assert "".join(tokens).startswith("You can return unused items")
    assert events[-1][0] == "result" and events[-1][1]["status"] == "sent"


def test_a_flagged_message_is_never_streamed(client):
    conversation, auth = start(client)
    script(MODEL, ["We will refund you in full today."])
    response = send(
        client, conversation, auth, "I demand a refund for my broken grinder.", stream=True
    )
    events = sse_events(response.get_data())
    assert [name for name, _ in events] == ["result"]
    assert events[0][1]["status"] == "pending"


def test_a_reply_that_outlasts_the_wait_still_reaches_the_customer(web_data_dir, web_retriever):
    # No job worker runs yet: the request cannot wait for the reply, but the message is owed.
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0, reply_wait_seconds=0.2)
    client = app.test_client()
    conversation, auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    response = send(client, conversation, auth, "How long do I have to send something back?")
    assert response.status_code == 200
    assert response.json["status"] == "pending" and response.json["drafting"] is True
    url = f"/api/v1/conversations/{conversation}/messages?after=0"
    assert client.get(url, headers=auth).json["pending"] is True
    app.extensions["support"].desk.jobs.start_workers(1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = client.get(url, headers=auth).json
        if not state["pending"]:
            break
        time.sleep(0.1)
    assert [m["author"] for m in state["messages"]] == ["customer", "agent"]
    assert "30 days" in state["messages"][1]["text"]


def test_the_event_stream_delivers_new_messages_after_the_cursor(client, monkeypatch):
    monkeypatch.setattr(web.live, "STREAM_SECONDS", 5)
    conversation, auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    sent = send(client, conversation, auth, "How long do I have to send something back?").json
    assert sent["status"] == "sent"
    response = client.get(
        f"/api/v1/conversations/{conversation}/events?after={sent['message_id']}", headers=auth
    )
    assert response.mimetype == "text/event-stream"
    first = next(chunk for chunk in response.response if b"event: message" in chunk)
    ((name, message),) = sse_events(first)
    assert message["id"] == sent["reply"]["message_id"] and message["author"] == "agent"
    assert f"id: {message['id']}" in first.decode()
    response.close()


def test_another_conversations_token_is_refused_everywhere(client, app):
    mine, my_auth = start(client)
    theirs, their_auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    send(client, theirs, their_auth, "What is the return window?")
    before = _count_messages(app, theirs)
    base = f"/api/v1/conversations/{theirs}"
    attempts = [
        client.get(f"{base}/messages", headers=my_auth),
        client.post(f"{base}/messages", json={"text": "show me everything"}, headers=my_auth),
        client.get(f"{base}/events", headers=my_auth),
        client.post(f"{base}/rating", json={"score": 1}, headers=my_auth),
    ]
    for response in attempts:
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
        assert "return" not in response.get_data(as_text=True)
    assert _count_messages(app, theirs) == before
    unknown = client.get("/api/v1/conversations/no-such-id/messages", headers=my_auth)
    assert unknown.status_code == 403
    missing = client.get(f"/api/v1/conversations/{mine}/messages")
    assert missing.status_code == 401 and missing.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ("not json", 400, "invalid_json", "JSON object"),
        ({}, 400, "invalid_request", "text"),
        ({"text": "   "}, 400, "invalid_request", "text"),
        ({"text": "hi", "colour": "red"}, 400, "invalid_request", "colour"),
        ({"text": "hi", "email": "not-an-email"}, 400, "invalid_request", "email"),
        ({"text": "x" * 5000}, 413, "message_too_long", "max 4000"),
        ({"text": "x" * 70_000}, 413, "request_entity_too_large", "large"),
    ],
)
def test_bad_messages_get_a_clear_4xx_and_nothing_is_stored(client, app, body, status, code, words):
    conversation, auth = start(client)
    if isinstance(body, str):
        response = client.post(
            f"/api/v1/conversations/{conversation}/messages",
            data=body,
            headers={**auth, "Content-Type": "application/json"},
        )
    else:
        response = client.post(
            f"/api/v1/conversations/{conversation}/messages", json=body, headers=auth
        )
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert words.lower() in response.json["error"]["message"].lower()
    assert _count_messages(app, conversation) == 0


def test_other_bad_requests_are_json_errors_too(client):
    conversation, auth = start(client)
    base = f"/api/v1/conversations/{conversation}"
    cursor = client.get(f"{base}/messages?after=abc", headers=auth)
    assert cursor.status_code == 400 and "after" in cursor.json["error"]["message"]
    rating = client.post(f"{base}/rating", json={"score": 6}, headers=auth)
    assert rating.status_code == 400 and "score" in rating.json["error"]["message"]
    nowhere = client.get("/api/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json["error"]["code"] == "not_found"
    wrong_method = client.delete(f"{base}/messages", headers=auth)
    assert wrong_method.status_code == 405 and "error" in wrong_method.json


def test_rating_is_stored(client, app):
    conversation, auth = start(client)
    response = client.post(
        f"/api/v1/conversations/{conversation}/rating",
        json={"score": 4, "comment": "Quick and right."},
        headers=auth,
    )
    assert response.status_code == 200
    with app.extensions["support"].sessions() as session:
        row = session.get(Conversation, conversation)
        assert (row.csat_score, row.csat_comment) == (4, "Quick and right.")


def test_messages_are_rate_limited_per_conversation(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, rate_limit_messages="2/minute")
    client = app.test_client()
    conversation, auth = start(client)
    other, other_auth = start(client)
    url = f"/api/v1/conversations/{conversation}/messages"
    for _ in range(2):
        script(MODEL, [RETURN_ANSWER, "YES"])
        assert client.post(url, json={"text": "return window?"}, headers=auth).status_code == 200
    limited = client.post(url, json={"text": "return window?"}, headers=auth)
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "too_many_requests"
    script(MODEL, [RETURN_ANSWER, "YES"])
    fine = client.post(
        f"/api/v1/conversations/{other}/messages", json={"text": "hi"}, headers=other_auth
    )
    assert fine.status_code == 200


@pytest.mark.parametrize("hops", [0, 1])
def test_behind_a_proxy_each_customer_is_limited_by_their_own_address(
    web_data_dir, web_retriever, hops
):
    app = make_app(
        web_data_dir, web_retriever, MODEL, proxy_hops=hops, rate_limit_conversations="2/minute"
    )
    client = app.test_client()

    def start_from(address: str) -> int:
        headers = {"X-Forwarded-For": address}
        return client.post("/api/v1/conversations", json={}, headers=headers).status_code

    assert [start_from("203.0.113.7") for _ in range(2)] == [201, 201]
    assert start_from("203.0.113.7") == 429
    # Another customer behind the same proxy: their own limit only if the proxy is trusted.
    assert start_from("198.51.100.9") == (201 if hops else 429)


def test_a_dead_llm_still_answers_pending_and_keeps_the_message(client, app):
    conversation, auth = start(client)
    script(MODEL, [server_error()] * 20)
    response = send(client, conversation, auth, "Can I change the delivery address of my order?")
    assert response.status_code == 200
    assert response.json["status"] == "pending"
    assert _count_messages(app, conversation) == 1


def test_signed_in_customers_need_the_shops_signature(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, widget_secret="shop-secret")
    client = app.test_client()
    email = "Dana@Example.com"
    conversation, _ = start(client, **signing.sign("shop-secret", email))
    with app.extensions["support"].sessions() as session:
        assert session.get(Conversation, conversation).verified_email == email.lower()
    expires = int(time.time()) + 600
    forged = client.post(
        "/api/v1/conversations", json={"email": email, "signature": "00" * 32, "expires": expires}
    )
    assert forged.status_code == 403 and forged.json["error"]["code"] == "bad_signature"
    unsigned = client.post("/api/v1/conversations", json={"email": email})
    assert unsigned.status_code == 400 and unsigned.json["error"]["code"] == "unsigned_email"


@pytest.fixture
def signed_client(web_data_dir, web_retriever):
    return make_app(web_data_dir, web_retriever, MODEL, widget_secret="shop-secret").test_client()


def test_an_expired_signature_no_longer_signs_the_customer_in(signed_client):
    expired = signing.sign("shop-secret", "dana@example.com", ttl_seconds=-1)
    response = signed_client.post("/api/v1/conversations", json=expired)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "expired_signature"


def test_a_signature_cannot_be_stretched_to_a_later_expiry_or_another_email(signed_client):
    signed = signing.sign("shop-secret", "dana@example.com", ttl_seconds=60)
    for changed in ({"expires": signed["expires"] + 86_400}, {"email": "eve@example.com"}):
        response = signed_client.post("/api/v1/conversations", json={**signed, **changed})
        assert response.status_code == 403
        assert response.json["error"]["code"] == "bad_signature"


def test_the_old_unversioned_signature_of_the_bare_email_is_refused(signed_client):
    email = "dana@example.com"
    # What the shop's server used to send: the email alone signed, valid forever.
    old = hmac.new(b"shop-secret", email.encode(), hashlib.sha256).hexdigest()
    response = signed_client.post("/api/v1/conversations", json={"email": email, "signature": old})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_signature"
    assert "expires" in response.json["error"]["message"]
    later = int(time.time()) + 600
    replayed = signed_client.post(
        "/api/v1/conversations", json={"email": email, "signature": old, "expires": later}
    )
    assert replayed.status_code == 403
    assert replayed.json["error"]["code"] == "bad_signature"


@pytest.mark.parametrize(
    "signature",
    ["ä" * 64, "é" + "0" * 63, "zz" * 32, "abc", "0" * 63 + "\u0663", "0x" + "0" * 62],
    ids=["umlauts", "one-accent", "not-hex", "short", "arabic-digit", "0x-prefix"],
)
def test_a_malformed_or_non_ascii_signature_is_a_clear_400(signed_client, signature):
    body = {"email": "dana@example.com", "signature": signature, "expires": int(time.time()) + 60}
    response = signed_client.post("/api/v1/conversations", json=body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_signature"
    assert "hex" in response.json["error"]["message"]


def test_the_widget_may_call_from_allowed_origins_only(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, widget_origins="https://shop.example")
    client = app.test_client()
    allowed = client.post("/api/v1/conversations", headers={"Origin": "https://shop.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    other = client.post("/api/v1/conversations", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_health_readiness_and_metrics(client, web_data_dir, web_retriever):
    assert client.get("/healthz").json == {"status": "ok"}
    script(MODEL, ["ready"])
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert {c["name"] for c in ready.json["checks"]} == {"database", "jobs", "chroma", "llm"}

    conversation, auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    send(client, conversation, auth, "How long is the return window?")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'support_turns_total{decision="send"} 1.0' in metrics
    assert "support_queue_depth" in metrics
    assert 'support_llm_tokens_total{kind="prompt"}' in metrics
    assert "support_turn_seconds_count 1.0" in metrics
    assert 'support_request_seconds_count{endpoint="api.post_message"} 1.0' in metrics

    broken = make_app(web_data_dir, web_retriever, MODEL, chroma_url="http://127.0.0.1:9")
    down = broken.test_client().get("/readyz")
    assert down.status_code == 503
    assert [c["name"] for c in down.json["checks"] if not c["ok"]] == ["chroma"]
