"""Questions in other languages find the shop's passages, and the index knows its models."""

from __future__ import annotations

import json

import pytest

from ingestion.sync import reindex_all, sync
from kb import index
from kb.embeddings import Embedder
from kb.index import IndexMismatch, KnowledgeBase
from kb.retrieval import Bm25, Retriever, tokens
from settings import Settings
from tests.conftest import MODELS_DIR, run_cli
from tests.test_ingest import FAQS, write_jsonl

MAIN = "local/all-MiniLM-L6-v2"
ACROSS = "local/use-multilingual-v3"


@pytest.fixture(scope="module")
def retriever(shop_dir) -> Retriever:
    return Retriever(Settings(data_dir=shop_dir, models_dir=MODELS_DIR))


@pytest.mark.parametrize(
    ("language", "question", "doc_id"),
    [
        ("de", "Wie lange dauert der Versand?", "faq-shipping-times"),
        ("zh", "运费是多少？", "faq-shipping-costs"),
        ("ja", "送料はいくらですか？", "faq-shipping-costs"),
        ("ar", "ما هي سياسة الإرجاع لديكم؟", "faq-return-window"),
        ("ko", "배송비는 얼마인가요?", "faq-shipping-costs"),
        ("th", "ค่าจัดส่งเท่าไหร่คะ", "faq-shipping-costs"),
        ("ru", "Сколько стоит доставка?", "faq-shipping-costs"),
        ("tr", "Kargo ücreti ne kadar?", "faq-shipping-costs"),
    ],
)
def test_a_question_in_another_language_finds_the_english_faq(
    retriever, language, question, doc_id
):
    hits = retriever.search(question, k=3, language=language)
    assert hits[0].doc_id == doc_id, [hit.doc_id for hit in hits]


def test_an_english_question_is_still_searched_with_the_main_model(retriever):
    hits = retriever.search("How long does shipping take?", k=1, language="en")
    # The main model embedded this very question: its own vector is the one that answered.
    assert hits[0].doc_id == "faq-shipping-times" and hits[0].score > 0.99


def test_chinese_and_japanese_words_meet_in_the_lexical_index():
    faqs = ["运费是多少", "退货政策是什么", "送料はいくらですか", "返品はできますか"]
    bm25 = Bm25(faqs)
    assert int(bm25.scores("请问运费多少钱").argmax()) == 0
    assert int(bm25.scores("返品したいです").argmax()) == 3
    assert tokens("abc订单") == ["abc", "订单"]


@pytest.mark.slow  # re-embeds with a second model: make test-slow
def test_an_index_refuses_another_model_until_it_is_reindexed(tmp_path, monkeypatch):
    faqs = write_jsonl(tmp_path / "faqs.jsonl", FAQS)
    monkeypatch.setenv("SUPPORT_CROSSLINGUAL_EMBEDDING_MODEL", "")
    assert run_cli("ingest", str(faqs)).returncode == 0

    # Turning the cross-lingual model on needs its vectors: said, not silently missing.
    monkeypatch.delenv("SUPPORT_CROSSLINGUAL_EMBEDDING_MODEL")
    refused = run_cli("kb", "search", "Kann ich mit PayPal bezahlen?")
    assert refused.returncode == 2
    assert "no vectors from local/use-multilingual-v3" in refused.stderr
    assert "support-agent ingest --reindex" in refused.stderr
    assert run_cli("ingest", str(faqs)).returncode == 2  # nor does a sync mix models

    done = run_cli("ingest", "--reindex")
    assert done.returncode == 0, done.stderr
    assert "re-indexed 6 chunks" in done.stdout
    found = run_cli("kb", "search", "Kann ich mit PayPal bezahlen?", "--json", "--k", "1")
    assert json.loads(found.stdout)[0]["doc_id"] == "faq-b"

    monkeypatch.setenv("SUPPORT_EMBEDDING_MODEL", ACROSS)
    other = run_cli("kb", "search", "paypal")
    assert other.returncode == 2
    assert f"indexed with {MAIN} but the embedding model is {ACROSS}" in other.stderr
    assert run_cli("ingest", "--reindex").returncode == 0
    found = run_cli("kb", "search", "paying with paypal", "--json", "--k", "1")
    assert json.loads(found.stdout)[0]["doc_id"] == "faq-b"


class DiesMidway(Embedder):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.batches = 0

    def embed(self, texts, batch_size=64):
        self.batches += 1
        if self.batches > 1:
            raise RuntimeError("killed")
        return super().embed(texts, batch_size)


def test_an_interrupted_reindex_leaves_the_old_index_answering(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR)
    sync([write_jsonl(tmp_path / "faqs.jsonl", FAQS)], settings)
    monkeypatch.setattr(index, "_BATCH", 2)
    kb = KnowledgeBase(settings)
    with pytest.raises(RuntimeError, match="killed"):
        kb.reindex({MAIN: DiesMidway(MAIN), ACROSS: DiesMidway(ACROSS)})

    assert Retriever(settings).search("paypal", k=1)[0].doc_id == "faq-b"
    chunks, _ = reindex_all(settings, progress=False)
    assert chunks == 6
    names = {collection.name for collection in KnowledgeBase(settings).client.list_collections()}
    assert names == {"kb_articles", "kb_tickets", "kb_articles_xl", "kb_tickets_xl"}
    hits = Retriever(settings).search("¿Puedo pagar con PayPal?", k=1, language="es")
    assert hits[0].doc_id == "faq-b"


def test_a_sync_with_another_model_than_the_index_is_refused(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR)
    faqs = write_jsonl(tmp_path / "faqs.jsonl", FAQS)
    sync([faqs], settings)
    with pytest.raises(IndexMismatch, match="--reindex"):
        sync([faqs], settings, embedder=Embedder(ACROSS))


def test_a_reindex_stopped_in_the_middle_of_the_swap_is_said_and_finished_next_time(
    tmp_path, monkeypatch
):
    settings = Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR)
    sync([write_jsonl(tmp_path / "faqs.jsonl", FAQS)], settings)
    retriever = Retriever(settings)  # a running server's, holding the old collections
    assert retriever.search("paypal", k=1)[0].doc_id == "faq-b"
    kb = KnowledgeBase(settings)
    real_delete, deleted = kb.client.delete_collection, []

    def dies_after_one(name):
        if deleted:
            raise RuntimeError("killed")
        deleted.append(name)
        real_delete(name)

    monkeypatch.setattr(kb.client, "delete_collection", dies_after_one)
    with pytest.raises(RuntimeError, match="killed"):
        kb.reindex({MAIN: Embedder(MAIN), ACROSS: Embedder(ACROSS)})
    monkeypatch.undo()

    reindex_all(settings, progress=False)
    # The running server's retriever opens the new collections when the index changed.
    assert retriever.search("paypal", k=1)[0].doc_id == "faq-b"
    assert retriever.search("Kann ich mit PayPal zahlen?", k=1, language="de")[0].doc_id == "faq-b"


def test_a_german_shop_searches_english_questions_across_languages(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, shop_language="de")
    german = [
        {"id": "faq-paypal", "question": "Kann ich mit PayPal bezahlen?", "answer": "Ja."},
        {"id": "faq-island", "question": "Liefert ihr nach Island?", "answer": "Ja, mit DHL."},
        {"id": "faq-gutschein", "question": "Verfallen Gutscheine?", "answer": "Nein."},
    ]
    sync([write_jsonl(tmp_path / "faqs.jsonl", german)], settings)
    hits = Retriever(settings).search("Do you ship to Iceland?", k=1, language="en")
    assert hits[0].doc_id == "faq-island"


def test_doctor_says_when_the_index_needs_a_reindex(tmp_path, monkeypatch):
    faqs = write_jsonl(tmp_path / "faqs.jsonl", FAQS)
    monkeypatch.setenv("SUPPORT_CROSSLINGUAL_EMBEDDING_MODEL", "")
    assert run_cli("ingest", str(faqs)).returncode == 0
    monkeypatch.delenv("SUPPORT_CROSSLINGUAL_EMBEDDING_MODEL")
    checks = json.loads(run_cli("doctor", "--json").stdout)["checks"]
    chroma = next(check for check in checks if check["name"] == "chroma")
    assert not chroma["ok"] and "ingest --reindex" in chroma["detail"]


@pytest.mark.slow  # re-embeds with a second model: make test-slow
def test_the_demo_shop_indexed_by_an_older_version_is_embedded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORT_CROSSLINGUAL_EMBEDDING_MODEL", "")
    assert run_cli("demo", "--no-serve").returncode == 0
    monkeypatch.delenv("SUPPORT_CROSSLINGUAL_EMBEDDING_MODEL")
    again = run_cli("demo", "--no-serve")
    assert again.returncode == 0, again.stderr
    found = run_cli("kb", "search", "Wie viel kostet der Versand?", "--json", "--k", "1")
    assert json.loads(found.stdout)[0]["doc_id"] == "faq-shipping-costs"
