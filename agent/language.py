"""Guess the language of a customer's message, so the reply can be in the same one.

Short chat messages defeat statistical detectors, and they often quote English names
("wann kam help me help you raus"). So a script of its own decides first (two letters
of Hangul, kana, Han, Thai, Arabic or Cyrillic are enough), then the letters only one
Latin-script language uses and its most frequent short words; English when unsure.
"""

from __future__ import annotations

import re

# Scripts that name their language, checked in this order: kana before Han, since
# Japanese writes Han too.
_SCRIPTS = [
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ar", re.compile(r"[\u0600-\u06ff\u0750-\u077f]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
]
# Letters that, among the languages we answer in, only one writes.
_LETTERS = {
    "vi": "ơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđ",
    "pl": "ąęłńśźż",
    "tr": "ğışİ",
    "de": "ß",
    "pt": "ãõ",
    "es": "ñ¿¡",
}
# The most frequent short words of each language: enough for a chat message.
_MARKERS = {
    "en": "the and is are my i you to of for it not was have what how can do where when order",
    "es": "el la los las y es mi que de por para con no un una pedido dónde cuándo cómo hola "
    "gracias puedo está",
    "de": "der die das und ist ich nicht mit ein eine zu wie wo wann bestellung hallo danke "
    "kann mein ist kam was kostet im zeigt vergessen",
    "fr": "le la les et est je pas avec un une pour mon ma où quand comment commande bonjour "
    "merci puis du des vous votre combien coûte j'ai ai oublié mot temps",
    "it": "il lo gli e è di che non per con una mio mia dove quando come ordine ciao grazie "
    "sono posso ho costa dimenticato la",
    "pt": "o os as e é de que não para com um uma meu minha onde quando como pedido olá "
    "obrigado foi eu tenho pra custa",
    "nl": "de het een en is ik niet met van voor mijn waar wanneer hoe bestelling hallo "
    "bedankt kan uit wat kost geeft aan op vergeten",
    "pl": "i w nie się na jest to że z do jak gdzie kiedy moje zamówienie dzień dobry dziękuję "
    "zignoruj poprzednie instrukcje",
    "tr": "ve bir bu ne için ile değil nerede zaman nasıl sipariş merhaba teşekkürler benim",
    "vi": "và là của tôi không có cho khi nào ở đâu đơn hàng xin chào cảm ơn",
}
LETTER_WEIGHT = 2
_WORDS = {language: set(words.split()) for language, words in _MARKERS.items()}
NAMES = {
    "en": "English",
    "es": "Spanish",
    "de": "German",
    "fr": "French",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
    "vi": "Vietnamese",
    "ru": "Russian",
    "ar": "Arabic",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "th": "Thai",
}
_TOKEN = re.compile(r"[^\W\d_]+")


def detect_language(text: str) -> str:
    """ISO 639-1 code of the likeliest language; English when unsure."""
    for language, script in _SCRIPTS:
        if len(script.findall(text)) >= 2:
            return language
    lowered = text.lower()
    words = _TOKEN.findall(lowered)
    scores = {lang: sum(word in vocab for word in words) for lang, vocab in _WORDS.items()}
    # A language's own letters count like two of its words: a name such as "Łukasz" in
    # an English message does not outweigh the English around it.
    for language, letters in _LETTERS.items():
        if any(letter.lower() in lowered for letter in letters):
            scores[language] += LETTER_WEIGHT
    best = max(scores, key=scores.get)
    return best if scores[best] > scores["en"] else "en"
