"""The knowledge base: Chroma store, embeddings, hybrid retrieval and citations."""

import settings  # noqa: F401  (sets the offline environment before litellm is imported)
