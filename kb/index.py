"""The knowledge base's collections in Chroma: what is indexed, adding and removing chunks.

FAQs and articles live in one collection, past tickets in another: a `where`
filter on a shared collection costs ~60x the query latency. The chunks' own
metadata (doc_hash, n_chunks, source) is the sync state, so the index can never
disagree with a separate state file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import chromadb

from kb.store import chroma_client
from settings import Settings

ARTICLES = "kb_articles"
TICKETS = "kb_tickets"
COLLECTION_OF_KIND = {"faq": ARTICLES, "article": ARTICLES, "ticket": TICKETS}
_PAGE = 5000


@dataclass
class IndexedDocument:
    doc_id: str
    collection: str
    source: str
    doc_hash: str
    n_chunks: int
    chunk_ids: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        """All chunks of one version are present: an interrupted sync leaves this False."""
        return len(self.hashes) == 1 and len(self.chunk_ids) == self.n_chunks


class KnowledgeBase:
    def __init__(self, settings: Settings, client: chromadb.ClientAPI | None = None) -> None:
        self.client = client or chroma_client(settings)
        self._collections: dict[str, chromadb.Collection] = {}

    def collection(self, name: str) -> chromadb.Collection:
        if name not in self._collections:
            self._collections[name] = self.client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        return self._collections[name]

    def _pages(self, name: str, include: list[str]) -> Iterator[dict]:
        collection = self.collection(name)
        offset = 0
        while True:
            page = collection.get(include=include, limit=_PAGE, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def indexed_documents(self) -> dict[str, IndexedDocument]:
        documents: dict[str, IndexedDocument] = {}
        for name in (ARTICLES, TICKETS):
            for page in self._pages(name, ["metadatas"]):
                for chunk_id, meta in zip(page["ids"], page["metadatas"], strict=True):
                    doc = documents.setdefault(
                        meta["doc_id"],
                        IndexedDocument(
                            meta["doc_id"], name, meta["source"], meta["doc_hash"], meta["n_chunks"]
                        ),
                    )
                    doc.chunk_ids.add(chunk_id)
                    doc.hashes.add(meta["doc_hash"])
        return documents

    def all_chunks(self, name: str) -> tuple[list[str], list[str], list[dict]]:
        """Every chunk's id, text and metadata in one collection (for the lexical index)."""
        ids, texts, metas = [], [], []
        for page in self._pages(name, ["documents", "metadatas"]):
            ids += page["ids"]
            texts += page["documents"]
            metas += page["metadatas"]
        return ids, texts, metas

    def upsert(
        self,
        name: str,
        ids: list[str],
        texts: list[str],
        metadatas: list[dict],
        embeddings: list[list[float]],
    ) -> None:
        self.collection(name).upsert(
            ids=ids, documents=texts, metadatas=metadatas, embeddings=embeddings
        )

    def delete(self, name: str, ids: list[str]) -> None:
        if ids:
            self.collection(name).delete(ids=ids)

    def count(self) -> int:
        return sum(self.collection(name).count() for name in (ARTICLES, TICKETS))
