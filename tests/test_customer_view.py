"""What a customer sees of a reply: help-centre sources only, never another customer's ticket."""

from __future__ import annotations

from desk import Desk
from store.models import Draft
from tests import scripted_llm
from tests.conftest import shop_settings
from tests.scripted_llm import script
from tests.web_helpers import RETURN_ANSWER

TICKET_CITATION = {
    "doc_id": "T-0042",
    "title": "Kettle for Dana Whitfield, order KC-10042",
    "url": None,
    "snippet": "Customer: my kettle shows E2 …",
    "kind": "ticket",
}


def test_citations_of_past_tickets_never_reach_the_customer(web_data_dir, web_retriever):
    scripted_llm.register()
    settings = shop_settings(web_data_dir, llm_model="scripted/view", auto_send_threshold=0.6)
    desk = Desk(settings, retriever=web_retriever)
    script("scripted/view", [RETURN_ANSWER, "YES"])
    draft = desk.ask("How long do I have to send back something I bought?")
    assert draft.decision == "send"
    assert [c.kind for c in draft.citations] == ["faq"]
    with desk.sessions.begin() as session:  # as if the reply had also drawn on a past ticket
        row = session.get(Draft, draft.draft_id)
        row.citations = [*row.citations, TICKET_CITATION]
        turn_id = row.turn_id

    shown = desk.transcript(draft.conversation_id).messages[-1].citations
    assert [c["doc_id"] for c in shown] == ["faq-return-window"]
    outcome = desk.outcome(turn_id)
    assert [c["doc_id"] for c in outcome.reply.citations] == ["faq-return-window"]
