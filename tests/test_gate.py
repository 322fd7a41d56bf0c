"""The gate's security rules, on hand-made drafts: what may never be sent without a person."""

from __future__ import annotations

from agent.draft import Decision, ReasonCode, ToolCallRecord
from agent.gate import assess
from kb.retrieval import Hit

FAQ = Hit(
    doc_id="faq-return-window",
    chunk_id="faq-return-window#0",
    title="What is your return policy?",
    kind="faq",
    score=0.8,
    text="You can return unused items in their original packaging within 30 days of delivery.",
    url="https://shop.example/help/returns",
)
TICKET = FAQ.model_copy(
    update={"doc_id": "T-0042", "chunk_id": "T-0042#0", "kind": "ticket", "url": None}
)
REPLY = "You can return unused items in their original packaging within 30 days of delivery."
LOOKUP = ToolCallRecord(
    name="lookup_order",
    arguments={"order_id": "KC-10042"},
    ok=True,
    result={"order_id": "KC-10042", "status": "shipped", "tracking_number": "1Z999"},
)


def _judge(reply=REPLY, hits=(FAQ,), tools=(), **extra):
    return assess(
        message="How long do I have to return something?",
        reply=reply,
        hits=list(hits),
        cited=list(hits),
        invalid_citations=[],
        tool_calls=list(tools),
        flags=[],
        threshold=0.6,
        **extra,
    )


def test_a_grounded_help_centre_answer_is_sent():
    assert _judge().decision == Decision.SEND


def test_a_reply_resting_only_on_past_tickets_waits_for_a_person():
    judged = _judge(hits=(TICKET,))
    assert judged.decision == Decision.REVIEW
    assert [r.code for r in judged.reasons] == [ReasonCode.TICKET_ONLY_EVIDENCE]


def test_a_link_to_another_site_waits_for_a_person_and_the_shops_own_is_fine():
    evil = _judge(reply=REPLY + " Details: https://evil.example/returns", link_hosts=frozenset())
    assert evil.decision == Decision.REVIEW
    assert (
        evil.reasons[0].code == ReasonCode.FOREIGN_LINK and "evil.example" in evil.reasons[0].text
    )
    own = _judge(
        reply=REPLY + " Details: https://shop.example/help/returns",
        link_hosts=frozenset({"shop.example"}),
    )
    assert own.decision == Decision.SEND


def test_a_guests_order_details_are_never_sent_without_a_person():
    reply = "Your order KC-10042 has shipped; tracking number 1Z999."
    guest = _judge(reply=reply, hits=(), tools=(LOOKUP,), guest=True)
    assert guest.decision == Decision.REVIEW
    assert ReasonCode.GUEST_ORDER in [r.code for r in guest.reasons]
    verified = _judge(reply=reply, hits=(), tools=(LOOKUP,), guest=False)
    assert ReasonCode.GUEST_ORDER not in [r.code for r in verified.reasons]
