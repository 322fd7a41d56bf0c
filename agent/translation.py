"""Translate one text with the configured LLM: a draft for the owner, an owner's reply for
the customer, a question for a knowledge base its embedding model cannot read across."""

from __future__ import annotations

from agent.draft import Usage
from agent.language import NAMES
from agent.prompts import render
from llm.client import AllModelsFailed, complete_with_fallbacks
from settings import Settings

MAX_TOKENS = 2048


class TranslationFailed(Exception):
    """No model could translate the text; the message says why, in one line."""


def translate(
    settings: Settings, text: str, *, source: str, target: str, usage: Usage | None = None
) -> str:
    """`text` from language `source` into `target` (ISO 639-1 codes); unchanged if equal.

    With `usage`, the call's tokens and price are counted there."""
    if source == target or not text.strip():
        return text
    prompt = render(
        "translate",
        text=text,
        source_name=NAMES.get(source, source),
        target_name=NAMES.get(target, target),
    )
    try:
        response, _ = complete_with_fallbacks(
            settings,
            messages=[{"role": "user", "content": prompt}],
            temperature=0,
            # Room for the longest way round: one Chinese character can take three
            # English tokens, and a cut translation is worse than none.
            max_tokens=min(MAX_TOKENS, 64 + 3 * len(text)),
        )
    except AllModelsFailed as error:
        raise TranslationFailed(f"the translation failed: {error}") from None
    if usage is not None:
        usage.add(response)
    choice = response.choices[0]
    translated = (choice.message.content or "").strip()
    if not translated:
        raise TranslationFailed("the translation failed: the model returned nothing")
    if choice.finish_reason == "length":
        raise TranslationFailed("the translation failed: the model stopped before the end")
    return translated


def for_owner(name: str, language: str, shop_language: str) -> str | None:
    """A fixed reply (prompts/<name>.j2) in the shop's language when the customer's is
    another: no model is needed to tell the owner what it says."""
    return None if language == shop_language else render(name, language=shop_language)


def searchable_question(
    settings: Settings,
    text: str,
    *,
    language: str,
    readable: frozenset[str] | None,
    usage: Usage | None = None,
) -> tuple[str, str]:
    """The question as the index can read it, and its language: translated into the shop's
    language when no embedding model reads `language` (None: any language is read)."""
    if readable is None or language in readable or language == settings.shop_language:
        return text, language
    try:
        translated = translate(
            settings, text, source=language, target=settings.shop_language, usage=usage
        )
    except TranslationFailed:
        return text, language  # searched as written: weak retrieval sends it to a person
    return translated, settings.shop_language
