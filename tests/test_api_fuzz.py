"""The API's OpenAPI document, and a fuzz run against it: no 5xx, no harm to anyone else.

Schemathesis generates requests from GET /api/v1/openapi.json, both ones that fit the
document and ones that break it, and an attacker sends them with their own token (or
none, or a made-up one) against their own conversation, the victim's and random ids,
with hostile cursors and raw bodies mixed in. Every answer must be below 500, every
error a JSON error body, and the victim's conversation exactly as it was.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from sqlalchemy import select

import web.live
from store.models import Conversation, Draft, Message, Turn
from tests.scripted_llm import script
from tests.web_helpers import RETURN_ANSWER, make_app, send, start

MODEL = "scripted/fuzz"
# Per operation and generation mode: 5 operations x 2 modes x 120 = about 1,200 requests.
EXAMPLES = 120
MIN_REQUESTS = 1000

HOSTILE_CURSORS = [
    str(2**63),
    str(2**64),
    "9" * 19,
    "9" * 400,
    "²",
    "⑴",
    "١",
    "-1",
    "1e3",
    "0x10",
    " 7",
    "",
    "0",
]
# What an HTTP header can carry: Latin-1 without control characters.
HEADER_TEXT = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
NESTED = "[" * 30_000 + "]" * 30_000
HOSTILE_BODIES = [
    NESTED,
    '{"text": ' + "{" * 20_000 + "}" * 20_000 + "}",
    '{"text": "\\ud800"}',
    '{"text": "a\\u0000b"}',
    '{"score": 1e999}',
    '{"score": ' + "9" * 5000 + "}",
    '{"email": "a@b.c", "signature": "' + "é" * 64 + '", "expires": 1}',
    '{"text": NaN}',
    "[1, 2, 3]",
    '"just a string"',
    "null",
    "{",
    b"\xff\xfe{\x00}",  # not UTF-8 at all
]


@pytest.fixture
def fast_streams(monkeypatch):
    # A stream that is let through ends at once instead of after five minutes.
    monkeypatch.setattr(web.live, "STREAM_SECONDS", 0.02)


@pytest.fixture
def app(web_data_dir, web_retriever, fast_streams):
    return make_app(
        web_data_dir,
        web_retriever,
        MODEL,
        workers=1,
        reply_wait_seconds=0.2,
        widget_secret="shop-secret",
        rate_limit_messages="100000/minute",
        rate_limit_messages_per_address="100000/minute",
        rate_limit_conversations="100000/minute",
        # Few turns wait for drafting: beyond that a message is stored and a person answers.
        max_pending_turns=2,
    )


def test_the_openapi_document_describes_every_endpoint_of_the_api(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.json
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "/api/v1"}]
    documented = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = {
        (rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}"), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == served
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or path == "/openapi.json":
                continue
            responses = operation["responses"]
            assert "400" in responses, (path, method)
            for status, answer in responses.items():
                if status.startswith("4"):
                    assert answer["content"]["application/json"]["schema"] == error
            if path != "/conversations":
                assert operation["security"] == [{"bearer": []}]
                assert {"401", "403"} <= set(responses)
    bodies = document["components"]["schemas"]
    assert set(bodies["StartConversation"]["properties"]) == {"email", "signature", "expires"}
    assert bodies["PostMessage"]["required"] == ["text"]
    assert bodies["Rating"]["properties"]["score"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
    }
    # The document itself is valid enough for a tool to load and walk it (all but itself).
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    walked = {(op.path, op.method.upper()) for op in map(_ok, schema.get_all_operations())}
    assert walked == served - {("/openapi.json", "GET")}


def _ok(result):
    return result.ok()


def _snapshot(app, conversation_id: str) -> dict:
    with app.extensions["support"].sessions() as session:
        row = session.get(Conversation, conversation_id)

        def rows(model, *columns):
            query = select(*columns).where(model.conversation_id == conversation_id)
            return [tuple(r) for r in session.execute(query.order_by(model.id))]

        return {
            "conversation": (row.token_hash, row.verified_email, row.csat_score, row.csat_comment),
            "messages": rows(Message, Message.id, Message.author, Message.text, Message.draft_id),
            "turns": rows(Turn, Turn.id, Turn.status),
            "drafts": rows(Draft, Draft.id, Draft.status),
        }


def _check(response, counts: Counter, label: str) -> int:
    status = response.status_code
    counts[status] += 1
    body = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
    assert status < 500, f"{label}: {status} {body[:500]}"
    if status >= 400:
        error = json.loads(body)["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), label
        assert "Traceback" not in body
    return status


def test_a_thousand_generated_requests_get_no_5xx_and_leave_another_conversation_untouched(app):
    started = time.monotonic()
    client = app.test_client()
    victim, victim_auth = start(client)
    script(MODEL, [RETURN_ANSWER, "YES"])
    sent = send(client, victim, victim_auth, "How long do I have to send something back?")
    assert sent.status_code == 200
    deadline = time.monotonic() + 60
    while len(_snapshot(app, victim)["messages"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the request waits 0.2 s at most; the worker may take longer
    rated = client.post(
        f"/api/v1/conversations/{victim}/rating",
        json={"score": 5, "comment": "ok"},
        headers=victim_auth,
    )
    assert rated.status_code == 200
    before = _snapshot(app, victim)
    assert len(before["messages"]) == 2

    attacker, attacker_auth = start(client)
    victim_token = victim_auth["Authorization"].removeprefix("Bearer ")
    tokens = (
        st.sampled_from([attacker_auth] * 8)
        | st.sampled_from(
            [
                {},
                {"Authorization": "Bearer "},
                {"Authorization": "Bearer " + victim_token[:-1] + "x"},  # one character off
                {"Authorization": f"Bearer {victim}"},  # the id is not the token
                {"Authorization": "Basic " + victim_token},
                {"Authorization": "Bearer " + "é" * 40},
            ]
        )
        | st.text(HEADER_TEXT, max_size=80).map(lambda t: {"Authorization": "Bearer " + t})
    )
    ids = st.sampled_from(
        [attacker, victim, attacker, victim.upper(), victim + " ", "../" + victim]
    )
    # Hypothesis favours the first choice of sampled_from: the usual case comes first.
    mostly = st.sampled_from([True, True, False])
    rarely = st.sampled_from([False, False, True])
    seldom = st.sampled_from([False] * 9 + [True])
    cursors = (
        st.sampled_from(HOSTILE_CURSORS)
        | st.integers(-(2**70), 2**70).map(str)
        | st.text(HEADER_TEXT, max_size=30)
    )

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [_ok(result) for result in schema.get_all_operations()]
    counts: Counter = Counter()
    per_operation: defaultdict[str, Counter] = defaultdict(Counter)

    def attack(operation, mode: GenerationMode) -> None:
        label = f"{operation.method.upper()} {operation.path} ({mode.value})"

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            # The same requests on every run, so CI cannot flake; API_FUZZ_RANDOM=1 varies them.
            derandomize=not os.environ.get("API_FUZZ_RANDOM"),
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def one_request(data):
            case = data.draw(operation.as_strategy(generation_mode=mode))
            has_id = "conversation_id" in (case.path_parameters or {})
            if has_id and data.draw(mostly):  # someone's real id, else a generated one
                case.path_parameters["conversation_id"] = data.draw(ids)
            headers = dict(case.headers or {})
            headers.pop("Authorization", None)
            headers.update(data.draw(tokens))
            if operation.path.endswith("/events") and data.draw(rarely):
                headers["Last-Event-ID"] = data.draw(cursors).strip()  # as a header can be
            case.headers = headers
            if operation.method == "get" and has_id and data.draw(rarely):
                case.query = {**(case.query or {}), "after": data.draw(cursors)}
            if operation.method == "post" and data.draw(seldom):
                # A raw body no generator writes: too deep, broken, not even UTF-8.
                path = operation.path.format(**(case.path_parameters or {}))
                response = client.post(
                    "/api/v1" + path,
                    data=data.draw(st.sampled_from(HOSTILE_BODIES)),
                    headers={
                        **{k: v for k, v in headers.items() if k != "Content-Type"},
                        "Content-Type": "application/json",
                    },
                )
                per_operation[label + " raw"][_check(response, counts, label)] += 1
                return
            per_operation[label][_check(case.call(), counts, label)] += 1

        one_request()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            attack(operation, mode)

    total = sum(counts.values())
    seconds = time.monotonic() - started
    print(f"\nfuzz: {total} requests in {seconds:.0f}s")
    print("fuzz: by status:", dict(sorted(counts.items())))
    for label, statuses in sorted(per_operation.items()):
        print(f"fuzz:   {label}: {dict(sorted(statuses.items()))}")
    assert total >= MIN_REQUESTS
    assert len(operations) == 5

    # The victim's conversation is exactly as it was, and its owner can still use it.
    assert _snapshot(app, victim) == before
    listed = client.get(f"/api/v1/conversations/{victim}/messages", headers=victim_auth)
    assert [m["id"] for m in listed.json["messages"]] == [m[0] for m in before["messages"]]
    again = client.post(
        f"/api/v1/conversations/{victim}/messages", json={"text": "thanks!"}, headers=victim_auth
    )
    assert again.status_code == 200
