"""Shared by the web tests: a private copy of the sample shop and an app over it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from desk import Desk
from kb.retrieval import Retriever
from server import create_app
from tests.conftest import shop_settings

RETURN_ANSWER = (
    "You can return unused items in their original packaging within 30 days of delivery. "
    "[faq-return-window]"
)


# Desks whose job workers run; conftest stops them after each test module.
running: list[Desk] = []


def make_app(
    data_dir: Path, retriever: Retriever, model: str, workers: int = 2, **overrides
) -> Flask:
    values = {
        # Apps of one module share a data dir: each gets its own queue, as two shops would.
        "job_queue": f"test-{uuid.uuid4().hex[:8]}",
        "llm_model": model,
        "llm_backoff": 0,
        "auto_send_threshold": 0.6,
        "rate_limit_conversations": "1000/minute",
        **overrides,
    }
    settings = shop_settings(data_dir, **values)
    desk = Desk(settings, retriever=retriever)
    app = create_app(settings, desk)
    app.config["TESTING"] = True
    # Turns are drafted by real job workers, threads of this process, as under serve.
    desk.jobs.start_workers(workers)
    running.append(desk)
    return app


def stop_workers() -> None:
    while running:
        running.pop().jobs.stop_workers(graceful=False)


def start(client: FlaskClient, **body) -> tuple[str, dict]:
    response = client.post("/api/v1/conversations", json=body)
    assert response.status_code == 201, response.json
    return response.json["id"], {"Authorization": f"Bearer {response.json['token']}"}


def send(client: FlaskClient, conversation: str, auth: dict, text: str, stream: bool = False):
    headers = {**auth, "Accept": "text/event-stream"} if stream else auth
    url = f"/api/v1/conversations/{conversation}/messages"
    return client.post(url, json={"text": text}, headers=headers)


def sse_events(body: bytes | str) -> list[tuple[str, dict]]:
    text = body.decode() if isinstance(body, bytes) else body
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "data" in lines:
            events.append((lines.get("event", "message"), json.loads(lines["data"])))
    return events


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on an operator page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client: FlaskClient, name: str, password: str, address: str = "127.0.0.1"):
    token = csrf_token(client.get("/operator/login").get_data(as_text=True))
    return client.post(
        "/operator/login",
        data={"name": name, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def empty_queue(session) -> None:
    """Take every pending draft out of the queue (a module's shop copy carries the drafts
    that earlier modules left in the shared sample shop)."""
    from store.models import Draft, DraftStatus

    session.execute(
        Draft.__table__.update()
        .where(Draft.status == DraftStatus.PENDING)
        .values(status=DraftStatus.REJECTED)
    )


def queue_pending_draft(
    session,
    question: str,
    *,
    reply: str,
    priority: float,
    language: str = "en",
    translation: str | None = None,
    reasons: list[dict] | None = None,
):
    """A customer's question waiting in the queue with a draft for review (not committed);
    returns the draft and the customer's conversation token."""
    from store.conversations import add_message, start_conversation
    from store.models import Author, Draft, DraftStatus

    conversation, token = start_conversation(session)
    message = add_message(session, conversation.id, Author.CUSTOMER, question)
    draft = Draft(
        conversation_id=conversation.id,
        message_id=message.id,
        decision="review",
        status=DraftStatus.PENDING,
        reply=reply,
        confidence=0.3,
        priority=priority,
        language=language,
        translation=translation,
        reasons=reasons or [],
    )
    session.add(draft)
    return draft, token
