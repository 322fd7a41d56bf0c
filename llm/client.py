"""Every LLM call goes through here: litellm only, so local and hosted models share one path."""

from __future__ import annotations

import re

import litellm
from litellm import ModelResponse
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from llm import local as local_llm
from settings import Settings

litellm.suppress_debug_info = True
local_llm.register()


class LLMError(Exception):
    """An LLM call failed; the message is one line that names the model and the cause."""


def completion(**kwargs) -> ModelResponse:
    """`litellm.completion` with errors turned into one clear LLMError line."""
    try:
        return litellm.completion(**kwargs)
    except Exception as error:
        raise LLMError(explain(error, kwargs.get("model", "?"))) from error


def explain(error: Exception, model: str) -> str:
    """One line a shop owner can act on, for any error litellm raises."""
    detail = _first_line(error)
    if model.startswith(f"{local_llm.PROVIDER}/"):
        return f"{model}: {detail}"
    if "LLM Provider NOT provided" in detail:
        return f"{model}: unknown provider (expected e.g. openai/gpt-4o-mini or local/qwen2.5-1.5b)"
    if isinstance(error, litellm.AuthenticationError):
        return f"{model}: the provider rejected the API key (check its *_API_KEY variable)"
    if isinstance(error, litellm.NotFoundError):
        return f"{model}: the provider does not know this model name"
    if isinstance(error, litellm.RateLimitError):
        return f"{model}: rate limited or out of quota at the provider"
    if isinstance(error, litellm.Timeout):
        return f"{model}: the call timed out"
    if isinstance(error, litellm.APIConnectionError) or "connection error" in detail.lower():
        return f"{model}: cannot reach the provider ({detail})"
    return f"{model}: {detail}"


_LITELLM_PREFIX = re.compile(r"^(?:litellm\.)?\w+(?:Error|Exception):\s*")


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    while (stripped := _LITELLM_PREFIX.sub("", text, count=1)) != text:
        text = stripped
    return text[:300]


TRANSIENT = (
    litellm.RateLimitError,
    litellm.Timeout,
    litellm.APIConnectionError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
)


class AllModelsFailed(LLMError):
    """The main model and every fallback failed; `errors` has one line per model."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def complete_with_fallbacks(settings: Settings, **kwargs) -> tuple[ModelResponse, str]:
    """Call the configured model, retrying transient errors, then each fallback in turn.

    Returns the response and the model that produced it.
    """
    errors = []
    for model in [settings.llm_model, *settings.llm_fallbacks]:
        retrying = Retrying(
            stop=stop_after_attempt(settings.llm_retries),
            wait=wait_exponential(multiplier=settings.llm_backoff, max=30),
            retry=retry_if_exception_type(TRANSIENT),
            reraise=True,
        )
        try:
            response = retrying(
                litellm.completion, model=model, timeout=settings.llm_timeout, **kwargs
            )
            return response, model
        except Exception as error:
            errors.append(explain(error, model))
    raise AllModelsFailed(errors)
