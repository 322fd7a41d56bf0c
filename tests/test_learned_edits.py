"""An operator's edited answer is learned without keeping the customer's personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ingestion.feedback import learn_from_edit
from ingestion.records import Ticket, TicketMessage, TicketStatus
from kb.index import TICKETS, KnowledgeBase
from kb.retrieval import Retriever
from settings import Settings

WHEN = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
QUESTION = (
    "Hi, I'm Dana Whitfield. My parcel for order KC-10042 never arrived at "
    "1432 SE Belmont St, Portland, OR 97214. Tracking 1ZK7W3900164432474 says delivered. "
    "Call me on (503) 555-0147 or dana.whitfield@gmail.com"
)
ANSWER = (
    "Hi Dana, I'm sorry the parcel went missing. A replacement ships today by UPS, "
    "and you don't need to do anything else."
)
PERSONAL = [
    "Whitfield",
    "Dana",
    "KC-10042",
    "1432",
    "Belmont",
    "97214",
    "1ZK7W3900164432474",
    "555-0147",
    "dana.whitfield@gmail.com",
]


def _learned_chunk(settings: Settings, doc_id: str) -> tuple[str, dict]:
    ids, texts, metas = KnowledgeBase(settings).all_chunks(TICKETS)
    found = [(t, m) for t, m in zip(texts, metas, strict=True) if m["doc_id"] == doc_id]
    assert len(found) == 1
    return found[0]


def _leaks(text: str) -> list[str]:
    return [secret for secret in PERSONAL if secret in text]


def test_a_learned_edit_indexes_the_operators_answer_and_not_the_customers_message(
    settings, embedder
):
    report = learn_from_edit(settings, 7, QUESTION, ANSWER, WHEN, embedder=embedder)
    assert report.added == 1 and report.problems == []
    text, meta = _learned_chunk(settings, "approved-7")
    assert "A replacement ships today by UPS" in text
    assert "Customer:" not in text
    assert _leaks(text + json.dumps(meta)) == []
    # The question is kept only redacted, as the subject the answer is found by.
    assert meta["title"].startswith("Hi, I'm [NAME]. My parcel for order [ORDER] never arrived")


def test_the_learned_answer_is_still_found_by_what_the_customer_asked(settings, embedder):
    learn_from_edit(settings, 8, QUESTION, ANSWER, WHEN, embedder=embedder)
    hits = Retriever(settings, embedder=embedder).search(
        "my parcel never arrived but tracking says delivered", k=3, collections=(TICKETS,)
    )
    assert hits[0].doc_id == "approved-8"


def test_eval_candidates_and_the_learned_ticket_are_written_redacted(settings, embedder):
    learn_from_edit(settings, 9, QUESTION, ANSWER, WHEN, "en", embedder=embedder)
    folder = settings.data_dir / "learned"
    case = json.loads((folder / "eval_candidates.jsonl").read_text(encoding="utf-8"))
    assert _leaks(case["turns"][0]) == [] and _leaks(case["reference_answer"]) == []
    assert "[ORDER]" in case["turns"][0] and "[EMAIL]" in case["turns"][0]
    assert case["reference_answer"].startswith("Hi [NAME], I'm sorry the parcel went missing.")
    stored = (folder / "approved_answers.jsonl").read_text(encoding="utf-8")
    assert _leaks(stored) == []


def test_tickets_learned_before_this_change_lose_the_customers_message_at_the_next_edit(
    settings, embedder
):
    folder = settings.data_dir / "learned"
    folder.mkdir(parents=True)
    older = Ticket(
        id="approved-3",
        subject=QUESTION[:120],
        status=TicketStatus.SOLVED,
        created_at=WHEN,
        tags=["approved-edit"],
        messages=[
            TicketMessage(author="customer", body=QUESTION),
            TicketMessage(author="agent", body=ANSWER),
        ],
    )
    (folder / "approved_answers.jsonl").write_text(older.model_dump_json() + "\n")
    learn_from_edit(settings, 4, "Do you ship to Iceland?", "Yes, by DHL.", WHEN, embedder=embedder)
    stored = (folder / "approved_answers.jsonl").read_text(encoding="utf-8")
    assert _leaks(stored) == []
    assert '"author":"customer"' not in stored.replace(" ", "")
    text, meta = _learned_chunk(settings, "approved-3")
    assert "A replacement ships today" in text and _leaks(text + json.dumps(meta)) == []
