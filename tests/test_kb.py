"""The knowledge base on the sample shop: retrieval quality, redaction, untrusted text."""

from __future__ import annotations

import json
import re

import pytest

from evals.datasets import load_suite
from kb.index import ARTICLES, TICKETS, KnowledgeBase
from kb.retrieval import Retriever
from settings import Settings
from tests.conftest import MODELS_DIR, SAMPLE_SHOP, run_cli

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(
    r"(?:\+\d{1,3}[\s-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}|\+\d{2} \d{2,4} \d{3,4} ?\d{3,4}"
)
CARD = re.compile(r"\b(?:\d{4}[ -]?){3}\d{1,4}\b|\b3[47]\d{13}\b")


@pytest.fixture(scope="module")
def shop_settings(shop_dir) -> Settings:
    return Settings(data_dir=shop_dir, models_dir=MODELS_DIR)


@pytest.fixture(scope="module")
def retriever(shop_settings) -> Retriever:
    return Retriever(shop_settings)


def _retrieval_metrics(retriever: Retriever) -> dict:
    # The written cases; their translations into other languages are measured by language
    # in the eval report.
    cases = [case for case in load_suite("retrieval") if case.translation_of is None]
    hit1 = hit5 = reciprocal = 0.0
    for case in cases:
        found = [hit.doc_id for hit in retriever.search(case.question, 5, language=case.language)]
        ranks = [rank for rank, doc in enumerate(found) if doc in case.reference_doc_ids]
        if ranks:
            hit5 += 1
            hit1 += ranks[0] == 0
            reciprocal += 1 / (ranks[0] + 1)
    n = len(cases)
    return {"n": n, "hit@1": hit1 / n, "hit@5": hit5 / n, "mrr": reciprocal / n}


def test_paraphrased_questions_find_their_faq(retriever):
    metrics = _retrieval_metrics(retriever)
    print(f"\nretrieval on the sample shop: {metrics}")
    assert metrics["n"] >= 60
    assert metrics["hit@1"] >= 0.65
    assert metrics["hit@5"] >= 0.90
    assert metrics["mrr"] >= 0.75


def test_hits_carry_what_a_citation_needs(retriever):
    (hit, *_) = retriever.search("What is your return policy?", k=3)
    assert hit.doc_id == "faq-return-window"
    assert hit.url == "https://kettleandcrane.example/help/return-window"
    assert hit.kind == "faq" and hit.language == "en" and hit.updated_at.startswith("2026-")
    assert "30 days" in hit.text


def test_score_separates_answerable_from_off_topic(retriever):
    on_topic = retriever.search("how much is shipping to canada", k=1)[0].score
    off_topic = retriever.search("what is the capital of mongolia", k=1)[0].score
    assert on_topic > off_topic + 0.2


def test_faqs_stay_whole_and_articles_split_on_headings(shop_settings):
    kb = KnowledgeBase(shop_settings)
    docs = kb.indexed_documents()
    # The whole FAQ, and its question alone as a second way in (showing the whole FAQ).
    assert docs["faq-return-window"].chunk_ids == {"faq-return-window#0", "faq-return-window#q"}
    got = kb.collection(ARTICLES).get(ids=["faq-return-window#q"], include=["documents"])
    assert got["documents"][0].startswith("Q: What is your return policy?\nA: ")
    guide = docs["art-heron-kettles-guide"]
    assert guide.n_chunks >= 3
    _, texts, metas = kb.all_chunks(ARTICLES)
    titles = [m["title"] for m in metas if m["doc_id"] == "art-heron-kettles-guide"]
    assert any("›" in title for title in titles)
    assert max(len(text.split()) for text in texts) <= 200


def test_only_solved_tickets_with_a_reply_are_indexed(shop_settings):
    raw = [json.loads(line) for line in (SAMPLE_SHOP / "tickets.jsonl").read_text().splitlines()]
    teaching = {
        t["id"]
        for t in raw
        if t["status"] == "solved" and any(m["author"] == "agent" for m in t["messages"])
    }
    indexed = {
        doc_id
        for doc_id, doc in KnowledgeBase(shop_settings).indexed_documents().items()
        if doc.collection == TICKETS
    }
    assert indexed == teaching


def test_no_email_phone_or_card_from_the_tickets_is_in_the_index(shop_settings, retriever):
    raw = (SAMPLE_SHOP / "tickets.jsonl").read_text()
    secrets = set()
    for ticket in map(json.loads, raw.splitlines()):
        for message in ticket["messages"]:
            for pattern in (EMAIL, PHONE, CARD):
                secrets.update(m.strip() for m in pattern.findall(message["body"]))
    secrets -= {"help@kettleandcrane.example", "wholesale@kettleandcrane.example"}
    assert len(secrets) >= 40
    kb = KnowledgeBase(shop_settings)
    _, texts, metas = kb.all_chunks(TICKETS)
    stored = "\n".join(texts) + json.dumps(metas)
    leaked = sorted(secret for secret in secrets if secret in stored)
    assert leaked == []
    assert "[EMAIL]" in stored and "[PHONE]" in stored and "[CARD]" in stored
    for secret in sorted(secrets)[:10]:
        for hit in retriever.search(secret, k=5):
            assert secret not in hit.text and secret not in hit.title


def test_planted_instructions_are_flagged_as_untrusted(shop_settings):
    _, _, metas = KnowledgeBase(shop_settings).all_chunks(TICKETS)
    flagged = {m["doc_id"] for m in metas if m["untrusted"]}
    raw = [json.loads(line) for line in (SAMPLE_SHOP / "tickets.jsonl").read_text().splitlines()]
    planted = {t["id"] for t in raw if "injection-test" in t["tags"] and t["status"] == "solved"}
    assert planted and planted <= flagged
    _, _, article_metas = KnowledgeBase(shop_settings).all_chunks(ARTICLES)
    assert not any(m["untrusted"] for m in article_metas)


def test_kb_search_cli_single_query_and_query_file(shop_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(shop_settings.data_dir))
    result = run_cli("kb", "search", "can I pay in installments", "--k", "3", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 3
    assert set(hits[0]) >= {"doc_id", "chunk_id", "title", "kind", "score", "text", "url"}
    assert hits[0]["score"] >= hits[-1]["score"] or hits[0]["doc_id"].startswith("faq")

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"id": "q1", "query": "reset my password"}\nnot json\n{"id": "q2", "query": "E1 error"}\n'
    )
    result = run_cli("kb", "search", "--queries", str(queries), "--k", "2")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2"]
    assert all(len(line["hits"]) == 2 for line in lines)
    assert f"{queries}:2" in result.stderr


def test_concurrent_queries_each_get_their_own_embedding(retriever):
    """Queries of concurrent turns are encoded together, and each gets its own vector back."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    embedder = retriever.embedder
    texts = [f"question number {n} about {word}" for n, word in enumerate("abcdefghijkl")]
    alone = {text: embedder.embed([text])[0] for text in texts}
    with ThreadPoolExecutor(len(texts)) as pool:
        together = dict(zip(texts, pool.map(lambda t: embedder.embed([t])[0], texts), strict=True))
    for text in texts:
        assert np.allclose(alone[text], together[text], atol=1e-4), text
