"""The agent: decisions only. Given a message, history, identity and knowledge, a draft."""

import settings  # noqa: F401  (sets the offline environment before litellm is imported)
