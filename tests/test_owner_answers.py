"""Which messages get an answer without a model: pure rules, no model or store."""

from __future__ import annotations

import pytest

from agent.owner_answers import owner_answer, status_question
from kb.retrieval import Hit


def hit(doc_id: str, score: float, *, kind="faq", by_question=True, language="en") -> Hit:
    return Hit(
        doc_id=doc_id,
        chunk_id=f"{doc_id}#q",
        title="What is your return policy?",
        kind=kind,
        score=score,
        text="Q: What is your return policy?\nA: Thirty days, unused.",
        language=language,
        by_question=by_question,
    )


def test_a_close_faq_clearly_ahead_is_answered_in_the_owners_words():
    found = owner_answer([hit("faq-returns", 0.91), hit("faq-rma", 0.6)], language="en")
    assert found is not None and found.answer == "Thirty days, unused."


@pytest.mark.parametrize(
    ("hits", "language", "why"),
    [
        ([hit("faq-returns", 0.91), hit("faq-rma", 0.8)], "en", "a second FAQ is too close"),
        ([hit("faq-returns", 0.7), hit("faq-rma", 0.3)], "en", "not close enough"),
        ([hit("faq-returns", 0.9, by_question=False), hit("x", 0.3)], "en", "matched the answer"),
        ([hit("art-returns", 0.9, kind="article"), hit("x", 0.3)], "en", "not an FAQ"),
        ([hit("faq-returns", 0.95), hit("x", 0.3)], "de", "another language"),
        ([], "en", "nothing found"),
    ],
)
def test_anything_less_is_left_to_the_model(hits, language, why):
    assert owner_answer(hits, language=language) is None, why


@pytest.mark.parametrize(
    ("message", "order"),
    [
        ("Where is my order KC-10042?", "KC-10042"),
        ("hi! where's kc-10042? thanks", "KC-10042"),
        ("status of KC-10042 please. dana@example.com 97201", "KC-10042"),
        ("Where is my order KC-10042? Can I still add a gift note?", None),
        ("Where are KC-10042 and KC-10043?", None),
        ("Can I cancel KC-10042?", None),
        ("Where is my order?", None),
    ],
)
def test_only_a_message_that_just_asks_where_one_order_is_gets_the_template(message, order):
    assert status_question(message) == order
