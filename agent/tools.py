"""The agent's tools: pydantic argument models, their JSON schemas, and what they do.

None of them changes anything: orders are read through the `Orders` port the desk
provides, and a ticket is only requested, for the desk to open with the draft.
`lookup_order` answers only for the order's own customer: the conversation's
verified email, or for a guest exactly one email given with the message together
with the order's postcode (a second factor the customer knows and a guesser does
not). Failed lookups are counted per client address, email and order, and refused
past a limit. Anything the model passes as "email" is ignored, so neither a prompt
injection nor a planted instruction in a retrieved ticket can widen who is asked about.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, Field, ValidationError

from agent.draft import TicketRequest
from agent.gate import ORDER_NUMBER, CustomerHistory, canonical_order_number
from agent.language import detect_language
from ingestion.order_states import NO_CURRENCY, PLAIN_WORDS
from ingestion.records import RefundState, ShopOrder
from kb.retrieval import RELEVANT, Hit, Retriever

# Bounded parts: unbounded repeats made this pattern quadratic on long hostile text.
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}+@[\w-]{1,63}+(?:\.[\w-]{1,63}+){1,8}+")
# A message about one particular order: its number, "my order", or how a parcel is doing.
# Questions about shipping in general get no lookup phase, which is a whole model call
# before the reply's first word.
ORDER_HINT = re.compile(
    ORDER_NUMBER.pattern
    + r"|\b(?:my|our)\b(?:\s+\w+){0,3}?\s+(?:orders?|package|parcel|shipment|delivery|"
    r"tracking|refund|return|purchase|stuff|things|items?)\b|\bwhere(?:'s|\s+is|\s+are)\s+(?:my|our)\b"
    r"|\border (?:number|id)\b|\b(?:recent|last|previous|past) orders?\b|\borders of\b"
    r"|\btracking (?:link|number|page|says|shows|status)|\bin transit\b|\bis it lost\b"
    r"|\b(?:hasn'?t|has not|haven'?t|never|didn'?t) (?:arrived?|come|came|shipped|been delivered)"
    r"|\bstill waiting\b"
    r"|\bmi (?:pedido|paquete|env[ií]o)|\bmeine? (?:bestellung|paket|sendung)|\bma commande"
    r"|\bmon colis",
    re.IGNORECASE,
)
RECENT_ORDERS = 3
POSTCODE_GUESSES = 4  # number-bearing words a guest's message may hold besides the order's


class SearchKnowledgeBase(BaseModel):
    """Search the shop's FAQs, help articles and past tickets."""

    query: str = Field(min_length=2, max_length=300, description="What to look for")


class LookupOrder(BaseModel):
    """Look up the customer's own order: status, items, shipping and tracking.

    Without an order id it lists the customer's recent orders.
    """

    order_id: str | None = Field(None, max_length=40, description="The order number, if given")


class CreateTicket(BaseModel):
    """Open a support ticket for the owner to follow up on."""

    subject: str = Field(min_length=3, max_length=200)
    summary: str = Field(min_length=3, max_length=2000)


class HandoffToHuman(BaseModel):
    """Hand the conversation to a person when you cannot or must not answer."""

    reason: str = Field(min_length=3, max_length=300)


class OrdersUnavailable(Exception):
    """The shop's order system did not answer; the message says why, in plain words."""


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:.2f}" if currency == NO_CURRENCY else f"{amount:.2f} {currency}"


def _day(moment: datetime | None) -> str | None:
    return moment.date().isoformat() if moment else None


def order_summary(order: ShopOrder) -> dict:
    """What a customer asks about an order, in the words the reply may use; empty fields
    are left out, so a small model has nothing to fill in."""
    refund = order.refund_state
    summary = {
        "order_id": order.id,
        "status": order.state.value,
        "status_in_words": PLAIN_WORDS[order.state],
        "shop_status": order.status,
        "placed": _day(order.created_at),
        "items": [f"{item.quantity} x {item.name}" for item in order.items],
        "total": _money(order.total, order.currency),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "tracking_url": order.tracking_url,
        "shipped": _day(order.shipped_at),
        "delivered": _day(order.delivered_at),
        "expected_delivery": None if order.delivered_at else _day(order.expected_delivery),
        "refund": None if refund == RefundState.NONE else refund.value,
        "refunded": None
        if refund == RefundState.NONE
        else _money(order.refunded_total, order.currency),
    }
    return {key: value for key, value in summary.items() if value not in (None, [])}


class LookupGuard(Protocol):
    """Counts failed order lookups by key (client address, email, order) across workers."""

    def blocked(self, keys: list[str]) -> bool: ...

    def failed(self, keys: list[str]) -> None: ...


class Orders(Protocol):
    """Read-only order lookups; each call is short and holds nothing open across LLM calls.

    `find` and `recent` raise OrdersUnavailable when the shop's system does not answer.
    """

    def find(self, order_id: str) -> ShopOrder | None: ...

    def recent(self, email: str, limit: int) -> list[ShopOrder]: ...

    def history(self, emails: set[str]) -> CustomerHistory | None: ...


@dataclass
class TurnContext:
    """What a tool may see: the orders, the knowledge base and who is asking."""

    orders: Orders
    guard: LookupGuard
    retriever: Retriever
    verified_email: str | None
    customer_text: str
    hits: list[Hit] = field(default_factory=list)
    # An email the customer gave alongside the message: as trusted as one typed into it.
    contact_email: str | None = None
    client_address: str | None = None
    ticket: TicketRequest | None = None
    handoff_reason: str | None = None
    # Why the shop's order system could not be asked: the draft then waits for a person.
    orders_unavailable: str | None = None


@dataclass
class ToolOutcome:
    ok: bool
    result: object


def requester_emails(context: TurnContext) -> set[str]:
    emails = {email.lower() for email in EMAIL.findall(context.customer_text)}
    if context.contact_email:
        emails.add(context.contact_email.lower())
    if context.verified_email:
        emails.add(context.verified_email.lower())
    return emails


def search_knowledge_base(args: SearchKnowledgeBase, context: TurnContext) -> ToolOutcome:
    found = context.retriever.search(args.query, k=3, language=detect_language(args.query))
    hits = [hit for hit in found if hit.score >= RELEVANT and not hit.untrusted]
    if not hits:
        return ToolOutcome(False, "Nothing relevant in the knowledge base.")
    known = {hit.chunk_id for hit in context.hits}
    context.hits += [hit for hit in hits if hit.chunk_id not in known]
    return ToolOutcome(True, [{"doc_id": h.doc_id, "title": h.title, "text": h.text} for h in hits])


def _guest_email(context: TurnContext) -> str | None:
    """The one email a guest gave with the message; None for none or several (no spraying)."""
    emails = {email.lower() for email in EMAIL.findall(context.customer_text)}
    if context.contact_email:
        emails.add(context.contact_email.lower())
    return emails.pop() if len(emails) == 1 else None


def _compact(text: str) -> str:
    return re.sub(r"[\s-]", "", text).upper()


def _names_postcode(text: str, postcode: str) -> bool:
    """Whether the message gives this postcode as words of its own ("10115", "EH1 1AA"),
    not as part of an order number or an email. A message with many number-bearing
    words guesses many postcodes at once, and proves nothing."""
    words = re.findall(r"[^\W_]+", EMAIL.sub(" ", ORDER_NUMBER.sub(" ", text)).upper())
    if sum(any(char.isdigit() for char in word) for word in words) > POSTCODE_GUESSES:
        return False
    wanted = _compact(postcode)
    return wanted in words or wanted in {a + b for a, b in zip(words, words[1:], strict=False)}


def _not_found(order_id: str) -> ToolOutcome:
    # One answer for "no such order", "not yours", a wrong postcode and a blocked guesser.
    return ToolOutcome(
        False,
        f"No order {order_id} was found for this customer. Ask for the order number, the "
        "email address used at checkout and the delivery postcode.",
    )


def _guest_lookup(asked: str, order_id: str, context: TurnContext) -> ToolOutcome:
    """A guest proves the order is theirs with one email and the postcode it went to."""
    email = _guest_email(context)
    keys = [f"order:{order_id}", f"email:{email}", f"address:{context.client_address}"]
    keys = [key for key in keys if not key.endswith(":None")]
    if context.guard.blocked(keys):
        return _not_found(asked)
    order = context.orders.find(order_id)
    owner = (
        order is not None
        and email is not None
        and order.email.lower() == email
        and bool(order.postcode)
        and _names_postcode(context.customer_text, order.postcode)
    )
    if not owner:
        context.guard.failed(keys)
        return _not_found(asked)
    return ToolOutcome(True, order_summary(order))


def lookup_order(args: LookupOrder, context: TurnContext) -> ToolOutcome:
    try:
        return _lookup_order(args, context)
    except OrdersUnavailable as error:
        # Never a status from memory or the model: a person answers once the shop is back.
        context.orders_unavailable = str(error)
        return ToolOutcome(
            False, "The shop's order system is not answering right now; the order was not checked."
        )


def _lookup_order(args: LookupOrder, context: TurnContext) -> ToolOutcome:
    given = args.order_id and args.order_id.strip().lower() in context.customer_text.lower()
    if args.order_id and not given and context.verified_email:
        # Small models invent numbers like "12345"; a verified customer gets their recent orders.
        args = LookupOrder()
    if args.order_id:
        order_id = canonical_order_number(args.order_id)
        if context.verified_email:
            order = context.orders.find(order_id)
            if order is None or order.email.lower() != context.verified_email.lower():
                return _not_found(args.order_id)
            return ToolOutcome(True, order_summary(order))
        return _guest_lookup(args.order_id, order_id, context)
    if not context.verified_email:
        return ToolOutcome(
            False,
            "The customer is not verified. Ask for the order number, the checkout email and "
            "the delivery postcode.",
        )
    recent = context.orders.recent(context.verified_email.lower(), RECENT_ORDERS)
    if not recent:
        return ToolOutcome(False, "This customer has no orders on record.")
    return ToolOutcome(True, [order_summary(order) for order in recent])


def create_ticket(args: CreateTicket, context: TurnContext) -> ToolOutcome:
    # One ticket per turn, however often the model asks; the desk opens it with the draft.
    if context.ticket is None:
        context.ticket = TicketRequest(subject=args.subject, summary=args.summary)
    return ToolOutcome(True, {"status": "open", "subject": context.ticket.subject})


def handoff_to_human(args: HandoffToHuman, context: TurnContext) -> ToolOutcome:
    context.handoff_reason = args.reason
    return ToolOutcome(True, "A person will take over this conversation.")


TOOLS: dict[str, tuple[type[BaseModel], Callable[[BaseModel, TurnContext], ToolOutcome]]] = {
    "search_knowledge_base": (SearchKnowledgeBase, search_knowledge_base),
    "lookup_order": (LookupOrder, lookup_order),
    "create_ticket": (CreateTicket, create_ticket),
    "handoff_to_human": (HandoffToHuman, handoff_to_human),
}


def tools_for(text: str, weak_retrieval: bool, flagged: bool) -> list[str]:
    """The tools worth offering for this message.

    Small local models call whatever they are offered, so a plain FAQ question gets
    no tools at all, and each tool shows up only when the message calls for it.
    """
    names = []
    if ORDER_HINT.search(text):
        names.append("lookup_order")
    if weak_retrieval:
        names.append("search_knowledge_base")
    if weak_retrieval or flagged:
        names += ["create_ticket", "handoff_to_human"]
    return names


def tool_schemas(names: list[str] | None = None) -> list[dict]:
    """The tools in the OpenAI format that litellm passes to every provider."""
    schemas = []
    for name, (model, _) in TOOLS.items():
        if names is not None and name not in names:
            continue
        parameters = model.model_json_schema()
        parameters.pop("title", None)
        parameters.pop("description", None)
        for prop in parameters.get("properties", {}).values():
            prop.pop("title", None)
        schemas.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": " ".join((model.__doc__ or "").split()),
                    "parameters": parameters,
                },
            }
        )
    return schemas


def run_tool(name: str, arguments: str, context: TurnContext, offered: list[str]) -> ToolOutcome:
    """Run one offered tool call; every failure becomes a result the model can read."""
    if name not in offered:
        return ToolOutcome(False, f"Unknown tool {name!r}. Available: {', '.join(offered)}.")
    model, function = TOOLS[name]
    try:
        args = model.model_validate(json.loads(arguments or "{}"))
    except (json.JSONDecodeError, ValidationError) as error:
        return ToolOutcome(False, f"Invalid arguments for {name}: {str(error).splitlines()[0]}")
    return function(args, context)
