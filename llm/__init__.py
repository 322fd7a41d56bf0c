"""The model runtime: every LLM call through litellm, and the local GGUF provider."""
