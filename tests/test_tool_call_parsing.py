"""The forms in which small models write tool calls become standard tool calls."""

from __future__ import annotations

import json

import pytest

from llm.tool_call_parsing import parse_tool_calls

TOOLS = {"lookup_order", "create_ticket"}


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "lookup_order", "arguments": {"order_id": "KC-10042"}}',
        '```json\n{"name": "lookup_order", "arguments": {"order_id": "KC-10042"}}\n```',
        '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": "KC-10042"}}\n'
        "</tool_call>",
        '<tool_call>{"name": "lookup_order", "arguments": {"order_id": "KC-10042"}}',
        '{"function": {"name": "lookup_order", "arguments": "{\\"order_id\\": \\"KC-10042\\"}"}}',
        '{"name": "lookup_order", "parameters": {"order_id": "KC-10042"}}',
    ],
)
def test_each_form_becomes_one_call(text):
    reply = parse_tool_calls(text, TOOLS)
    assert len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert call["type"] == "function"
    assert call["function"]["name"] == "lookup_order"
    assert json.loads(call["function"]["arguments"]) == {"order_id": "KC-10042"}
    assert reply.content is None


def test_several_calls_and_surrounding_text():
    text = (
        "Let me check that for you.\n"
        '<tool_call>{"name": "lookup_order", "arguments": {"order_id": "KC-1"}}</tool_call>\n'
        '<tool_call>{"name": "create_ticket", "arguments": {"subject": "late"}}</tool_call>'
    )
    reply = parse_tool_calls(text, TOOLS)
    assert [c["function"]["name"] for c in reply.tool_calls] == ["lookup_order", "create_ticket"]
    assert len({c["id"] for c in reply.tool_calls}) == 2
    assert reply.content == "Let me check that for you."


def test_a_tool_that_was_not_offered_is_not_called():
    reply = parse_tool_calls('{"name": "refund_everyone", "arguments": {}}', TOOLS)
    assert reply.tool_calls == []
    assert reply.unknown_tools == ["refund_everyone"]


@pytest.mark.parametrize(
    "text",
    [
        "Your order ships in 3-5 business days.",
        "Sizes: {S, M, L} are in stock.",
        '{"order_id": "KC-1"}',
        "<tool_call>not json</tool_call>",
    ],
)
def test_plain_text_stays_text(text):
    reply = parse_tool_calls(text, TOOLS)
    assert reply.tool_calls == []
    assert reply.content == text.strip()
