"""Retrieval levers kept because the public test shops measured them (docs/benchmarks.md),
each shown here on a small knowledge base where a naive search gets it wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.retrieval_shops import NaiveDense
from ingestion.sync import sync
from kb.retrieval import Retriever
from settings import Settings
from tests.conftest import MODELS_DIR

FAQS = [
    {
        "id": "faq-close",
        "question": "How do I close my account?",
        "answer": (
            "Write to us from the address on the account. Before we close it, download your "
            "invoices from Billing, export your projects as ZIP files and cancel any renewal, "
            "because the storage, the invoices and the project history are erased thirty days "
            "later and cannot be restored by support."
        ),
    },
    {
        "id": "faq-delete-project",
        "question": "How do I permanently remove a project?",
        "answer": "Open the project, then Settings, then Delete for good.",
    },
    {
        "id": "faq-refund",
        "question": "What is your refund policy?",
        "answer": "Unused items can be returned within 30 days for a full refund to the card.",
    },
    {
        "id": "faq-track",
        "question": "How do I track my order?",
        "answer": "Use the tracking link in your shipping email.",
    },
]
# Shares every word of "Can I get my money back?" and none of its meaning.
BIKES = {
    "id": "art-bikes",
    "title": "Bike storage",
    "body": (
        "Get your bike back from storage at the back door. Can I leave my bike? Yes: bikes stay "
        "free, and we get them back to you when your money order clears."
    ),
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory) -> Retriever:
    folder = tmp_path_factory.mktemp("levers")
    (folder / "faqs.jsonl").write_text("".join(json.dumps(faq) + "\n" for faq in FAQS))
    (folder / "articles.jsonl").write_text(json.dumps(BIKES) + "\n")
    settings = Settings(data_dir=folder / "data", models_dir=MODELS_DIR)
    report = sync([folder / "faqs.jsonl", folder / "articles.jsonl"], settings, progress=False)
    assert not report.problems
    return Retriever(settings)


def test_an_faq_with_a_long_answer_is_found_by_a_rephrasing_of_its_question(retriever):
    question = "I want to get rid of my profile for good, what are the steps?"
    # Embedded whole, the answer's invoices and projects pull the FAQ away from the question.
    assert NaiveDense(retriever).rank([question])[0][0] == "faq-delete-project"
    (hit, *_) = retriever.search(question, k=3)
    assert hit.doc_id == "faq-close"
    assert "erased thirty days later" in hit.text, "the customer's answer is in the hit"


def test_a_document_sharing_only_words_does_not_outrank_the_meaning(retriever):
    hits = retriever.search("Can I get my money back?", k=3)
    assert [hit.doc_id for hit in hits][:2] == ["faq-refund", "art-bikes"]


def test_the_naive_baseline_ranks_whole_documents_once_each(retriever):
    ranked = NaiveDense(retriever).rank(["How do I track my order?"])[0]
    assert ranked[0] == "faq-track"
    assert sorted(ranked) == sorted({*ranked}) and len(ranked) == 5


def test_a_shop_without_its_snapshot_is_skipped_with_the_reason(tmp_path):
    from evals.retrieval_shops import measure_all

    settings = Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR)
    results, skipped = measure_all(settings, snapshots=Path(tmp_path), shops=["webapps"])
    assert results == []
    assert skipped == [f"webapps: no snapshot of ML-Recipes/BERT-FAQ in {tmp_path}"]
