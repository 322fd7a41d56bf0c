"""Remove personal data from text before it is embedded, logged or cited.

Emails, phone numbers, card numbers (Luhn-checked), street addresses and the
names people give in greetings, introductions and sign-offs become markers
such as [EMAIL]. Order numbers, tracking numbers, dates and prices stay: the
agent needs them and they identify nobody on their own.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
PHONE = re.compile(
    r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?|\d{2,5}[\s.-])\d{3,4}(?:[\s.-]?\d{2,4}){1,2}(?![\w-])"
)
DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")
STREET_TYPES = (
    r"St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Ln|Lane|Dr|Drive|Way|Ct|Court|Pl|Place|"
    r"Ter|Terrace|Hwy|Highway|Pkwy|Parkway|Sq|Square|Cir|Circle|Loop"
)
ADDRESS = re.compile(
    rf"\b\d{{1,6}}\s+(?:[NSEW]{{1,2}}\.?\s+)?(?:[A-Z0-9][\w'.-]*\s+){{1,4}}(?:{STREET_TYPES})\b\.?"
    r"(?:,?\s*(?:Apt|Apartment|Unit|Suite|Ste|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][A-Za-z .'-]+)?(?:,\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?"
)
# Continental style: "Hauptstraße 12, 10115 Berlin", "Calle Mayor 5, 28013 Madrid".
ADDRESS_EU = re.compile(
    r"\b(?:(?:Calle|Avenida|Rue|Via|Plaza)\s+(?:[\wÀ-ÿ'-]+\s+){0,3}\d+[a-z]?"
    r"|[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|platz|allee|gasse|ring)\s+\d+[a-z]?)"
    r"(?:,\s*\d{4,5}\s+[A-ZÄÖÜ][\wäöüßÀ-ÿ-]+)?"
)
POSTCODE_UK = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b")

NAME = r"[A-ZÀ-Ý][A-Za-zÀ-ÿ'’-]*[a-zà-ÿ]"
FULL_NAME = rf"{NAME}(?:\s+(?:{NAME}|[A-Z]\.)){{0,2}}"
TITLE = r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Frau|Herr|Sr|Sra|Mme|M)\.?\s+)?"
INTRO = re.compile(
    r"(?i:\b(?:my name is|name's|his name is|her name is|this is|i am|i'm|me llamo|"
    r"mi nombre es|soy|ich bin|ich heiße|mein name ist|je suis|je m'appelle|moi c'est))"
    rf"\s+{TITLE}({FULL_NAME})"
)
SALUTATION = re.compile(
    r"(?m)^\s*(?i:hi|hiya|hello|hey|dear|hola|buenos días|buenas|hallo|guten tag|liebe[rs]?|"
    r"sehr geehrte[rs]?|bonjour|salut|good (?:morning|afternoon|evening))"
    rf"[,]?\s+{TITLE}({FULL_NAME})\s*[,!.:;–—-]"
)
THANKS = re.compile(
    r"(?i:\b(?:thanks|thank you|thx|cheers|sorry|gracias|mil gracias|danke|merci|congrats))"
    rf"(?:\s+for [^,.!\n]{{1,40}})?,?\s+({FULL_NAME})\s*(?:[,!.]|$)"
)
# The short line(s) that end a message: "Dana", "- George", "Ta, Siobhan", "Ana Sofía Ruiz".
SIGNATURE_LINE = re.compile(
    rf"^\s*(?:[-–—]+\s*)?(?:[\wÀ-ÿ!' ]{{1,25}},\s*)?({FULL_NAME})\s*[.!]?\s*(?:,.*)?$"
)

# A name closing a one-paragraph message: "…nothing arrives. Emily Zhang, [EMAIL]".
END_SIGNATURE = re.compile(
    rf"(?:[.!?)]|[^\w\s,'’])\s+(?:[-–—]\s*)?(?:[\w ]{{1,20}},\s*)?({FULL_NAME})\s*(?:,[^.!?]*)?\s*$"
)

# Capitalised words that open a sentence or name the shop, never a customer.
NOT_NAMES = {
    "Sorry",
    "Not",
    "Still",
    "Very",
    "So",
    "Just",
    "Really",
    "Having",
    "Trying",
    "Looking",
    "Writing",
    "Going",
    "Getting",
    "Waiting",
    "Here",
    "Interested",
    "Confused",
    "Happy",
    "The",
    "A",
    "An",
    "It",
    "Your",
    "My",
    "Our",
    "Me",
    "Please",
    "Thanks",
    "Thank",
    "Ok",
    "Okay",
    "Angry",
    "Upset",
    "Frustrated",
    "Disappointed",
    "Glad",
    "About",
    "Urgent",
    "Kettle",
    "Crane",
    "Heron",
    "Ripple",
    "Stillwater",
    "Tidepool",
    "Mara",
    "Team",
    "Support",
    "Hi",
    "Hello",
    "Hey",
    "Hola",
    "Hallo",
    "Bonjour",
    "Best",
    "Regards",
    "Cheers",
    "Saludos",
    "Gracias",
    "Danke",
    "Merci",
    "Order",
    "Pic",
    "Video",
    "Sent",
    "Mit",
    "Viele",
    "Un",
    "Bonne",
    "Cordialement",
    "Love",
    "Also",
    "Update",
    "Any",
    "Thx",
    "Ta",
    "Groeten",
    "Yes",
    "No",
    "Great",
    "Perfect",
    "Done",
    "Sure",
    "Good",
}


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


def _phone(match: re.Match) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if not 9 <= len(digits) <= 15 or DATE_LIKE.match(text.strip()):
        return text
    return "[PHONE]"


def _names_in(text: str) -> set[str]:
    """Names people give in greetings, introductions, thanks and signatures."""
    found = set()
    for pattern in (INTRO, SALUTATION, THANKS, END_SIGNATURE):
        found.update(match.group(1) for match in pattern.finditer(text))
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in lines[-3:] if len(lines) > 1 else []:
        match = SIGNATURE_LINE.match(line)
        if match and len(line.split()) <= 6:
            found.add(match.group(1))
    return {
        part
        for name in found
        for part in name.split()
        if len(part) > 1 and not part.endswith(".") and part not in NOT_NAMES
    }


def _scrub_names(text: str, names: set[str]) -> str:
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![\w\[]){re.escape(name)}(?![\w\]])", "[NAME]", text)
    return re.sub(r"\[NAME\](?:\s+\[NAME\])+", "[NAME]", text)


def redact(text: str, names: tuple[str, ...] = ()) -> str:
    """Return `text` with personal data replaced by markers.

    `names` are full names known to belong to people (e.g. the ticket's customer).
    """
    return redact_all([text], names)[0]


def redact_all(texts: list[str], names: tuple[str, ...] = ()) -> list[str]:
    """Redact related texts together (a ticket's subject and messages).

    A name found in one message ("Hi Dana!") is removed from all of them, so the
    signature of another message cannot give it away.
    """
    cleaned = []
    for text in texts:
        text = EMAIL.sub("[EMAIL]", text)
        text = CARD.sub(_card, text)
        text = PHONE.sub(_phone, text)
        text = ADDRESS.sub("[ADDRESS]", text)
        text = ADDRESS_EU.sub("[ADDRESS]", text)
        text = POSTCODE_UK.sub("[ADDRESS]", text)
        cleaned.append(text)
    known = {part for name in names for part in name.split() if len(part) > 1}
    for text in cleaned:
        known |= _names_in(text)
    return [_scrub_names(text, known) for text in cleaned]
