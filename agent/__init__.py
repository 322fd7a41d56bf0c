"""The agent: the LLM behind litellm, tools, the confidence gate and routing."""

import settings  # noqa: F401  (sets the offline environment before litellm is imported)
