"""The customer API under /api/v1: what the widget (or any client) talks to.

Each conversation has a bearer token, shown once when it starts; it opens that
conversation and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from typing import TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError

from channels import widget
from desk import MessageTooLong
from desk.events import conversation_key
from store.models import Channel
from web.limits import limiter
from web.services import services

api = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

# An event stream ends after this long; the client reconnects from its cursor.
STREAM_SECONDS = 300
POLL_SECONDS = 3.0
KEEP_ALIVE_SECONDS = 15.0


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


@api.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error_response(error.status, error.code, error.message)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


B = TypeVar("B", bound=Body)


class StartConversation(Body):
    email: EmailStr | None = None
    # HMAC-SHA256 of the lower-cased email under SUPPORT_WIDGET_SECRET, made by the shop's server.
    signature: str | None = Field(None, max_length=128)


class PostMessage(Body):
    text: str = Field(min_length=1)
    email: EmailStr | None = None


class Rating(Body):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)


def _parse(model: type[B]) -> B:
    data = request.get_json(silent=True) if request.content_length else {}
    if data is None:
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, "invalid_request", f"{where}: {first['msg']}") from None


def _token() -> str:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise ApiError(401, "unauthorized", "send the conversation token: Authorization: Bearer …")
    return header[7:].strip()


def _open(conversation_id: str) -> None:
    if not services().desk.opens(conversation_id, _token()):
        # The same answer for an unknown id and a wrong token: ids cannot be probed.
        raise ApiError(403, "forbidden", "this token does not open that conversation")


def _verified(body: StartConversation, secret: str | None) -> str | None:
    if body.email is None:
        return None
    if not secret or not body.signature:
        raise ApiError(400, "unsigned_email", "an email needs the shop server's signature")
    expected = hmac.new(secret.encode(), body.email.lower().encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, body.signature):
        raise ApiError(403, "bad_signature", "the email's signature does not match")
    return body.email


@api.post("/conversations")
@limiter.limit(lambda: services().settings.rate_limit_conversations)
def start() -> tuple[Response, int]:
    body = _parse(StartConversation)
    svc = services()
    secret = svc.settings.widget_secret
    email = _verified(body, secret.get_secret_value() if secret else None)
    conversation_id, token = svc.desk.start_conversation(verified_email=email)
    return jsonify(id=conversation_id, token=token), 201


def _sse(event: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _stream_headers() -> dict[str, str]:
    return {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@api.post("/conversations/<conversation_id>/messages")
@limiter.limit(
    lambda: services().settings.rate_limit_messages,
    key_func=lambda: request.view_args["conversation_id"],
)
def post_message(conversation_id: str):
    """Store the message and its turn, then answer with the reply once a worker drafted it."""
    body = _parse(PostMessage)
    svc = services()
    _open(conversation_id)
    streamed = request.accept_mimetypes.best == "text/event-stream"
    try:
        receipt = svc.desk.receive(
            conversation_id,
            body.text,
            channel=Channel.WIDGET,
            contact_email=body.email,
            stream=streamed,
        )
    except MessageTooLong as error:
        raise ApiError(413, "message_too_long", str(error)) from None
    wait = svc.settings.reply_wait_seconds
    if streamed:
        events = (_sse(*event) for event in widget.stream(svc.desk, receipt, wait))
        return Response(events, mimetype="text/event-stream", headers=_stream_headers())
    return jsonify(widget.result(receipt, widget.wait(svc.desk, receipt, wait)))


@api.get("/conversations/<conversation_id>/messages")
def list_messages(conversation_id: str):
    after = request.args.get("after", "0")
    if not after.isdigit():
        raise ApiError(400, "invalid_request", "after: expected a message id (an integer)")
    _open(conversation_id)
    return jsonify(services().desk.transcript(conversation_id, after=int(after)).model_dump())


@api.get("/conversations/<conversation_id>/events")
def events(conversation_id: str) -> Response:
    """Server-sent events: each new message as a `message` event whose id is the cursor."""
    after = request.args.get("after") or request.headers.get("Last-Event-ID") or "0"
    if not after.isdigit():
        raise ApiError(400, "invalid_request", "after: expected a message id (an integer)")
    svc = services()
    _open(conversation_id)

    def stream() -> Iterator[str]:
        cursor, quiet_since = int(after), time.monotonic()
        deadline = quiet_since + STREAM_SECONDS
        yield "retry: 2000\n\n"
        key = conversation_key(conversation_id)
        while time.monotonic() < deadline:
            seen = svc.desk.events.last(key)
            state = svc.desk.transcript(conversation_id, after=cursor)
            for message in state.messages:
                yield _sse("message", message.model_dump(), message.id)
                quiet_since = time.monotonic()
            cursor = state.cursor
            if time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            svc.desk.events.read(key, seen, POLL_SECONDS)

    return Response(stream(), mimetype="text/event-stream", headers=_stream_headers())


@api.post("/conversations/<conversation_id>/rating")
def rate(conversation_id: str):
    body = _parse(Rating)
    _open(conversation_id)
    services().desk.rate(conversation_id, score=body.score, comment=body.comment)
    return jsonify(ok=True)


@api.after_request
def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    allowed = [o.strip() for o in services().settings.widget_origins.split(",")]
    if origin and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
    return response
