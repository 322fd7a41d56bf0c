"""Guess the language of a customer's message, so the reply can be in the same one."""

from __future__ import annotations

import re

# The most frequent short words of each language: enough for a chat message.
_MARKERS = {
    "en": "the and is are my i you to of for it not was have what how can do where when order",
    "es": "el la los las y es mi que de por para con no un una pedido dónde cuándo cómo hola "
    "gracias puedo está",
    "de": "der die das und ist ich nicht mit ein eine zu wie wo wann bestellung hallo danke "
    "kann mein ist",
    "fr": "le la les et est je pas avec un une pour mon ma où quand comment commande bonjour "
    "merci puis",
}
_WORDS = {language: set(words.split()) for language, words in _MARKERS.items()}
NAMES = {"en": "English", "es": "Spanish", "de": "German", "fr": "French"}
_TOKEN = re.compile(r"[a-záéíóúñüäöß]+")


def detect_language(text: str) -> str:
    """ISO 639-1 code of the likeliest language; English when unsure."""
    words = _TOKEN.findall(text.lower())
    scores = {lang: sum(word in vocab for word in words) for lang, vocab in _WORDS.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] > scores["en"] else "en"
