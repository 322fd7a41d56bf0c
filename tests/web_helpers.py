"""Shared by the web tests: a private copy of the sample shop and an app over it."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from agent.turn import Agent
from kb.retrieval import Retriever
from server import create_app
from tests.conftest import shop_settings

RETURN_ANSWER = (
    "You can return unused items in their original packaging within 30 days of delivery. "
    "[faq-return-window]"
)


def make_app(data_dir: Path, retriever: Retriever, model: str, **overrides) -> Flask:
    values = {
        "llm_model": model,
        "llm_backoff": 0,
        "auto_send_threshold": 0.6,
        "rate_limit_conversations": "1000/minute",
        **overrides,
    }
    settings = shop_settings(data_dir, **values)
    app = create_app(settings, Agent(settings, retriever=retriever))
    app.config["TESTING"] = True
    return app


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
