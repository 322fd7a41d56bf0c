"""Knowledge base: ingest throughput against the bare model, query latency against bare Chroma.

    .venv/bin/python bench/bench_kb.py [--sizes 1000 10000 100000] [--queries 200]

1. Ingest: the sample shop's help center and tickets, copied until there are ~2,000
   chunks, run through the whole pipeline (load, redact, chunk, embed with both models,
   upsert) into a fresh index; the floor is the two embedding models alone on the same
   chunk texts.
2. Query: at each index size, `Retriever.search` (embedding + dense + BM25 + fusion)
   against the floor of one query embedding plus one bare Chroma top-5 query, with the
   model and collection the question's language is searched with (English: the main
   model; others: the cross-lingual one). The index holds the real sample shop plus
   filler chunks (random unit vectors, text drawn from the shop's own vocabulary) so
   that sizes up to 100k build in minutes.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from evals.datasets import load_suite
from ingestion.chunking import chunk
from ingestion.loaders import load
from ingestion.sync import sync
from kb.embeddings import Embedder, crosslingual_embedder
from kb.index import ARTICLES, TICKETS, KnowledgeBase, twin
from kb.retrieval import Retriever, mark_changed
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHOP = [ROOT / "sample_shop" / name for name in ("faqs.jsonl", "articles.jsonl", "tickets.jsonl")]


def _copies(folder: Path, target_chunks: int) -> int:
    """Write copies of the shop's files with fresh ids until about `target_chunks`."""
    per_copy = sum(len(chunk(doc)) for doc in load(SHOP).documents)
    copies = max(1, round(target_chunks / per_copy))
    for copy in range(copies):
        for source in SHOP:
            lines = []
            for line in source.read_text().splitlines():
                record = json.loads(line)
                record["id"] = f"{record['id']}-c{copy}"
                lines.append(json.dumps(record))
            (folder / f"{source.stem}-{copy}.jsonl").write_text("\n".join(lines) + "\n")
    return copies


def bench_ingest(embedder: Embedder, target_chunks: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "src"
        folder.mkdir()
        _copies(folder, target_chunks)
        texts = [c.text for doc in load([folder]).documents for c in chunk(doc)]
        settings = Settings(data_dir=Path(tmp) / "data")
        models = [embedder, crosslingual_embedder(settings)]
        for model in models:
            model.embed(texts[:64])  # load the models outside both timings

        started = time.perf_counter()
        for model in models:
            model.embed(texts)
        raw = len(texts) / (time.perf_counter() - started)

        report = sync([folder], settings, embedder=embedder, progress=False)
        pipeline = report.chunks / report.seconds
        return {"chunks": report.chunks, "raw_per_s": raw, "pipeline_per_s": pipeline}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _fill(
    kb: KnowledgeBase, first: int, count: int, vocabulary: list[str], rng: random.Random
) -> None:
    def unit_vectors(seed: int, size: int, dimension: int) -> list[list[float]]:
        vectors = np.random.default_rng(seed).normal(size=(size, dimension)).astype(np.float32)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).tolist()

    for start in range(0, count, 2000):
        size = min(2000, count - start)
        ids = [f"filler-{first + start + n}#0" for n in range(size)]
        texts = [" ".join(rng.choices(vocabulary, k=60)) for _ in range(size)]
        metas = [
            {
                "doc_id": chunk_id[:-2],
                "title": "filler",
                "kind": "article",
                "url": "",
                "language": "en",
                "updated_at": "",
                "tags": "",
                "source": "filler",
                "untrusted": False,
                "doc_hash": "0",
                "n_chunks": 1,
            }
            for chunk_id in ids
        ]
        name = TICKETS if start % 10000 < 2000 else ARTICLES  # ~20% tickets, as in the shop
        kb.upsert(
            name,
            ids,
            texts,
            metas,
            unit_vectors(start, size, 384),
            crosslingual=unit_vectors(start + 1, size, 512),
        )


def bench_queries(embedder: Embedder, sizes: list[int], n_queries: int) -> list[dict]:
    cases = load_suite("retrieval")
    rng = random.Random(7)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        sync(SHOP, settings, embedder=embedder, progress=False)
        kb = KnowledgeBase(settings)
        _, shop_texts, _ = kb.all_chunks(ARTICLES)
        vocabulary = " ".join(shop_texts).split()
        present = kb.count()
        for size in sizes:
            _fill(kb, present, size - present, vocabulary, rng)
            present = size
            mark_changed(settings)
            retriever = Retriever(settings, knowledge_base=kb, embedder=embedder)
            retriever.search("warm up the lexical index", k=5)
            retriever.search("Aufwärmen", k=5, language="de")
            for asked in ("en", "other"):
                questions = [c for c in cases if (c.language == "en") == (asked == "en")]
                ours, floor = [], []
                for n in range(n_queries):
                    case = questions[n % len(questions)]
                    across = case.language != "en"
                    model = retriever.crosslingual if across else embedder
                    articles = kb.collection(twin(ARTICLES) if across else ARTICLES)
                    started = time.perf_counter()
                    vector = model.embed([case.question])[0]
                    articles.query(query_embeddings=[vector], n_results=5)
                    floor.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    retriever.search(case.question, k=5, language=case.language)
                    ours.append(time.perf_counter() - started)
                (o50, o95), (f50, f95) = _percentiles(ours), _percentiles(floor)
                results.append(
                    {
                        "chunks": kb.count(),
                        "asked": asked,
                        "ours_p50": o50,
                        "ours_p95": o95,
                        "floor_p50": f50,
                        "floor_p95": f95,
                    }
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest-chunks", type=int, default=2000)
    args = parser.parse_args()
    embedder = Embedder("local/all-MiniLM-L6-v2")

    ingest = bench_ingest(embedder, args.ingest_chunks)
    print("| ingest chunks | model alone chunks/s | full pipeline chunks/s | pipeline/raw |")
    print("| --- | --- | --- | --- |")
    print(
        f"| {ingest['chunks']} | {ingest['raw_per_s']:.0f} | {ingest['pipeline_per_s']:.0f} "
        f"| {ingest['pipeline_per_s'] / ingest['raw_per_s']:.2f} |"
    )
    print()
    print(
        "| chunks | questions | kb search p50 ms | p95 ms | floor p50 ms | floor p95 ms "
        "| p95 ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in bench_queries(embedder, sorted(args.sizes), args.queries):
        print(
            f"| {row['chunks']} | {row['asked']} | {row['ours_p50'] * 1e3:.1f} "
            f"| {row['ours_p95'] * 1e3:.1f} "
            f"| {row['floor_p50'] * 1e3:.1f} | {row['floor_p95'] * 1e3:.1f} "
            f"| {row['ours_p95'] / row['floor_p95']:.2f} |"
        )


if __name__ == "__main__":
    main()
