"""The draft: what one agent turn produces, as `ask --json`, the API and the queue show it."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Any

import litellm
from pydantic import BaseModel, Field

from agent.calibration import Signals


class Decision(StrEnum):
    SEND = "send"
    REVIEW = "review"


class ReasonCode(StrEnum):
    """Why a draft waits for a person; `text` says the same in plain words."""

    POLICY_FLAG = "policy_flag"
    LLM_FAILED = "llm_failed"
    HANDOFF = "handoff"
    ORDER_NOT_LOOKED_UP = "order_not_looked_up"
    NOTHING_RELEVANT = "nothing_relevant"
    WEAK_GROUNDING = "weak_grounding"
    INVALID_CITATIONS = "invalid_citations"
    TOOL_FAILED = "tool_failed"
    SELF_CHECK_FAILED = "self_check_failed"
    EMPTY_REPLY = "empty_reply"
    ECHO = "echo"
    MALFORMED_REPLY = "malformed_reply"
    LOW_CONFIDENCE = "low_confidence"
    UNCALIBRATED = "uncalibrated"  # no calibration says how far this model can be trusted
    GUEST_ORDER = "guest_order"
    TICKET_ONLY_EVIDENCE = "ticket_only_evidence"
    FOREIGN_LINK = "foreign_link"
    ORDERS_UNAVAILABLE = "orders_unavailable"  # the shop's order system did not answer
    UNKNOWN_ORDER_STATUS = "unknown_order_status"  # a status word nobody mapped
    # Set by the desk, not the gate: the turn could not be drafted, or too many were waiting.
    TURN_FAILED = "turn_failed"
    CAPACITY = "capacity"
    # An email address got its hourly share of automatic replies (a loop brake).
    AUTO_REPLY_LIMIT = "auto_reply_limit"


class AnswerType(StrEnum):
    """Where a reply's words come from."""

    GENERATED = "generated"  # written by the language model from passages and tool results
    FAQ = "faq"  # the owner's own FAQ answer, matched with a clear margin
    ORDER_STATUS = "order_status"  # the looked-up order's facts in a fixed template


class Reason(BaseModel):
    code: ReasonCode
    text: str
    # The policy flag's name (refund, legal, …) for POLICY_FLAG; the tool's name for TOOL_FAILED.
    detail: str | None = None

    def __str__(self) -> str:
        return self.text


class Citation(BaseModel):
    doc_id: str
    title: str
    url: str | None = None
    snippet: str
    # faq | article | ticket: only the help centre (faq, article) is ever shown to customers.
    kind: str = "article"


class ToolCallRecord(BaseModel):
    name: str
    arguments: dict[str, Any]
    ok: bool
    result: Any


class TicketRequest(BaseModel):
    """A ticket the agent decided to open; the desk opens it when it stores the draft."""

    subject: str
    summary: str


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, response: litellm.ModelResponse) -> None:
        """Count one model call's tokens and price."""
        if response.usage:
            self.prompt_tokens += response.usage.prompt_tokens or 0
            self.completion_tokens += response.usage.completion_tokens or 0
        # Local and unknown models have no price: they cost nothing here.
        with contextlib.suppress(Exception):
            self.cost_usd += float(litellm.completion_cost(completion_response=response) or 0.0)


class Latency(BaseModel):
    retrieval: float = 0.0
    llm: float = 0.0
    total: float = 0.0


class Draft(BaseModel):
    decision: Decision
    reply: str
    answer_type: AnswerType = AnswerType.GENERATED
    confidence: float = Field(ge=0, le=1)
    reasons: list[Reason] = []
    citations: list[Citation] = []
    tool_calls: list[ToolCallRecord] = []
    ticket_id: int | None = None
    ticket: TicketRequest | None = Field(None, exclude=True)
    # Every document the turn's retrieval returned, cited or not: written to the event log
    # (desk/events_log.py), not part of the draft's JSON.
    retrieved: list[str] = Field([], exclude=True)
    priority: float = Field(ge=0, le=100)
    language: str
    # The reply in the shop's language, for the owner, when the customer writes in another.
    translation: str | None = None
    usage: Usage = Usage()
    latency_ms: Latency = Latency()
    conversation_id: str | None = None
    draft_id: int | None = None
    model: str | None = None
    # What the gate weighed; kept so that a later calibration can learn from real decisions.
    signals: Signals | None = None

    def has_reason(self, code: ReasonCode) -> bool:
        return any(reason.code == code for reason in self.reasons)
