"""The customer API under /api/v1: what the widget (or any client) talks to.

Each conversation has a bearer token, shown once when it starts; it opens that
conversation and nothing else.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from flask_limiter.util import get_remote_address
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictInt,
    ValidationError,
)

from channels import widget
from desk import Desk, MessageTooLong, Receipt
from settings import Settings
from store.models import Channel
from web import live, signing
from web.limits import limiter
from web.services import services
from web.streams import StreamSlots

api = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

# A cursor is a message id: ASCII digits only, and few enough to fit a 64-bit integer.
# (`str.isdigit` also accepts "²" and "⑴", which `int` then refuses.)
CURSOR = re.compile(r"[0-9]{1,18}")
# Conversation ids are UUIDs; anything else cannot name one, so it is refused unread.
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


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


def _storable(value: str) -> str:
    # JSON may carry "\u0000" and lone surrogates ("\ud800"); no database stores them.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
Email = Annotated[EmailStr, AfterValidator(_storable)]


class StartConversation(Body):
    email: Email | None = None
    # HMAC-SHA256 of "v1|<lower-cased email>|<expires>" under SUPPORT_WIDGET_SECRET, made by
    # the shop's server (see web/signing.py); 64 hex digits.
    signature: str | None = Field(
        None, max_length=128, json_schema_extra={"pattern": "^[0-9a-fA-F]{64}$"}
    )
    # When the signature stops being good, in unix seconds.
    expires: StrictInt | None = Field(None, ge=0)


class PostMessage(Body):
    text: Text = Field(min_length=1)
    email: Email | None = None


class Rating(Body):
    score: int = Field(ge=1, le=5)
    comment: Text | None = Field(None, max_length=2000)


def _parse(model: type[B]) -> B:
    data: object = {}
    if request.content_length:
        if not request.is_json:
            raise ApiError(400, "invalid_json", "the body must be a JSON object")
        try:
            data = json.loads(request.get_data(cache=True))
        # Nesting deeper than the interpreter's stack raises RecursionError, not ValueError.
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, "invalid_request", f"{where}: {first['msg']}") from None


def _cursor(value: str, name: str) -> int:
    if not CURSOR.fullmatch(value):
        raise ApiError(
            400, "invalid_request", f"{name}: expected a message id (up to 18 digits 0-9)"
        )
    return int(value)


def _token() -> str:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise ApiError(401, "unauthorized", "send the conversation token: Authorization: Bearer …")
    return header[7:].strip()


def _open(conversation_id: str) -> None:
    token = _token()
    if not CONVERSATION_ID.fullmatch(conversation_id) or not services().desk.opens(
        conversation_id, token
    ):
        # The same answer for an unknown id and a wrong token: ids cannot be probed.
        raise ApiError(403, "forbidden", "this token does not open that conversation")


def _verified(body: StartConversation, secret: str | None) -> str | None:
    """The email, if the shop's server signed it and the signature has not expired."""
    if body.email is None:
        return None
    if not secret or not body.signature:
        raise ApiError(400, "unsigned_email", "an email needs the shop server's signature")
    # Checked before comparing: compare_digest raises TypeError on non-ASCII text.
    if not SIGNATURE.fullmatch(body.signature):
        raise ApiError(400, "malformed_signature", "signature: expected 64 hex digits")
    if body.expires is None:
        raise ApiError(
            400, "malformed_signature", "expires: a signed email needs its expiry (unix seconds)"
        )
    expected = signing.signature(secret, body.email, body.expires)
    if not hmac.compare_digest(expected, body.signature.lower()):
        raise ApiError(403, "bad_signature", "the email's signature does not match")
    if body.expires <= time.time():
        raise ApiError(403, "expired_signature", "the email's signature has expired")
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


def _stream_headers() -> dict[str, str]:
    return {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _counts_for_the_conversation(response: Response) -> bool:
    # A request that cannot open the conversation does not use up its owner's messages.
    return response.status_code not in (401, 403)


@api.post("/conversations/<conversation_id>/messages")
@limiter.limit(lambda: services().settings.rate_limit_messages_per_address)
@limiter.limit(
    lambda: services().settings.rate_limit_messages,
    key_func=lambda: request.view_args["conversation_id"],
    deduct_when=_counts_for_the_conversation,
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
            client_address=request.remote_addr,
            stream=streamed,
        )
    except MessageTooLong as error:
        raise ApiError(413, "message_too_long", str(error)) from None
    wait = svc.settings.reply_wait_seconds
    if streamed:
        events = _reply_events(widget.stream(svc.desk, receipt, wait), conversation_id)
        return _evented(live.Live(events), mimetype="text/event-stream", headers=_stream_headers())
    return _evented(_reply(svc.desk, receipt, wait), mimetype="application/json")


async def _reply_events(
    events: AsyncIterator[tuple[str, dict]], conversation_id: str
) -> AsyncIterator[str]:
    """The turn's events as SSE; a failure once streaming has begun ends with an `error` event."""
    try:
        async for event in events:
            yield live.sse(*event)
    except Exception:
        log.exception("the reply stream of conversation %s failed", conversation_id)
        message = "The reply could not be shown here; it will appear in this chat when ready."
        yield live.sse("error", {"code": "stream_failed", "message": message})


def _reply(desk: Desk, receipt: Receipt, wait: float) -> live.Live:
    async def body() -> AsyncIterator[str]:
        try:
            outcome = await widget.wait(desk, receipt, wait)
        except Exception:  # the message is stored: its reply comes through the event stream
            log.exception("waiting for the reply to message %s failed", receipt.message_id)
            outcome = None
        yield json.dumps(widget.result(receipt, outcome)) + "\n"

    return live.Live(body())


def _evented(response: live.Live, *, mimetype: str, headers: dict | None = None) -> Response:
    """A response that waits: the evented front sends it, or else this request's thread."""
    if live.hand_off(request.environ, response):
        return Response(iter(()), mimetype=mimetype, headers=headers)
    sent = Response(live.in_thread(response), mimetype=mimetype, headers=headers)
    # A response closed before its first chunk never runs the generator's `finally`.
    sent.call_on_close(response.release)
    return sent


@api.get("/conversations/<conversation_id>/messages")
def list_messages(conversation_id: str):
    after = _cursor(request.args.get("after", "0"), "after")
    _open(conversation_id)
    return jsonify(services().desk.transcript(conversation_id, after=after).model_dump())


def _stream_slots() -> StreamSlots:
    return current_app.extensions.setdefault("support_streams", StreamSlots())


@api.get("/conversations/<conversation_id>/events")
def events(conversation_id: str) -> Response:
    """Server-sent events: each new message as a `message` event whose id is the cursor.

    Everything that can be refused is checked before the stream starts, so a refusal is
    a JSON error; a failure once it runs ends the stream, and the client resumes from
    its cursor (Last-Event-ID).
    """
    if after := request.args.get("after"):
        start_after = _cursor(after, "after")
    else:
        start_after = _cursor(request.headers.get("Last-Event-ID") or "0", "Last-Event-ID")
    svc = services()
    _open(conversation_id)
    if request.method == "HEAD":  # the headers alone: no stream to hold open
        return Response(mimetype="text/event-stream", headers=_stream_headers())
    release = _stream_slots().acquire(
        conversation_id,
        get_remote_address() or "unknown",
        svc.settings.max_streams_per_conversation,
        svc.settings.max_streams_per_address,
    )
    if release is None:
        raise ApiError(429, "too_many_streams", "too many open event streams; close one first")
    stream = live.messages(
        svc.desk,
        conversation_id,
        after=start_after,
        recheck=svc.recheck_seconds,
        release=release,
    )
    return _evented(stream, mimetype="text/event-stream", headers=_stream_headers())


@api.post("/conversations/<conversation_id>/rating")
def rate(conversation_id: str):
    body = _parse(Rating)
    _open(conversation_id)
    services().desk.rate(conversation_id, score=body.score, comment=body.comment)
    return jsonify(ok=True)


@api.get("/openapi.json")
def openapi_document():
    from web.openapi import document

    return jsonify(document())


def allowed_origins(settings: Settings) -> list[str]:
    """SUPPORT_WIDGET_ORIGINS, or by default the origin of SUPPORT_PUBLIC_URL (else any)."""
    if "widget_origins" not in settings.model_fields_set and settings.public_url:
        return [_origin(settings.public_url)]
    return [o.strip() for o in settings.widget_origins.split(",") if o.strip()]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        number = parts.port
    except ValueError:  # not a port number: no browser sends such an origin anyway
        number = None
    port = f":{number}" if number and number != {"http": 80, "https": 443}.get(scheme) else ""
    return f"{scheme}://{host}{port}"


@api.after_request
def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    allowed = allowed_origins(services().settings)
    response.vary.add("Origin")
    if origin and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
    return response
