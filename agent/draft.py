"""The draft: what one agent turn produces, as `ask --json`, the API and the queue show it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Citation(BaseModel):
    doc_id: str
    title: str
    url: str | None = None
    snippet: str


class ToolCallRecord(BaseModel):
    name: str
    arguments: dict[str, Any]
    ok: bool
    result: Any


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class Latency(BaseModel):
    retrieval: float = 0.0
    llm: float = 0.0
    total: float = 0.0


class Draft(BaseModel):
    decision: Literal["send", "review"]
    reply: str
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = []
    citations: list[Citation] = []
    tool_calls: list[ToolCallRecord] = []
    ticket_id: int | None = None
    priority: float = Field(ge=0, le=100)
    language: str
    usage: Usage = Usage()
    latency_ms: Latency = Latency()
    conversation_id: str | None = None
    draft_id: int | None = None
    model: str | None = None
