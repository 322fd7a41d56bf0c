"""The OpenAPI 3.1 description of the customer API, served at GET /api/v1/openapi.json.

Request bodies come from the pydantic models in web/api.py, so the document cannot
drift from what the API accepts; the rest is written out here.
"""

from __future__ import annotations

import copy
from functools import cache

from web.api import CURSOR, PostMessage, Rating, StartConversation

ERROR_CODES = [
    "invalid_json",
    "invalid_request",
    "unsigned_email",
    "malformed_signature",
    "bad_signature",
    "expired_signature",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "message_too_long",
    "request_entity_too_large",
    "too_many_requests",
    "too_many_streams",
]

CURSOR_PATTERN = f"^{CURSOR.pattern}$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _body(model: type) -> dict:
    schema = copy.deepcopy(model.model_json_schema())
    schema.pop("title", None)
    for field in schema.get("properties", {}).values():
        field.pop("title", None)
    return schema


CONVERSATION_ID = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "description": "The conversation's id, as returned when it started.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
AFTER = {
    "name": "after",
    "in": "query",
    "required": False,
    "description": "Only messages with a higher id; 0 (the default) for all.",
    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
}
LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "description": "Resume an event stream after this message id (when `after` is not given).",
    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
}
ACCEPT = {
    "name": "Accept",
    "in": "header",
    "required": False,
    "description": "`text/event-stream` streams the reply word by word once it is sent.",
    "schema": {"type": "string", "enum": ["application/json", "text/event-stream"]},
}

BAD_REQUEST = _error("The request is malformed: bad JSON, an unknown field, a bad value.")
UNAUTHORIZED = _error("No bearer token (`unauthorized`).")
FORBIDDEN = _error(
    "The token does not open this conversation, or no such conversation (`forbidden`): "
    "both answer the same, so ids cannot be probed."
)
TOO_LARGE = _error("The body is larger than 64 KB (`request_entity_too_large`).")
TOO_MANY = _error("A rate limit was reached (`too_many_requests`).")


def _secured(operation: dict) -> dict:
    operation["security"] = [{"bearer": []}]
    operation["responses"].update({"401": UNAUTHORIZED, "403": FORBIDDEN})
    return operation


@cache
def document() -> dict:
    message = {
        "type": "object",
        "required": ["id", "author", "text", "created_at", "citations"],
        "properties": {
            "id": {"type": "integer", "description": "The message id, also the cursor."},
            "author": {"type": "string", "enum": ["customer", "agent", "operator"]},
            "text": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "citations": {"type": "array", "items": _ref("Citation")},
        },
    }
    schemas = {
        "StartConversation": _body(StartConversation),
        "PostMessage": _body(PostMessage),
        "Rating": _body(Rating),
        "Conversation": {
            "type": "object",
            "required": ["id", "token"],
            "properties": {
                "id": {"type": "string"},
                "token": {
                    "type": "string",
                    "description": "The bearer token that alone opens this conversation; "
                    "shown once.",
                },
            },
        },
        "Citation": {
            "type": "object",
            "properties": {
                "doc_id": {"type": "string"},
                "title": {"type": "string"},
                "url": {"type": ["string", "null"]},
            },
        },
        "Reply": {
            "type": "object",
            "required": ["message_id", "text", "citations"],
            "properties": {
                "message_id": {"type": "integer"},
                "text": {"type": "string"},
                "citations": {"type": "array", "items": _ref("Citation")},
            },
        },
        "MessageResult": {
            "type": "object",
            "required": ["message_id", "status"],
            "properties": {
                "message_id": {"type": "integer"},
                "status": {"type": "string", "enum": ["sent", "pending"]},
                "reply": _ref("Reply"),
                "expected_wait_minutes": {
                    "type": "integer",
                    "description": "When pending: how long a person usually takes.",
                },
                "estimate": _ref("Estimate"),
                "drafting": {
                    "type": "boolean",
                    "description": "When pending: the reply takes longer than the request "
                    "waits, and arrives on the event stream.",
                },
            },
        },
        "Estimate": {
            "type": "object",
            "description": "When pending: when a person will answer, honestly. Times are UTC; "
            "show them in `timezone`, the shop's.",
            "required": [
                "open_now",
                "away",
                "answer_within_minutes",
                "reply_expected_at",
                "timezone",
            ],
            "properties": {
                "open_now": {"type": "boolean", "description": "Within business hours now."},
                "away": {"type": "boolean", "description": "The owner's away mode is on."},
                "away_note": {"type": "string", "description": "The owner's note, while away."},
                "opens_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "The next opening (after away mode and holidays); "
                    "absent while open.",
                },
                "median_first_response_minutes": {
                    "type": "integer",
                    "description": "The median business minutes from a customer's message to "
                    "a person's reply, over the last 50 replies; absent with fewer than 5.",
                },
                "answer_within_minutes": {
                    "type": "integer",
                    "description": "The usual wait from the opening: that median, else the "
                    "review SLA.",
                },
                "reply_expected_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "The opening (or now) plus `answer_within_minutes` of "
                    "business hours.",
                },
                "timezone": {
                    "type": "string",
                    "description": "The IANA time zone of the business hours (UTC without).",
                },
            },
        },
        "Message": message,
        "Transcript": {
            "type": "object",
            "required": ["messages", "cursor", "pending"],
            "properties": {
                "messages": {"type": "array", "items": _ref("Message")},
                "cursor": {"type": "integer", "description": "Pass as `after` next time."},
                "pending": {"type": "boolean", "description": "A reply is still owed."},
            },
        },
        "Ok": {
            "type": "object",
            "required": ["ok"],
            "properties": {"ok": {"type": "boolean", "const": True}},
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "examples": ERROR_CODES},
                        "message": {"type": "string"},
                    },
                }
            },
        },
    }
    json_body = {"application/json": {"schema": None}}

    def body(name: str, required: bool = True) -> dict:
        content = copy.deepcopy(json_body)
        content["application/json"]["schema"] = _ref(name)
        return {"required": required, "content": content}

    def ok(name: str, description: str) -> dict:
        return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}

    paths = {
        "/conversations": {
            "post": {
                "operationId": "startConversation",
                "summary": "Start a conversation; answers its id and bearer token.",
                "description": "A guest sends `{}`. A signed-in customer sends the email the "
                "shop's server signed, with `signature` and `expires` (see README).",
                "requestBody": body("StartConversation", required=False),
                "responses": {
                    "201": ok("Conversation", "The conversation and its token."),
                    "400": BAD_REQUEST,
                    "403": _error(
                        "The email's signature does not match (`bad_signature`) or expired "
                        "(`expired_signature`)."
                    ),
                    "413": TOO_LARGE,
                    "429": TOO_MANY,
                },
            }
        },
        "/conversations/{conversation_id}/messages": {
            "parameters": [CONVERSATION_ID],
            "post": _secured(
                {
                    "operationId": "postMessage",
                    "summary": "Send a customer message; answers with the reply once drafted.",
                    "parameters": [ACCEPT],
                    "requestBody": body("PostMessage"),
                    "responses": {
                        "200": {
                            "description": "The reply, or that a person will reply. With "
                            "`Accept: text/event-stream`: `token` events, then one `result`.",
                            "content": {
                                "application/json": {"schema": _ref("MessageResult")},
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        "400": BAD_REQUEST,
                        "413": _error(
                            "The message is longer than SUPPORT_MAX_MESSAGE_CHARS "
                            "(`message_too_long`) or the body larger than 64 KB."
                        ),
                        "429": _error(
                            "Too many messages for this conversation or from this address "
                            "(`too_many_requests`)."
                        ),
                    },
                }
            ),
            "get": _secured(
                {
                    "operationId": "listMessages",
                    "summary": "The messages after a cursor, and whether a reply is owed.",
                    "parameters": [AFTER],
                    "responses": {
                        "200": ok("Transcript", "The messages after the cursor."),
                        "400": BAD_REQUEST,
                    },
                }
            ),
        },
        "/conversations/{conversation_id}/events": {
            "parameters": [CONVERSATION_ID],
            "get": _secured(
                {
                    "operationId": "events",
                    "summary": "Server-sent events: one `message` event per new message.",
                    "parameters": [AFTER, LAST_EVENT_ID],
                    "responses": {
                        "200": {
                            "description": "An event stream; each event's `id:` is the cursor. "
                            "It ends after a few minutes; reconnect with Last-Event-ID.",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        "400": BAD_REQUEST,
                        "429": _error(
                            "Too many open streams for this conversation or address "
                            "(`too_many_streams`)."
                        ),
                    },
                }
            ),
        },
        "/conversations/{conversation_id}/rating": {
            "parameters": [CONVERSATION_ID],
            "post": _secured(
                {
                    "operationId": "rate",
                    "summary": "Rate the conversation, 1 to 5, with an optional comment.",
                    "requestBody": body("Rating"),
                    "responses": {
                        "200": ok("Ok", "Stored."),
                        "400": BAD_REQUEST,
                        "413": TOO_LARGE,
                    },
                }
            ),
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3.1, JSON."}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "support-agent customer API",
            "version": "1",
            "description": "What the chat widget (or any client) talks to. Every error is "
            '`{"error": {"code", "message"}}`; see docs/formats.md.',
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The conversation's token from POST /conversations.",
                }
            },
        },
    }
