"""What a hostile client can throw at the API, and what it gets back: a clear 4xx, never a 500.

Bad input, cursors too large for the database, streams that fail half-way, and the
limits that keep one client from holding every thread or every message slot.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

import web.live
from store.models import Message
from store.operators import set_operator
from tests.scripted_llm import script
from tests.web_helpers import RETURN_ANSWER, csrf_token, make_app, send, sse_events, start

MODEL = "scripted/abuse"
# Deeper than Python's recursion limit, yet far below the 64 KB body limit.
NESTED = "[" * 30_000 + "]" * 30_000
BEYOND_64_BITS = str(2**63)


@pytest.fixture
def app(web_data_dir, web_retriever):
    return make_app(web_data_dir, web_retriever, MODEL)


@pytest.fixture
def short_streams(monkeypatch):
    monkeypatch.setattr(web.live, "STREAM_SECONDS", 0.5)
    monkeypatch.setattr(web.live, "RECHECK_SECONDS", 0.05)


def _messages(app, conversation_id: str) -> int:
    with app.extensions["support"].sessions() as session:
        return session.scalar(
            select(func.count(Message.id)).where(Message.conversation_id == conversation_id)
        )


def _json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    return response.json["error"]


# Bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nested", [NESTED, '{"text": ' + "[" * 30_000 + "]" * 30_000 + "}"], ids=["array", "in-field"]
)
@pytest.mark.parametrize("endpoint", ["conversations", "messages", "rating"])
def test_json_nested_too_deep_to_parse_is_a_400_on_every_body(client, app, endpoint, nested):
    assert len(nested) < 64 * 1024
    conversation, auth = start(client)
    url = {
        "conversations": "/api/v1/conversations",
        "messages": f"/api/v1/conversations/{conversation}/messages",
        "rating": f"/api/v1/conversations/{conversation}/rating",
    }[endpoint]
    headers = {**auth, "Content-Type": "application/json"}
    response = client.post(url, data=nested, headers=headers)
    error = _json_error(response, 400, "invalid_json")
    assert "JSON object" in error["message"]
    assert _messages(app, conversation) == 0


@pytest.mark.parametrize(
    "text",
    ["hello\u0000there", "\ud800 lone surrogate", "tail \udfff"],
    ids=["nul", "high-surrogate", "low-surrogate"],
)
def test_text_no_database_can_store_is_refused_and_nothing_is_stored(client, app, text):
    conversation, auth = start(client)
    body = json.dumps({"text": text})  # escaped the way JSON carries them: "\u0000", "\ud800"
    response = client.post(
        f"/api/v1/conversations/{conversation}/messages",
        data=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    error = _json_error(response, 400, "invalid_request")
    assert error["message"].startswith("text:")
    assert _messages(app, conversation) == 0


@pytest.mark.parametrize(
    "cursor",
    [BEYOND_64_BITS, "9" * 19, "²", "⑴", "1²", "-1", "1.0", " 1", "1\n"],
    ids=["2^63", "19-digits", "superscript-two", "parenthesized-one", "mixed", "negative",
         "decimal", "space", "newline"],
)  # fmt: skip
def test_a_cursor_that_is_not_a_small_ascii_number_is_a_400(client, cursor, short_streams):
    conversation, auth = start(client)
    base = f"/api/v1/conversations/{conversation}"
    attempts = [
        client.get(f"{base}/messages", query_string={"after": cursor}, headers=auth),
        client.get(f"{base}/events", query_string={"after": cursor}, headers=auth),
    ]
    if "\n" not in cursor:  # a header cannot carry a newline
        attempts.append(client.get(f"{base}/events", headers={**auth, "Last-Event-ID": cursor}))
    for response in attempts:
        error = _json_error(response, 400, "invalid_request")
        assert "message id" in error["message"]
    header = attempts[-1].json["error"]["message"]
    assert header.startswith("Last-Event-ID") or "\n" in cursor


def test_the_largest_cursor_still_works_and_finds_nothing(client, short_streams):
    conversation, auth = start(client)
    largest = "9" * 18
    listed = client.get(
        f"/api/v1/conversations/{conversation}/messages?after={largest}", headers=auth
    )
    assert listed.status_code == 200
    assert listed.json == {"messages": [], "cursor": int(largest), "pending": False}
    streamed = client.get(
        f"/api/v1/conversations/{conversation}/events", headers={**auth, "Last-Event-ID": largest}
    )
    assert streamed.status_code == 200 and streamed.mimetype == "text/event-stream"
    assert "retry: 2000" in streamed.get_data(as_text=True)


def test_an_event_stream_that_fails_half_way_just_ends_and_the_client_can_resume(
    client, app, short_streams, monkeypatch
):
    conversation, auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    sent = send(client, conversation, auth, "How long do I have to send something back?").json
    desk = app.extensions["support"].desk
    real = desk.transcript
    calls = {"n": 0}

    def fails_the_second_time(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(desk, "transcript", fails_the_second_time)
    response = client.get(f"/api/v1/conversations/{conversation}/events?after=0", headers=auth)
    assert response.status_code == 200
    body = response.get_data(as_text=True)  # raised here before: the stream broke off
    assert "Traceback" not in body and "Internal Server Error" not in body
    events = sse_events(body)
    assert [data["id"] for _, data in events] == [sent["message_id"], sent["reply"]["message_id"]]
    assert calls["n"] == 2
    monkeypatch.setattr(desk, "transcript", real)
    # The client resumes from the last id it saw; its stream slot was given back.
    resumed = client.get(
        f"/api/v1/conversations/{conversation}/events",
        headers={**auth, "Last-Event-ID": str(events[-1][1]["id"])},
    )
    assert resumed.status_code == 200 and sse_events(resumed.get_data()) == []


def test_a_streamed_reply_that_fails_half_way_ends_with_an_error_event(client, app, monkeypatch):
    conversation, auth = start(client)
    desk = app.extensions["support"].desk

    def broken(turn_id):
        raise RuntimeError("database went away")

    monkeypatch.setattr(desk, "outcome", broken)
    script(MODEL, [RETURN_ANSWER, "YES"])
    response = send(client, conversation, auth, "How long is the return window?", stream=True)
    assert response.status_code == 200
    body = response.get_data(as_text=True)  # raised here before: the stream broke off
    name, data = sse_events(body)[-1]
    assert name == "error" and data["code"] == "stream_failed"
    assert "database" not in body
    # The message itself was stored before the stream began.
    assert _messages(app, conversation) >= 1


def test_a_draft_id_too_large_for_the_database_is_a_404_on_the_operator_pages(app):
    client = app.test_client()
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", "correct horse battery")
    page = client.get("/operator/login").get_data(as_text=True)
    token = csrf_token(page)
    login = {"name": "owner", "password": "correct horse battery", "csrf_token": token}
    assert client.post("/operator/login", data=login).status_code == 302
    for huge in (BEYOND_64_BITS, "9" * 40):
        response = client.get(f"/operator/drafts/{huge}")
        assert response.status_code == 404
        assert "Traceback" not in response.get_data(as_text=True)
        queue = client.get("/operator/").get_data(as_text=True)
        token = csrf_token(queue)
        form = {"reason": "not for us", "csrf_token": token}
        assert client.post(f"/operator/drafts/{huge}/reject", data=form).status_code == 404


# Limits ---------------------------------------------------------------------------------


def test_one_address_cannot_post_more_messages_than_its_limit_across_conversations(
    web_data_dir, web_retriever
):
    app = make_app(
        web_data_dir,
        web_retriever,
        MODEL,
        workers=0,
        reply_wait_seconds=0.05,
        rate_limit_messages_per_address="3/minute",
    )
    client = app.test_client()
    here = {"REMOTE_ADDR": "203.0.113.7"}
    elsewhere = {"REMOTE_ADDR": "198.51.100.9"}
    conversations = [start(client) for _ in range(3)]

    def post(conversation, auth, environ) -> int:
        url = f"/api/v1/conversations/{conversation}/messages"
        return client.post(url, json={"text": "hi"}, headers=auth, environ_base=environ).status_code

    # Each conversation is far below its own limit (12/minute); the address is not.
    statuses = [post(c, a, here) for c, a in conversations + conversations[:1]]
    assert statuses == [200, 200, 200, 429]
    limited = client.post(
        f"/api/v1/conversations/{conversations[1][0]}/messages",
        json={"text": "hi"},
        headers=conversations[1][1],
        environ_base=here,
    )
    _json_error(limited, 429, "too_many_requests")
    assert _messages(app, conversations[1][0]) == 1
    # Another customer is not held back by this one.
    assert post(*conversations[2], elsewhere) == 200


def test_requests_refused_with_403_do_not_use_up_the_owners_message_limit(
    web_data_dir, web_retriever
):
    app = make_app(
        web_data_dir, web_retriever, MODEL, workers=0, reply_wait_seconds=0.05,
        rate_limit_messages="2/minute",
    )  # fmt: skip
    client = app.test_client()
    victim, victim_auth = start(client)
    _, stranger_auth = start(client)
    url = f"/api/v1/conversations/{victim}/messages"
    for _ in range(5):
        refused = client.post(url, json={"text": "let me in"}, headers=stranger_auth)
        _json_error(refused, 403, "forbidden")
    for _ in range(2):
        assert client.post(url, json={"text": "hello"}, headers=victim_auth).status_code == 200
    _json_error(client.post(url, json={"text": "hello"}, headers=victim_auth), 429,
                "too_many_requests")  # fmt: skip


def test_open_event_streams_are_capped_per_conversation_and_per_address(
    web_data_dir, web_retriever, short_streams
):
    app = make_app(
        web_data_dir, web_retriever, MODEL, workers=0,
        max_streams_per_conversation=2, max_streams_per_address=3,
    )  # fmt: skip
    client = app.test_client()
    first, first_auth = start(client)
    second, second_auth = start(client)
    here, elsewhere = {"REMOTE_ADDR": "203.0.113.7"}, {"REMOTE_ADDR": "198.51.100.9"}

    def stream(conversation, auth, environ):
        return client.get(
            f"/api/v1/conversations/{conversation}/events", headers=auth, environ_base=environ
        )

    held = [stream(first, first_auth, here), stream(first, first_auth, here)]
    assert [r.status_code for r in held] == [200, 200]
    error = _json_error(stream(first, first_auth, elsewhere), 429, "too_many_streams")
    assert "stream" in error["message"]
    held.append(stream(second, second_auth, here))
    assert held[-1].status_code == 200
    # The address holds 3 streams: its cap, though the second conversation holds only one.
    _json_error(stream(second, second_auth, here), 429, "too_many_streams")
    assert stream(second, second_auth, elsewhere).status_code == 200
    # A closed stream gives its slot back.
    held.pop(0).close()
    reopened = stream(first, first_auth, here)
    assert reopened.status_code == 200
    # So does a stream that ran to its end.
    reopened.get_data()
    assert stream(first, first_auth, here).status_code == 200
    for response in held:
        response.close()


def test_a_stream_refused_for_a_wrong_token_holds_no_slot(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0, max_streams_per_address=1)
    client = app.test_client()
    conversation, auth = start(client)
    _, other_auth = start(client)
    for _ in range(3):
        refused = client.get(f"/api/v1/conversations/{conversation}/events", headers=other_auth)
        _json_error(refused, 403, "forbidden")
    mine = client.get(f"/api/v1/conversations/{conversation}/events", headers=auth)
    assert mine.status_code == 200
    mine.close()


# Ops endpoints ----------------------------------------------------------------------------

STRANGER = {"REMOTE_ADDR": "203.0.113.50"}


@pytest.fixture
def ops_app(web_data_dir, web_retriever):
    return make_app(web_data_dir, web_retriever, MODEL, workers=0, ops_token="ops-secret-token")


def test_readiness_tells_a_stranger_only_whether_it_is_ready(ops_app, web_data_dir, web_retriever):
    client = ops_app.test_client()
    script(MODEL, ["ready"])
    response = client.get("/readyz", environ_base=STRANGER)
    assert response.status_code == 200
    assert response.json == {"ready": True}
    broken = make_app(
        web_data_dir, web_retriever, MODEL, workers=0, chroma_url="http://127.0.0.1:9"
    )
    down = broken.test_client().get("/readyz", environ_base=STRANGER)
    assert down.status_code == 503
    assert down.json == {"ready": False}


def test_readiness_details_need_the_ops_token_and_name_no_url_or_path(ops_app, web_data_dir):
    client = ops_app.test_client()
    script(MODEL, ["ready"])
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": "ops-secret-token"}):
        assert "checks" not in client.get("/readyz", headers=headers, environ_base=STRANGER).json
    response = client.get(
        "/readyz", headers={"Authorization": "Bearer ops-secret-token"}, environ_base=STRANGER
    )
    assert response.status_code == 200
    checks = {c["name"]: c for c in response.json["checks"]}
    assert set(checks) == {"database", "jobs", "chroma", "llm"}
    text = response.get_data(as_text=True)
    for secret in ("sqlite:///", str(web_data_dir), "support.db", "jobs.db", "/chroma"):
        assert secret not in text
    assert checks["database"]["detail"].startswith("sqlite://")


def test_readiness_behind_an_untrusted_local_proxy_gives_no_details(ops_app):
    client = ops_app.test_client()
    script(MODEL, ["ready"])
    local = client.get("/readyz")
    assert "checks" in local.json
    # Every request through a proxy on this machine comes from 127.0.0.1.
    proxied = client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.50"})
    assert proxied.json == {"ready": True}


def test_metrics_answer_only_the_ops_token_or_a_local_client(ops_app):
    client = ops_app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}):
        refused = client.get("/metrics", headers=headers, environ_base=STRANGER)
        _json_error(refused, 403, "forbidden")
        assert "support_" not in refused.get_data(as_text=True)
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.50"})
    assert proxied.status_code == 403
    token = {"Authorization": "Bearer ops-secret-token"}
    allowed = client.get("/metrics", headers=token, environ_base=STRANGER)
    assert allowed.status_code == 200 and "support_queue_depth" in allowed.get_data(as_text=True)
    for local in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):  # loopback, no proxy
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": local}).status_code == 200


def test_without_an_ops_token_only_local_clients_see_metrics(client):
    assert client.get("/metrics", environ_base=STRANGER).status_code == 403
    empty = client.get("/metrics", headers={"Authorization": "Bearer "}, environ_base=STRANGER)
    assert empty.status_code == 403
    assert client.get("/metrics").status_code == 200


# CORS -------------------------------------------------------------------------------------


def test_with_a_public_url_only_its_own_origin_may_call_the_api_by_default(
    web_data_dir, web_retriever
):
    app = make_app(
        web_data_dir, web_retriever, MODEL, workers=0, public_url="https://Support.Example.com/"
    )
    client = app.test_client()
    own = client.post("/api/v1/conversations", headers={"Origin": "https://support.example.com"})
    assert own.headers["Access-Control-Allow-Origin"] == "https://support.example.com"
    for origin in ("https://evil.example", "http://support.example.com", "null"):
        other = client.post("/api/v1/conversations", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in other.headers
        assert "Origin" in other.headers["Vary"]


def test_explicit_widget_origins_win_over_the_public_url(web_data_dir, web_retriever):
    app = make_app(
        web_data_dir, web_retriever, MODEL, workers=0,
        public_url="https://support.example.com", widget_origins="*",
    )  # fmt: skip
    response = app.test_client().post(
        "/api/v1/conversations", headers={"Origin": "https://shop.example"}
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"


def test_a_public_url_with_a_port_allows_that_origin_only(web_data_dir, web_retriever):
    app = make_app(
        web_data_dir, web_retriever, MODEL, workers=0, public_url="http://127.0.0.1:8000/desk"
    )
    client = app.test_client()
    ok = client.post("/api/v1/conversations", headers={"Origin": "http://127.0.0.1:8000"})
    assert ok.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    other_port = client.post("/api/v1/conversations", headers={"Origin": "http://127.0.0.1:8001"})
    assert "Access-Control-Allow-Origin" not in other_port.headers
