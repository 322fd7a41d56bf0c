"""End to end with the real local model on the sample shop (0.5B in CI, any via env)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from desk import Desk
from desk.events import turn_key
from store.models import Channel, Order
from tests.conftest import TEST_LLM, run_cli, shop_settings

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def agent(shop_dir) -> Desk:
    return Desk(shop_settings(shop_dir, llm_model=TEST_LLM))


def _show(name, draft):
    calls = [(c.name, c.arguments, c.ok) for c in draft.tool_calls]
    print(
        f"\n{name}: {draft.decision} confidence={draft.confidence} calls={calls} "
        f"citations={[c.doc_id for c in draft.citations]} reasons={draft.reasons} "
        f"latency_ms={draft.latency_ms.total}\n  reply: {draft.reply!r}"
    )


def test_faq_question_is_answered_with_a_citation(agent):
    draft = agent.ask("How long do I have to return an item I bought?")
    _show("faq", draft)
    assert draft.reply
    cited = {c.doc_id for c in draft.citations}
    assert cited & {"faq-return-window", "art-returns-and-refunds-policy", "faq-one-brew-trial"}
    assert "30" in draft.reply


def test_order_status_question_calls_lookup_order_with_the_right_id(agent):
    with agent.sessions() as session:
        order = session.scalars(select(Order).where(Order.status == "shipped")).first()
        order_id, email = order.id, order.customer.email
    draft = agent.ask(f"Hi, where is my order {order_id}? Has it shipped?", email=email)
    _show("order", draft)
    lookups = [c for c in draft.tool_calls if c.name == "lookup_order"]
    assert lookups and lookups[0].arguments.get("order_id") == order_id
    assert lookups[0].ok


def test_refund_demand_is_routed_to_review(agent):
    draft = agent.ask("The grinder is rubbish. I demand a full refund right now.")
    _show("refund", draft)
    assert draft.decision == "review"
    assert any("refund" in reason.text for reason in draft.reasons)


def test_off_topic_question_is_not_auto_sent(agent):
    draft = agent.ask("Who won the football world cup in 1998?")
    _show("off-topic", draft)
    assert draft.decision == "review"


def test_ask_cli_prints_the_draft_json(shop_dir, monkeypatch):
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(shop_dir))
    result = run_cli("ask", "Do you ship to Canada?", "--json")
    assert result.returncode == 0, result.stderr
    draft = json.loads(result.stdout)
    assert set(draft) >= {
        "decision",
        "reply",
        "confidence",
        "reasons",
        "citations",
        "tool_calls",
        "priority",
        "language",
        "usage",
        "latency_ms",
    }
    assert draft["usage"]["prompt_tokens"] > 0
    assert set(draft["latency_ms"]) == {"retrieval", "llm", "total"}


def test_a_reply_is_streamed_word_by_word_only_when_the_gate_sends_it(agent):
    conversation, _ = agent.start_conversation()
    question = "Do you ship to Canada, and how long does it take?"
    receipt = agent.receive(conversation, question, channel=Channel.WIDGET, enqueue=False)
    draft = agent.draft(receipt.turn_id, stream=True)
    _show("stream", draft)
    events = agent.events.read(turn_key(receipt.turn_id), "0", timeout=0)
    streamed = "".join(item["text"] for _, item in events if item["kind"] == "token")
    assert streamed == (draft.reply if draft.decision == "send" else "")
    assert draft.usage.completion_tokens > 0
