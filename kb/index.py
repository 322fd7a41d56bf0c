"""The knowledge base's collections in Chroma: what is indexed, adding and removing chunks.

FAQs and articles live in one collection, past tickets in another: a `where`
filter on a shared collection costs ~60x the query latency. The chunks' own
metadata (doc_hash, n_chunks, source) is the sync state, so the index can never
disagree with a separate state file. Each collection records the embedding model that
made its vectors: a question embedded by another model would find nonsense, silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import chromadb

from kb.embeddings import Embedder
from kb.store import chroma_client
from settings import ConfigError, Settings

ARTICLES = "kb_articles"
TICKETS = "kb_tickets"
COLLECTION_OF_KIND = {"faq": ARTICLES, "article": ARTICLES, "ticket": TICKETS}
_PAGE = 5000
_BATCH = 64
MODEL_KEY = "embedding_model"
# Indexes built before the model was recorded were built with the default of that time.
UNRECORDED = "local/all-MiniLM-L6-v2"


# The cross-lingual model's collections, and a re-index's collections while it fills them.
TWIN = "_xl"
_FRESH = "_reindex"


def matched_text(text: str, metadata: dict) -> str:
    """What search compares a question with: a question entry's own words, else the text."""
    return metadata.get("match") or text


def twin(name: str) -> str:
    return name + TWIN


def main_of(name: str) -> str:
    return name.removesuffix(TWIN)


class IndexMismatch(ConfigError):
    """The index was built with another embedding model than the one configured."""


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
    """The collections, each checked against the embedding model configured for it.

    With a cross-lingual model configured, every chunk also has its vector from that
    model in a twin collection (same ids, text and metadata), for questions in languages
    the main model cannot read across; the main collections stay the sync state.
    """

    def __init__(
        self,
        settings: Settings,
        client: chromadb.ClientAPI | None = None,
        *,
        embedding_model: str | None = None,
    ) -> None:
        self.client = client or chroma_client(settings)
        main = embedding_model or settings.embedding_model
        self.models = {ARTICLES: main, TICKETS: main}
        if crosslingual := settings.crosslingual_embedding_model:
            self.models |= {twin(ARTICLES): crosslingual, twin(TICKETS): crosslingual}
        self._collections: dict[str, chromadb.Collection] = {}

    @property
    def crosslingual(self) -> bool:
        return twin(ARTICLES) in self.models

    def collection(self, name: str) -> chromadb.Collection:
        if name not in self._collections:
            model = self.models[name]
            collection = self.client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine", MODEL_KEY: model}, embedding_function=None
            )
            made_with = (collection.metadata or {}).get(MODEL_KEY, UNRECORDED)
            if made_with != model and collection.count():
                raise IndexMismatch(
                    f"the knowledge base was indexed with {made_with} but the embedding model "
                    f"is {model}; run `support-agent ingest --reindex` to embed it again"
                )
            if made_with != model:  # nothing in it yet: it is the new model's from now on
                # (The distance lives in the collection's configuration, set at creation.)
                collection.modify(metadata={MODEL_KEY: model})
            if (
                name.endswith(TWIN)
                and not collection.count()
                and self.collection(main_of(name)).count()
            ):
                raise IndexMismatch(
                    f"the knowledge base has no vectors from {model} yet; run "
                    "`support-agent ingest --reindex` to add them"
                )
            self._collections[name] = collection
        return self._collections[name]

    def check(self) -> None:
        """Raise IndexMismatch unless every collection holds its configured model's vectors:
        a sync adding to some of them would leave the twins partial without a word."""
        for name in self.models:
            self.collection(name)

    def reindex(
        self, embedders: dict[str, Embedder], on_batch: Callable[[int], object] | None = None
    ) -> int:
        """Embed every chunk again, each collection with the embedder of its model (by
        model name); returns how many chunks.

        The new vectors go into fresh collections, swapped in only when all are full: an
        interrupted filling leaves the old index answering. Each collection records its
        model, so one stopped in the middle of the swap says so (IndexMismatch) until
        the re-index is run again; it never answers with vectors of two models.
        """
        self._finish_interrupted()
        targets = [*self.models]
        done = 0
        for name in (ARTICLES, TICKETS):
            old = self.client.get_or_create_collection(name, embedding_function=None)
            ids, texts, metas = self._read(old, ["documents", "metadatas"])
            matched = [matched_text(t, m) for t, m in zip(texts, metas, strict=True)]
            for target in (t for t in targets if main_of(t) == name):
                model = self.models[target]
                fresh = self.client.create_collection(
                    target + _FRESH,
                    metadata={"hnsw:space": "cosine", MODEL_KEY: model},
                    embedding_function=None,
                )
                for start in range(0, len(ids), _BATCH):
                    part = slice(start, start + _BATCH)
                    fresh.upsert(
                        ids=ids[part],
                        documents=texts[part],
                        metadatas=metas[part],
                        embeddings=embedders[model].embed(matched[part]),
                    )
                    if on_batch:
                        on_batch(len(matched[part]))
            done += len(ids)
        present = self._names()
        for target in {*targets, twin(ARTICLES), twin(TICKETS)}:
            if target in present:  # (a twin no longer configured goes too)
                self.client.delete_collection(target)
            if target in targets:
                self.client.get_collection(target + _FRESH).modify(name=target)
        self.forget()
        return done

    def forget(self) -> None:
        """Open the collections again on next use (a re-index replaced them)."""
        self._collections.clear()

    def _names(self) -> set[str]:
        return {collection.name for collection in self.client.list_collections()}

    def _finish_interrupted(self) -> None:
        """Clear what an interrupted re-index left: a fresh collection whose target is gone
        was being swapped in (it is complete), any other was still being filled."""
        present = self._names()
        for name in present:
            if not name.endswith(_FRESH):
                continue
            target = name.removesuffix(_FRESH)
            if target in present:
                self.client.delete_collection(name)
            else:
                self.client.get_collection(name).modify(name=target)

    @staticmethod
    def _read(
        collection: chromadb.Collection, include: list[str]
    ) -> tuple[list[str], list[str], list[dict]]:
        ids, texts, metas = [], [], []
        for page in _pages(collection, include):
            ids += page["ids"]
            texts += page.get("documents") or []
            metas += page.get("metadatas") or []
        return ids, texts, metas

    def pages(self, name: str, include: list[str]) -> Iterator[dict]:
        """The collection `name`'s chunks a page at a time (Chroma's `get` pages)."""
        return _pages(self.collection(name), include)

    def indexed_documents(self) -> dict[str, IndexedDocument]:
        documents: dict[str, IndexedDocument] = {}
        for name in (ARTICLES, TICKETS):
            for page in self.pages(name, ["metadatas"]):
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
        return self._read(self.collection(name), ["documents", "metadatas"])

    def upsert(
        self,
        name: str,
        ids: list[str],
        texts: list[str],
        metadatas: list[dict],
        embeddings: list[list[float]],
        crosslingual: list[list[float]] | None = None,
    ) -> None:
        """Add or replace chunks; `crosslingual` are their vectors for the twin collection,
        needed when a cross-lingual model is configured."""
        if self.crosslingual:
            if crosslingual is None:
                raise ValueError("a cross-lingual model is configured: its vectors are needed")
            # The twin first: a chunk in the main collection (the sync state) has both.
            self.collection(twin(name)).upsert(
                ids=ids, documents=texts, metadatas=metadatas, embeddings=crosslingual
            )
        self.collection(name).upsert(
            ids=ids, documents=texts, metadatas=metadatas, embeddings=embeddings
        )

    def delete(self, name: str, ids: list[str]) -> None:
        if ids:
            self.collection(name).delete(ids=ids)
            if self.crosslingual:
                self.collection(twin(name)).delete(ids=ids)

    def count(self) -> int:
        return sum(self.collection(name).count() for name in (ARTICLES, TICKETS))


def _pages(collection: chromadb.Collection, include: list[str]) -> Iterator[dict]:
    offset = 0
    while True:
        page = collection.get(include=include, limit=_PAGE, offset=offset)
        if not page["ids"]:
            return
        yield page
        offset += len(page["ids"])
