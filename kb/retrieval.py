"""Hybrid retrieval: dense (Chroma, cosine) plus a light, normalized BM25 score.

Fusing by score rather than by rank keeps the dense margin: on the public test shops
reciprocal rank fusion lost to plain dense search (docs/benchmarks.md). The score
reported with each hit is the cosine similarity between the query and the chunk: it
means the same thing for every query, so the confidence gate can set a threshold on it.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from kb.embeddings import Embedder, crosslingual_embedder
from kb.index import ARTICLES, TICKETS, KnowledgeBase, matched_text, twin
from settings import Settings

# Below this cosine similarity nothing in the knowledge base is about the question.
RELEVANT = 0.35
# Past tickets are evidence of what worked once; the help center is the policy.
WEIGHTS = {ARTICLES: 1.0, TICKETS: 0.7}
_STOPWORD_TEXT = (
    "a an the and or but if of to in on at for from by with about as is are was were be been "
    "i me my we our you your it its this that these those do does did can could would should "
    "will have has had not no so what when where which who how why there here any some please "
    "hi hello thanks el la los las de del y o en un una que por para con es mi se der die das "
    "und ich ist ein eine zu mit den nicht le les des et je est pour"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Chinese, Japanese and Thai write no spaces between words (and Korean's spaced words
# carry their particles): such runs are indexed as overlapping character pairs, which
# meet wherever two texts share a two-character word, with no dictionary to install.
_UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_UNSPACED}]+|[^\W{_UNSPACED}]+")
_UNSPACED_RUN = re.compile(rf"[{_UNSPACED}]")
# Thai vowel and tone marks sit on a consonant: pairs of the consonants spell the word.
_THAI_MARKS = re.compile(r"[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]")


class Hit(BaseModel):
    doc_id: str
    chunk_id: str
    title: str
    kind: str
    score: float
    text: str
    url: str | None = None
    language: str = "en"
    updated_at: str = ""
    untrusted: bool = False
    # Found by an FAQ's question alone (its score is question-to-question similarity).
    by_question: bool = False

    @property
    def answer(self) -> str:
        """An FAQ's answer in the owner's words (the text after its question)."""
        return self.text.partition("\nA: ")[2] if self.kind == "faq" else ""


def tokens(text: str) -> list[str]:
    found = []
    for word in _TOKEN.findall(text.lower()):
        if _UNSPACED_RUN.match(word):
            word = _THAI_MARKS.sub("", word)
            found += [word[i : i + 2] for i in range(len(word) - 1)] or [word]
        elif word not in STOPWORDS:
            # A light plural fold: "returns" and "return" should meet.
            found.append(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return found


class Bm25:
    """Okapi BM25 over an inverted index; a query touches only its terms' postings."""

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.size = len(texts)
        docs = [tokens(text) for text in texts]
        lengths = np.array([len(doc) for doc in docs], dtype=np.float32)
        average = float(lengths.mean()) if self.size else 1.0
        counts: dict[str, dict[int, int]] = {}
        for index, doc in enumerate(docs):
            for word in doc:
                row = counts.setdefault(word, {})
                row[index] = row.get(index, 0) + 1
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, row in counts.items():
            ids = np.fromiter(row.keys(), dtype=np.int32, count=len(row))
            tf = np.fromiter(row.values(), dtype=np.float32, count=len(row))
            idf = np.log(1 + (self.size - len(row) + 0.5) / (len(row) + 0.5))
            norm = k1 * (1 - b + b * lengths[ids] / average)
            self.postings[word] = (ids, idf * tf * (k1 + 1) / (tf + norm))

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(self.size, dtype=np.float32)
        for word in set(tokens(query)):
            if word in self.postings:
                ids, weights = self.postings[word]
                scores[ids] += weights
        return scores

    def top(self, query: str, n: int, scores: np.ndarray | None = None) -> list[int]:
        scores = self.scores(query) if scores is None else scores
        hits = np.flatnonzero(scores)
        if len(hits) > n:
            hits = hits[np.argpartition(-scores[hits], n)[:n]]
        return hits[np.argsort(-scores[hits])].tolist()


@dataclass
class _Lexical:
    ids: list[str]
    texts: list[str]
    metadatas: list[dict]
    bm25: Bm25

    def __post_init__(self) -> None:
        self.position = {chunk_id: index for index, chunk_id in enumerate(self.ids)}


def _stamp_file(settings: Settings):
    return settings.data_dir / "kb.version"


def mark_changed(settings: Settings) -> None:
    """Tell every retriever on this data dir to reload its lexical index."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _stamp_file(settings).write_text(uuid.uuid4().hex)


class Tuning(BaseModel):
    """How the two rankings are fused; measured on the public test shops (evals/)."""

    model_config = ConfigDict(frozen=True)

    dense_weight: float = 1.0
    # Fitted on the public shops' dev questions (docs/benchmarks.md): more lexical weight
    # helps the sample shop's exact terms and hurts everywhere else.
    lexical_weight: float = 0.15


class Retriever:
    def __init__(
        self,
        settings: Settings,
        knowledge_base: KnowledgeBase | None = None,
        embedder: Embedder | None = None,
        *,
        tuning: Tuning | None = None,
    ) -> None:
        self.settings = settings
        self.tuning = tuning or Tuning()
        self.embedder = embedder or Embedder(settings.embedding_model)
        self.kb = knowledge_base or KnowledgeBase(settings, embedding_model=self.embedder.model)
        self.crosslingual = crosslingual_embedder(settings) if self.kb.crosslingual else None
        self._lexical: dict[str, _Lexical] = {}
        self._version: str | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chroma-query")

    def current_kb(self) -> KnowledgeBase:
        """The knowledge base, opened again when a sync changed it since (one stamp read)."""
        with self._lock:
            self._follow_syncs()
        return self.kb

    def _follow_syncs(self) -> None:
        stamp = _stamp_file(self.settings)
        version = stamp.read_text() if stamp.exists() else ""
        if version != self._version:
            self._lexical.clear()
            # A re-index replaced the collections themselves: open them again.
            self.kb.forget()
            self._version = version

    def _lexical_indexes(self, names: tuple[str, ...]) -> dict[str, _Lexical]:
        """BM25 per collection, rebuilt after a sync changed the index (one stamp read)."""
        with self._lock:
            self._follow_syncs()
            for name in names:
                if name not in self._lexical:
                    ids, texts, metas = self.kb.all_chunks(name)
                    matched = [matched_text(t, m) for t, m in zip(texts, metas, strict=True)]
                    self._lexical[name] = _Lexical(ids, texts, metas, Bm25(matched))
            return {name: self._lexical[name] for name in names}

    @property
    def languages(self) -> frozenset[str] | None:
        """Languages a question can be asked in to find passages in another; None when
        the main model is a hosted one (the owner chose it and knows)."""
        main = self.embedder.languages
        if main is None or self.crosslingual is None:
            return main
        across = self.crosslingual.languages
        return None if across is None else main | across

    def _reads_across(self, language: str) -> bool:
        """Whether a question in `language` needs the cross-lingual model's vectors: the
        main model cannot read it, or cannot read the shop's own language."""
        main = self.embedder.languages
        return (
            self.crosslingual is not None
            and main is not None
            and not {language, self.settings.shop_language} <= main
        )

    def search(
        self,
        query: str,
        k: int = 5,
        collections: tuple[str, ...] = (ARTICLES, TICKETS),
        *,
        language: str = "en",
    ) -> list[Hit]:
        """The k best documents for `query`, asked in `language` (ISO 639-1)."""
        across = self._reads_across(language)
        embedder = self.crosslingual if across else self.embedder
        vector = embedder.embed([query])[0]
        vectors_of = twin if across else str
        depth = max(4 * k, 20)
        lexical = self._lexical_indexes(collections)
        names = [name for name in collections if lexical[name].ids]
        # Chroma's queries release the GIL: run them side by side while BM25 scores.
        dense_futures = {
            name: self._pool.submit(
                self.kb.collection(vectors_of(name)).query,
                query_embeddings=[vector],
                n_results=depth,
                include=["documents", "metadatas", "distances"],
            )
            for name in names
        }
        lexical_scores = {name: lexical[name].bm25.scores(query) for name in names}
        fused: dict[str, float] = {}
        found: dict[str, tuple[str, dict, float | None]] = {}
        for name in names:
            dense = dense_futures[name].result()
            rows = list(
                zip(
                    dense["ids"][0],
                    dense["documents"][0],
                    dense["metadatas"][0],
                    dense["distances"][0],
                    strict=True,
                )
            )
            for chunk_id, text, meta, distance in rows:
                found[chunk_id] = (text, meta, 1.0 - distance)
            index, scores = lexical[name], lexical_scores[name]
            lexical_ids = []
            for position in index.bm25.top(query, depth, scores):
                lexical_ids.append(index.ids[position])
                found.setdefault(
                    index.ids[position], (index.texts[position], index.metadatas[position], None)
                )
            dense_ids = [row[0] for row in rows]
            fused_here = self._fuse(dense_ids, lexical_ids, found, index, scores)
            for chunk_id, value in fused_here.items():
                fused[chunk_id] = fused.get(chunk_id, 0.0) + WEIGHTS[name] * value
        vector = np.asarray(vector, dtype=np.float32)
        return self._best_per_document(fused, found, vector, k, vectors_of)

    def _fuse(self, dense_ids, lexical_ids, found, index, scores) -> dict[str, float]:
        """Cosine similarity plus the BM25 score divided by the query's best: unlike fusing
        ranks, a clear dense winner keeps its lead over a document that only shares words."""
        best = float(scores.max()) if scores.size else 0.0
        # A chunk outside the dense top list is at most as similar as the last one in it.
        floor = min((found[c][2] for c in dense_ids), default=0.0)
        fused = {}
        for chunk_id in dict.fromkeys([*dense_ids, *lexical_ids]):
            similarity = found[chunk_id][2]
            lexical = scores[index.position[chunk_id]] / best if best > 0 else 0.0
            fused[chunk_id] = self.tuning.dense_weight * (
                floor if similarity is None else similarity
            ) + self.tuning.lexical_weight * float(lexical)
        return fused

    def _best_per_document(self, fused, found, vector, k, vectors_of) -> list[Hit]:
        chosen, documents = [], set()
        for chunk_id in sorted(fused, key=fused.get, reverse=True):
            doc_id = found[chunk_id][1]["doc_id"]
            if doc_id not in documents:
                documents.add(doc_id)
                chosen.append(chunk_id)
            if len(chosen) == k:
                break
        missing = [chunk_id for chunk_id in chosen if found[chunk_id][2] is None]
        similarity = self._similarities(missing, vector, vectors_of)
        hits = []
        for chunk_id in chosen:
            text, meta, score = found[chunk_id]
            hits.append(
                Hit(
                    doc_id=meta["doc_id"],
                    chunk_id=chunk_id,
                    title=meta["title"],
                    kind=meta["kind"],
                    score=round(float(similarity.get(chunk_id, score)), 4),
                    text=text,
                    url=meta.get("url") or None,
                    language=meta.get("language", "en"),
                    updated_at=meta.get("updated_at", ""),
                    untrusted=bool(meta.get("untrusted")),
                    by_question="match" in meta,
                )
            )
        return hits

    def _similarities(
        self, chunk_ids: list[str], vector: np.ndarray, vectors_of: Callable[[str], str]
    ) -> dict[str, float]:
        """Cosine similarity for lexical-only hits, from their stored embeddings."""
        scores: dict[str, float] = {}
        for name in (ARTICLES, TICKETS):
            if not chunk_ids:
                break
            got = self.kb.collection(vectors_of(name)).get(ids=chunk_ids, include=["embeddings"])
            for chunk_id, embedding in zip(got["ids"], got["embeddings"], strict=True):
                scores[chunk_id] = float(np.dot(np.asarray(embedding), vector))
            chunk_ids = [c for c in chunk_ids if c not in scores]
        return scores
