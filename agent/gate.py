"""The confidence gate: is this draft safe to send, and how urgent is it for the queue?

Hard reasons (a policy flag, a failed tool, weak grounding, a doubting self-check…)
always send a draft to the queue. A draft with none is sent when it is templated (the
owner's FAQ answer, an order's facts) or, when generated, when the calibration fitted
for its model gives it a probability of being right at or above the calibrated
threshold. Without a calibration a person reviews every generated draft, unless the
owner fixed a threshold on the uncalibrated confidence, which blends retrieval
strength with grounding. Every reason is a code and a sentence in plain words.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from agent.calibration import GateCalibration, Signals
from agent.draft import Decision, Reason, ReasonCode, ToolCallRecord
from agent.policy import Flag
from ingestion.redact import ORDER_LEAD, ORDER_WORDS
from kb.retrieval import RELEVANT, Hit, tokens

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# A prefixed number (KC-10042), or Shopify's and WooCommerce's bare numbers when written
# as "#1001" or after the word order: a bare number alone may be a price or a year.
ORDER_NUMBER = re.compile(
    rf"\b[A-Z]{{2,4}}-\d{{3,8}}\b|(?<![\w#&])#\s?\d{{3,10}}\b|{ORDER_LEAD}\d{{3,10}}\b",
    re.IGNORECASE,
)
# "#1001", "order no. 1001" or a bare "1001": stored as the digits.
_WORDED = re.compile(rf"(?:{ORDER_WORDS}\b\D{{0,12}})?#?\s?(\d{{3,10}})", re.IGNORECASE)


def canonical_order_number(text: str) -> str:
    """How an order number is stored: a bare number as its digits, anything else
    (KC-10042, A-5001) as written, upper-cased."""
    text = text.strip()
    worded = _WORDED.fullmatch(text)
    return worded.group(1) if worded else text.upper()


def order_numbers(text: str) -> list[str]:
    """The order numbers a message names, as stored, each once, in order."""
    return list(dict.fromkeys(canonical_order_number(m) for m in ORDER_NUMBER.findall(text)))


# Tool-call JSON or echoed prompt markup instead of an answer.
MALFORMED = re.compile(
    r'^\s*[\[{]|<tool_call>|</?(?:knowledge|passage|tool_results)\b|"arguments"\s*:'
    r"|Customer message:"
)
LINK = re.compile(r"\bhttps?://[^\s<>()\[\]\"']{1,300}", re.IGNORECASE)
URGENT_WORDS = re.compile(
    r"\burgent|\basap\b|right now|immediately|today|tomorrow|dringend|urgente|sofort", re.I
)


# Reasons that only say the draft is not sure enough: the self-check may still run.
SOFT = frozenset({ReasonCode.LOW_CONFIDENCE, ReasonCode.UNCALIBRATED})


@dataclass
class Assessment:
    decision: Decision
    confidence: float
    reasons: list[Reason] = field(default_factory=list)
    signals: Signals | None = None

    @property
    def only_unsure(self) -> bool:
        """Nothing but confidence stands between this draft and the customer."""
        return all(reason.code in SOFT for reason in self.reasons)


def grounding(reply: str, evidence: str) -> float:
    """Share of the reply's sentences whose content words mostly appear in the evidence."""
    known = set(tokens(evidence))
    scored = []
    for sentence in _SENTENCE.split(reply):
        words = [word for word in tokens(sentence) if len(word) > 3]
        if len(words) < 3:  # greetings and sign-offs claim nothing
            continue
        scored.append(sum(word in known for word in words) / len(words) >= 0.6)
    return sum(scored) / len(scored) if scored else 0.0


def assess(
    *,
    message: str,
    reply: str,
    hits: list[Hit],
    cited: list[Hit],
    invalid_citations: list[str],
    tool_calls: list[ToolCallRecord],
    flags: list[Flag],
    threshold: float | None = None,
    calibration: GateCalibration | None = None,
    model: str | None = None,
    link_hosts: frozenset[str] = frozenset(),
    guest: bool = False,
    handoff_reason: str | None = None,
    self_check: float | None = None,
    llm_error: str | None = None,
    orders_unavailable: str | None = None,
    templated: bool = False,
    translation: str | None = None,
) -> Assessment:
    """The decision on one draft; `link_hosts` are the hosts its links may point to.

    `translation` is the reply in the shop's language, whose words grounding compares
    with the passages'; every other check reads the reply the customer would get.

    `threshold`, when the owner fixed one, replaces the calibrated threshold; `self_check`
    is the model's probability that its sources back the reply, once it has been asked.

    `templated` means no model wrote the reply: it is the evidence's own words (an FAQ
    answer) or its facts in fixed sentences (an order's status), so it is grounded.

    `guest` means the customer is not verified by the shop's server: their order
    details are never sent without a person, so a guessed order number gains nothing.

    `llm_error` and `orders_unavailable` say why the reply is only a holding message.
    """
    reasons = [
        Reason(code=ReasonCode.POLICY_FLAG, text=f"The customer {flag.reason}.", detail=flag.name)
        for flag in flags
    ]

    def because(code: ReasonCode, text: str, detail: str | None = None) -> None:
        reasons.append(Reason(code=code, text=text, detail=detail))

    if llm_error:
        because(ReasonCode.LLM_FAILED, f"The language model failed: {llm_error}.")
        return Assessment(Decision.REVIEW, 0.0, reasons)
    if orders_unavailable:
        because(
            ReasonCode.ORDERS_UNAVAILABLE,
            f"The order was not checked: {orders_unavailable}.",
        )
        return Assessment(Decision.REVIEW, 0.0, reasons)
    if handoff_reason:
        because(ReasonCode.HANDOFF, f"The assistant asked for a person: {handoff_reason}.")

    # Only looked-up facts are evidence; opening a ticket or a handoff proves nothing.
    good_tools = [call for call in tool_calls if call.ok and call.name == "lookup_order"]
    failed_tools = [call for call in tool_calls if not call.ok]
    scores = sorted((hit.score for hit in hits), reverse=True)
    top = scores[0] if scores else 0.0
    retrieval = min(1.0, max(0.0, (top - 0.25) / 0.35))
    if good_tools:
        retrieval = max(retrieval, 0.9)
    evidence = (
        " ".join(hit.text for hit in cited or hits[:2])
        + " "
        + " ".join(json.dumps(call.result) for call in good_tools)
    )
    grounded = 1.0 if templated else grounding(translation or reply, evidence)
    confidence = 0.4 * retrieval + 0.6 * grounded
    signals = Signals(
        top_score=round(top, 4),
        margin=round(top - scores[1], 4) if len(scores) > 1 else round(top, 4),
        by_question=bool(hits) and max(hits, key=lambda hit: hit.score).by_question,
        grounding=round(grounded, 4),
        self_check=self_check,
        looked_up=bool(good_tools),
        cited=bool(cited),
    )

    unexplained = sorted(
        {
            order.get("shop_status", "?")
            for call in good_tools
            for order in (call.result if isinstance(call.result, list) else [call.result])
            if isinstance(order, dict) and order.get("status") == "unknown"
        }
    )
    if unexplained:
        because(
            ReasonCode.UNKNOWN_ORDER_STATUS,
            "The shop's order status "
            + ", ".join(repr(word) for word in unexplained)
            + " has no meaning we know; map it with SUPPORT_ORDER_STATUSES.",
        )
    if good_tools and guest:
        because(
            ReasonCode.GUEST_ORDER,
            "Order details for a customer who is not signed in: a person checks who asks.",
        )
    evidence_hits = cited or hits[:2]
    tickets_only = evidence_hits and all(hit.kind == "ticket" for hit in evidence_hits)
    if reply.strip() and tickets_only and not good_tools:
        because(
            ReasonCode.TICKET_ONLY_EVIDENCE,
            "The reply rests only on past tickets, not on the help centre.",
        )
    # A tracking link the order lookup returned is the order's own fact, not a foreign site.
    looked_up = _link_hosts(" ".join(json.dumps(call.result) for call in good_tools))
    foreign = sorted(_link_hosts(reply) - link_hosts - looked_up)
    if foreign:
        because(
            ReasonCode.FOREIGN_LINK,
            "The reply links to a site that is not the shop's: " + ", ".join(foreign) + ".",
        )
    if ORDER_NUMBER.search(message) and not any(c.name == "lookup_order" for c in good_tools):
        because(
            ReasonCode.ORDER_NOT_LOOKED_UP,
            "The customer mentions an order that was not looked up.",
        )
    if top < RELEVANT and not good_tools:
        because(ReasonCode.NOTHING_RELEVANT, "Nothing relevant was found in the knowledge base.")
        confidence = min(confidence, 0.3)
    if grounded < 0.5:
        because(ReasonCode.WEAK_GROUNDING, "Much of the reply is not backed by the cited text.")
    if invalid_citations:
        because(
            ReasonCode.INVALID_CITATIONS,
            "The reply cites documents that were not retrieved: "
            + ", ".join(invalid_citations)
            + ".",
        )
        confidence *= 0.5
    for call in failed_tools:
        if call.name == "search_knowledge_base":
            continue  # an empty search is already covered by "nothing relevant"
        because(
            ReasonCode.TOOL_FAILED,
            f"{call.name} did not succeed: {str(call.result)[:120]}",
            detail=call.name,
        )
        confidence *= 0.7
    if self_check is not None and self_check < 0.5:
        because(
            ReasonCode.SELF_CHECK_FAILED,
            "The self-check found claims the sources do not support.",
        )
        confidence *= 0.5
    if not reply.strip():
        because(ReasonCode.EMPTY_REPLY, "The model produced no reply.")
        confidence = 0.0
    elif _normal(reply) in _normal(message):
        because(ReasonCode.ECHO, "The reply only repeats the customer's message.")
        confidence = 0.0
    elif MALFORMED.search(reply):
        because(
            ReasonCode.MALFORMED_REPLY,
            "The reply is not a readable answer (it looks like code or tool output).",
        )
        confidence = 0.0
    if calibration is not None and not templated and confidence > 0:
        confidence = calibration.probability(signals)
        threshold = calibration.threshold if threshold is None else threshold
    # Said only when nothing else holds the draft back, so the owner sees what matters.
    if threshold is None and not templated and not reasons:
        because(
            ReasonCode.UNCALIBRATED,
            f"{model or 'This model'} is not calibrated: a person reviews its answers "
            "until `support-agent calibrate` has run."
            if calibration is None
            else f"The calibration of {model} reached no threshold with precision "
            f"{calibration.target_precision:.2f}: a person reviews its answers.",
        )
    confidence = round(max(0.0, min(1.0, confidence)), 3)
    if threshold is not None and confidence < threshold:
        because(
            ReasonCode.LOW_CONFIDENCE,
            f"Confidence {confidence:.2f} is below the auto-send threshold {threshold:.2f}.",
        )
    decision = Decision.REVIEW if reasons else Decision.SEND
    return Assessment(decision, confidence, reasons, signals)


def _link_hosts(text: str) -> set[str]:
    return {(urlsplit(url).hostname or "").lower() for url in LINK.findall(text)}


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class CustomerHistory:
    orders: int
    total_spent: float
    first_order: datetime | None


def customer_value(history: CustomerHistory | None, now: datetime) -> float:
    """0..1 from average order value × purchase frequency × tenure."""
    if history is None or history.orders == 0 or history.first_order is None:
        return 0.0
    tenure_years = max((now - history.first_order).days / 365, 1 / 12)
    average = history.total_spent / history.orders
    per_year = history.orders / tenure_years
    lifetime = average * per_year * tenure_years
    return round(1 - math.exp(-lifetime / 500), 3)


def priority(text: str, flags: list[Flag], confidence: float, value: float) -> float:
    """0..100 for the queue: urgency × importance, raised by customer value."""
    urgency = max([0.3, *(flag.urgency for flag in flags)])
    if URGENT_WORDS.search(text):
        urgency = min(1.0, urgency + 0.2)
    importance = 0.5 + 0.5 * (1 - confidence)
    return round(100 * urgency * importance * (0.6 + 0.4 * value), 1)
