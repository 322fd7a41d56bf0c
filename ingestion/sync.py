"""Incremental, idempotent sync of source files into the knowledge base.

Unchanged documents are skipped (nothing embedded), changed ones replace their
chunks, and documents gone from a synced file or folder are removed. New chunks
are written before stale ones are deleted, so an interrupted run never loses a
document; the next run sees the half-written one as incomplete and finishes it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from ingestion.chunking import Chunk, chunk, document_hash
from ingestion.loaders import Kind, load
from kb.embeddings import Embedder, crosslingual_embedder
from kb.index import COLLECTION_OF_KIND, KnowledgeBase
from kb.retrieval import mark_changed
from settings import Settings

BATCH = 256


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _under(source: str, roots: list[Path]) -> bool:
    path = Path(source)
    return any(root.is_dir() and path.is_relative_to(root) for root in roots)


def sync(
    paths: list[Path],
    settings: Settings,
    kind: Kind | None = None,
    knowledge_base: KnowledgeBase | None = None,
    embedder: Embedder | None = None,
    progress: bool | None = None,
) -> SyncReport:
    started = time.perf_counter()
    report = SyncReport()
    paths = [Path(p).resolve() for p in paths]
    loaded = load(paths, kind)
    report.problems = [str(problem) for problem in loaded.problems]
    embedder = embedder or Embedder(settings.embedding_model)
    kb = knowledge_base or KnowledgeBase(settings, embedding_model=embedder.model)
    crosslingual = crosslingual_embedder(settings) if kb.crosslingual else None
    kb.check()
    indexed = kb.indexed_documents()

    pending: list[tuple[str, Chunk]] = []
    stale: dict[str, set[str]] = {}
    for document in loaded.documents:
        collection = COLLECTION_OF_KIND[document.kind]
        old = indexed.get(document.doc_id)
        if (
            old
            and old.complete
            and old.collection == collection
            and old.doc_hash == document_hash(document)
        ):
            report.unchanged += 1
            continue
        chunks = chunk(document)
        pending += [(collection, piece) for piece in chunks]
        if old:
            report.updated += 1
            keep = {piece.chunk_id for piece in chunks} if old.collection == collection else set()
            stale.setdefault(old.collection, set()).update(old.chunk_ids - keep)
        else:
            report.added += 1

    seen = {document.doc_id for document in loaded.documents}
    for old in indexed.values():
        if old.doc_id in seen:
            continue
        gone_file = old.source not in loaded.seen_files and _under(old.source, paths)
        if old.source in loaded.clean_files or gone_file:
            stale.setdefault(old.collection, set()).update(old.chunk_ids)
            report.deleted += 1

    # Batches of similar length waste no compute on padding; a document's chunks stay
    # together, so an interrupted sync leaves whole documents done.
    longest: dict[str, int] = {}
    for _, piece in pending:
        doc_id = piece.metadata["doc_id"]
        longest[doc_id] = max(longest.get(doc_id, 0), len(piece.matched_text))
    pending.sort(key=lambda item: (longest[item[1].metadata["doc_id"]], item[1].metadata["doc_id"]))
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(pending), unit="chunk", disable=not show, desc="embedding") as bar:
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            texts = [piece.matched_text for _, piece in batch]
            vectors = embedder.embed(texts)
            twins = crosslingual.embed(texts) if crosslingual else None
            for collection in {name for name, _ in batch}:
                rows = [i for i, (name, _) in enumerate(batch) if name == collection]
                kb.upsert(
                    collection,
                    ids=[batch[i][1].chunk_id for i in rows],
                    texts=[batch[i][1].text for i in rows],
                    metadatas=[batch[i][1].metadata for i in rows],
                    embeddings=[vectors[i] for i in rows],
                    crosslingual=[twins[i] for i in rows] if twins else None,
                )
            bar.update(len(batch))
    for collection, ids in stale.items():
        kb.delete(collection, sorted(ids))

    report.chunks = len(pending)
    if pending or stale:
        mark_changed(settings)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def reindex_all(settings: Settings, progress: bool | None = None) -> tuple[int, float]:
    """Embed every indexed chunk again with the configured models (after changing them).

    The chunks' text and metadata are in the index already, so no source file is read
    again; returns the number of chunks and the seconds it took.
    """
    started = time.perf_counter()
    kb = KnowledgeBase(settings)
    embedders = {model: Embedder(model) for model in set(kb.models.values())}
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(unit="chunk", disable=not show, desc="re-embedding") as bar:
        chunks = kb.reindex(embedders, on_batch=bar.update)
    mark_changed(settings)
    return chunks, round(time.perf_counter() - started, 3)
