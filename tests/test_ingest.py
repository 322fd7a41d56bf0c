"""Ingestion: every format, incremental sync, bad input, interruption, both Chroma modes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingestion.sync import sync
from kb.embeddings import Embedder
from kb.index import KnowledgeBase
from kb.retrieval import Retriever
from settings import Settings
from tests.conftest import run_cli

FAQS = [
    {"id": "faq-a", "question": "Do you ship to Iceland?", "answer": "Yes, DHL, 5-10 days."},
    {"id": "faq-b", "question": "Can I pay with PayPal?", "answer": "Yes, PayPal works."},
    {"id": "faq-c", "question": "Do gift cards expire?", "answer": "No, they never expire."},
]
GUIDE = "# Descaling the kettle\n\n## Vinegar\n\nMix vinegar and water 1:1.\n\n## Rinse\n\nRinse."


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture
def source(tmp_path) -> Path:
    folder = tmp_path / "help"
    (folder / "guides").mkdir(parents=True)
    write_jsonl(folder / "faqs.jsonl", FAQS)
    (folder / "guides" / "descaling.md").write_text(GUIDE)
    (folder / "guides" / "filters.md").write_text("# Filters\n\nUse size 02 paper filters.")
    (folder / "qa.csv").write_text("question,answer\nIs the mug microwave safe?,Yes it is.\n")
    return folder


def texts_of(settings: Settings) -> dict[str, str]:
    kb = KnowledgeBase(settings)
    ids, texts, metas = kb.all_chunks("kb_articles")
    return {chunk_id: text for chunk_id, text in zip(ids, texts, strict=True)}


def test_sync_is_incremental_and_idempotent(settings, source, embedder):
    first = sync([source], settings, embedder=embedder)
    assert (first.added, first.updated, first.deleted, first.problems) == (6, 0, 0, [])
    assert first.chunks >= 7

    second = sync([source], settings, embedder=embedder)
    assert (second.added, second.updated, second.unchanged, second.chunks) == (0, 0, 6, 0)

    changed = [*FAQS[:2], {**FAQS[2], "answer": "Gift cards last 5 years now."}]
    write_jsonl(source / "faqs.jsonl", changed)
    third = sync([source], settings, embedder=embedder)
    # The changed FAQ is embedded again whole and as its question.
    assert (third.updated, third.unchanged, third.chunks) == (1, 5, 2)
    stored = texts_of(settings)
    assert "last 5 years" in stored["faq-c#0"]
    assert not any("never expire" in text for text in stored.values())

    (source / "guides" / "descaling.md").unlink()
    write_jsonl(source / "faqs.jsonl", changed[:2])
    fourth = sync([source], settings, embedder=embedder)
    assert (fourth.deleted, fourth.chunks) == (2, 0)
    remaining = {chunk_id.split("#")[0] for chunk_id in texts_of(settings)}
    assert remaining == {"faq-a", "faq-b", "guides/filters", "qa:2"}


def test_an_article_that_shrinks_loses_its_old_sections(settings, source, embedder):
    sync([source], settings, embedder=embedder)
    assert sum(c.startswith("guides/descaling#") for c in texts_of(settings)) >= 2
    (source / "guides" / "descaling.md").write_text("# Descaling the kettle\n\nUse citric acid.")
    sync([source], settings, embedder=embedder)
    sections = [c for c in texts_of(settings) if c.startswith("guides/descaling#")]
    assert sections == ["guides/descaling#0"]


class FailingEmbedder(Embedder):
    """The real model, with the process 'killed' after the first batch."""

    def __init__(self, batches_before_failure: int) -> None:
        super().__init__("local/all-MiniLM-L6-v2")
        self.left = batches_before_failure

    def embed(self, texts, batch_size=64):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().embed(texts, batch_size)


def test_an_interrupted_run_loses_nothing_and_the_next_run_finishes(settings, tmp_path, embedder):
    many = [
        {"id": f"faq-{n}", "question": f"Question {n}?", "answer": f"Answer {n}."}
        for n in range(300)
    ]
    source = write_jsonl(tmp_path / "many.jsonl", many)
    sync([source], settings, embedder=embedder)
    updated = [{**faq, "answer": faq["answer"] + " Updated."} for faq in many]
    write_jsonl(source, updated)

    with pytest.raises(KeyboardInterrupt):
        sync([source], settings, embedder=FailingEmbedder(batches_before_failure=1))
    documents = KnowledgeBase(settings).indexed_documents()
    assert len(documents) == 300  # every document is still findable, old or new

    report = sync([source], settings, embedder=embedder)
    # The first batch held both chunks (whole FAQ, question entry) of 128 FAQs.
    assert report.updated == 300 - 128 and report.unchanged == 128
    stored = texts_of(settings)
    assert len(stored) == 2 * 300 and all(text.endswith("Updated.") for text in stored.values())
    assert sync([source], settings, embedder=embedder).chunks == 0


def test_bad_input_is_reported_by_file_and_line_and_the_rest_loads(settings, tmp_path, embedder):
    folder = tmp_path / "messy"
    folder.mkdir()
    (folder / "faqs.jsonl").write_text(
        json.dumps(FAQS[0])
        + "\n"
        + '{"id": "broken", "question": \n'
        + json.dumps({"id": "no-answer", "question": "Why?"})
        + "\n"
        + json.dumps({"id": "empty", "question": "Why?", "answer": "   "})
        + "\n"
        + "[1, 2]\n"
        + json.dumps(FAQS[1])
        + "\n"
    )
    (folder / "latin1.md").write_bytes("# Café\n\nCafé crème".encode("latin-1"))
    (folder / "junk.md").write_bytes(bytes(range(256)) * 40)
    with (folder / "huge.jsonl").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    (folder / "bad.csv").write_text("q,a\nwhat,that\n")
    (folder / "good.md").write_text("# Good\n\nStill loads.")

    report = sync([folder], settings, embedder=embedder)
    problems = "\n".join(report.problems)
    assert f"{folder / 'faqs.jsonl'}:2: malformed JSON" in problems
    assert f"{folder / 'faqs.jsonl'}:3: not a valid faq: answer: Field required" in problems
    assert f"{folder / 'faqs.jsonl'}:4: not a valid faq: answer" in problems
    assert f"{folder / 'faqs.jsonl'}:5: expected a JSON object" in problems
    assert f"{folder / 'latin1.md'}: not UTF-8 text" in problems
    assert f"{folder / 'junk.md'}: binary data" in problems
    assert f"{folder / 'huge.jsonl'}: file is 52.4 MB, over the 20 MB limit" in problems
    assert f"{folder / 'bad.csv'}:1: CSV needs a header with question and answer" in problems
    assert len(report.problems) == 8
    assert report.added == 3  # faq-a, faq-b, good
    assert all("\n" not in problem for problem in report.problems)


def test_a_failed_run_never_deletes_what_was_indexed(settings, source, embedder):
    sync([source], settings, embedder=embedder)
    before = set(texts_of(settings))
    (source / "faqs.jsonl").write_text(json.dumps(FAQS[0]) + "\n{oops\n")
    (source / "guides" / "descaling.md").write_bytes(b"\x00\x01binary")
    report = sync([source], settings, embedder=embedder)
    assert report.deleted == 0 and len(report.problems) == 2
    assert set(texts_of(settings)) == before


def test_ingest_cli_prints_the_json_summary_and_exits_1_on_problems(source, tmp_path):
    result = run_cli("ingest", str(source), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= {"added", "updated", "unchanged", "deleted", "chunks", "seconds"}
    assert summary["added"] == 6

    (tmp_path / "broken.jsonl").write_text("{nope\n")
    result = run_cli("ingest", str(tmp_path / "broken.jsonl"), "--kind", "faq")
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"skipped: {tmp_path / 'broken.jsonl'}:1: malformed JSON "
        "(Expecting property name enclosed in double quotes at column 2)"
    )


def test_ticket_kind_rejects_articles(settings, tmp_path, embedder):
    path = write_jsonl(tmp_path / "tickets.jsonl", [FAQS[0]])
    report = sync([path], settings, kind="ticket", embedder=embedder)
    assert report.added == 0
    assert "not a valid ticket" in report.problems[0]


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text, built by hand with a correct xref table."""
    stream = f"BT /F1 14 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<</Type /Catalog /Pages 2 0 R>>",
        b"<</Type /Pages /Kids [3 0 R] /Count 1>>",
        b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources <</Font <</F1 5 0 R>>>>>>",
        b"<</Length %d>>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<</Type /Font /Subtype /Type1 /BaseFont /Helvetica>>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d /Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def test_html_and_pdf_load_through_llama_index_readers(settings, tmp_path, embedder):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "returns.html").write_text(
        "<html><head><title>Returns</title></head><body><h1>Returns</h1>"
        "<p>Send items back within 30 days for a refund.</p><script>var x=1;</script></body></html>"
    )
    (folder / "warranty.pdf").write_bytes(
        minimal_pdf("Warranty: grinders are covered for two years from delivery.")
    )
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    report = sync([folder], settings, embedder=embedder)
    assert report.added == 2
    assert report.problems == [
        f"{folder / 'broken.pdf'}: cannot read pdf: PdfStreamError: Stream has ended unexpectedly"
    ]
    retriever = Retriever(settings, embedder=embedder)
    assert retriever.search("how long is the warranty on grinders", k=1)[0].doc_id == "warranty"
    assert retriever.search("return window for a refund", k=1)[0].doc_id == "returns"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    process = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


def test_chroma_server_mode_end_to_end(source, chroma_server, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPORT_CHROMA_URL", chroma_server)
    result = run_cli("ingest", str(source), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 6
    assert not (tmp_path / "data" / "chroma").exists()  # nothing went to the embedded store

    result = run_cli("kb", "search", "paying with paypal", "--json", "--k", "1")
    assert json.loads(result.stdout)[0]["doc_id"] == "faq-b"
    again = json.loads(run_cli("ingest", str(source), "--json").stdout)
    assert again["unchanged"] == 6 and again["chunks"] == 0

    # The cross-lingual twins live on the server too, and a re-index swaps them there.
    assert run_cli("ingest", "--reindex").returncode == 0
    result = run_cli("kb", "search", "Kann ich mit PayPal bezahlen?", "--json", "--k", "1")
    assert json.loads(result.stdout)[0]["doc_id"] == "faq-b"
