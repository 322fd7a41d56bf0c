"""Turn the tool calls that small models write as text into structured calls.

Small instruct models answer a tool-worthy prompt with the call in their text:
bare JSON, a fenced ```json block, or `<tool_call>…</tool_call>` tags (Qwen's own
format). Only calls to tools that were offered are accepted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```(?:json|tool_call)?\s*(.*?)\s*```", re.DOTALL)


@dataclass
class ParsedReply:
    content: str | None
    tool_calls: list[dict] = field(default_factory=list)
    unknown_tools: list[str] = field(default_factory=list)


def _json_values(text: str) -> list:
    """Every top-level JSON value found in `text` (objects and arrays)."""
    decoder = json.JSONDecoder()
    values, index = [], 0
    while index < len(text):
        start = min(
            (pos for pos in (text.find("{", index), text.find("[", index)) if pos >= 0), default=-1
        )
        if start < 0:
            break
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        values.append(value)
        index = end
    return values


def _as_call(value: object) -> tuple[str, dict] | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI shape written out as text
        value = value["function"]
    name = value.get("name") or value.get("function") or value.get("tool")
    arguments = value.get("arguments", value.get("parameters", value.get("args", {})))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return None
    return name, arguments


def _candidates(text: str) -> tuple[list, str]:
    """JSON values that may be calls, and the text left around them."""
    for pattern in (_TAGGED, _FENCED):
        blocks = pattern.findall(text)
        if blocks:
            values = [value for block in blocks for value in _json_values(block)]
            return values, pattern.sub("", text)
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        values = _json_values(stripped)
        return values, ""
    return [], text


def parse_tool_calls(text: str, tool_names: set[str], id_prefix: str = "call") -> ParsedReply:
    """Split a model's text into plain content and OpenAI-shaped tool calls."""
    values, rest = _candidates(text)
    calls, unknown = [], []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            call = _as_call(item)
            if call is None:
                continue
            name, arguments = call
            if name not in tool_names:
                unknown.append(name)
                continue
            calls.append(
                {
                    "id": f"{id_prefix}_{len(calls)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            )
    if not calls:
        return ParsedReply(content=text.strip() or None, unknown_tools=unknown)
    return ParsedReply(content=rest.strip() or None, tool_calls=calls, unknown_tools=unknown)
