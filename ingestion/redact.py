"""Remove personal data from text before it is embedded, logged or cited.

Emails, phone numbers, card numbers (Luhn-checked), order numbers, tracking
numbers, street addresses (also partial ones: a house number and street, a
postcode next to a city, a PO box) and the names people give in greetings,
introductions and sign-offs become markers such as [EMAIL], [ORDER], [TRACKING]
and [ADDRESS]. A past ticket is shown to other customers' conversations, so the
order and tracking numbers in it are another customer's; dates and prices stay.

Every pattern is bounded (length caps inside the patterns, possessive quantifiers,
lookbehinds that allow one attempt per word), so scanning is linear in the text's
length, and a text is cut to MAX_REDACT_CHARS before redaction: hostile input cannot
make ingestion spend seconds per record.
"""

from __future__ import annotations

import re

# Longer texts are cut to this many characters before redaction (at a space when
# one is near), and the rest is dropped: never passed on unredacted. A ticket
# message is a few hundred characters, and the embedding model reads only about the
# first 1,000 of a chunk.
MAX_REDACT_CHARS = 50_000
TRUNCATED = " […]"

# One attempt per run of address characters, every part capped (RFC 5321 lengths).
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}+@[\w-]{1,63}+(?:\.[\w-]{1,63}+){1,8}+")
CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
PHONE = re.compile(
    r"(?<![\w-])(?:\+\d{1,3}[\s.-]?(?:\(\d{1,5}\)[\s.-]?|\d{1,5}[\s.-])|\(\d{2,5}\)[\s.-]?"
    r"|\d{2,5}[\s.-])\d{3,4}(?:[\s.-]?\d{2,4}){1,2}(?![\w-])"
    r"|(?<![\w+-])\+\d{8,15}(?![\w-])"
)
DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# The words before a bare order number ("order no. 1001", "Bestellung Nr. 1001"); the
# agent recognises order numbers with the same words.
ORDER_WORDS = r"(?:order|bestellung|pedido|commande|ordine|bestelling)"
ORDER_LABEL = r"(?:no\.?|nr\.?|number|num[eé]ro|n[º°o]\.?)"
ORDER_LEAD = rf"\b{ORDER_WORDS}(?:\s{{1,3}}{ORDER_LABEL})?\s{{0,3}}[:#]?\s{{0,3}}"
# Order numbers such as KC-10042 (also KC-10042-2), not the product code in "KC-BU-100";
# Shopify's "#1001" and a number after the word order, but not a price or a year.
ORDER = re.compile(
    r"(?<![\w-])[A-Z]{2,4}-\d{3,8}(?!\d)|(?<![&#])#\s?\d{3,10}(?!\d)"
    rf"|(?P<lead>(?i:{ORDER_LEAD}))\d{{3,10}}(?!\d)"
)


def _order(match: re.Match) -> str:
    # "order number: 1001" keeps its words; only the number goes.
    return (match.group("lead") or "") + "[ORDER]"


# Carrier-style tracking numbers: UPS 1Z…, DHL's 10 digits, USPS's 20-22 digits, and
# any other 10-30 letters and digits with at least eight digits (a discount code such
# as SPRING2026 has fewer). Card numbers are replaced first, so they stay [CARD].
TRACKING = re.compile(r"(?<![\w-])(?=(?:[A-Za-z]{0,30}\d){8})[A-Za-z0-9]{10,30}+(?![\w-])")
# Written in groups ("1Z 999 AA1 01 2345 6784", "9400 1000 0000 0000 0000 00"): replaced
# before the card and phone patterns can take a part of them (these have more digits
# than a card number).
TRACKING_GROUPS = re.compile(
    r"(?<![\w-])(?:1Z(?:[ -]?[A-Z0-9]){16}|\d{4}(?:[ -]\d{4}){4,6}(?:[ -]\d{1,3})?)(?![\w-])"
)

STREET_TYPES = (
    r"St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Ln|Lane|Dr|Drive|Way|Ct|Court|Pl|Place|"
    r"Ter|Terrace|Hwy|Highway|Pkwy|Parkway|Sq|Square|Cir|Circle|Loop|Crescent|Cres|Close|"
    r"Grove|Gardens|Gdns|Mews|Row|Walk|Rise"
)
US_STATES = (
    r"AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|"
    r"NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s{1,2}\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z]\s?\d[A-Z]\d"
_POSTCODE = rf"(?:\d{{5}}(?:-\d{{4}})?|{_UK_POSTCODE}|{_CA_POSTCODE}|\d{{4}}\s?[A-Z]{{2}}|\d{{4}})"
# A town: one to three capitalised words ("Portland", "San Jose", "Saint-Denis").
_CITY_WORD = r"[A-ZÀ-Ý](?:[^\W\d_]|['’.-]){1,30}+(?!\w)"
_CITY = rf"(?<![\w'’.-]){_CITY_WORD}(?:[ -]{_CITY_WORD}){{0,2}}"
_TOWN = r"[A-ZÀ-Ý][a-zß-ÿ][\wÀ-ÿ'’-]{0,30}+"
_UNIT = r"(?:(?:Apt|Apartment|Unit|Suite|Ste|Flat)\b\.?|#)\s{0,2}[\w-]{1,10}+"
# What may follow a street: unit, town, (province), state, postcode.
_TAIL = (
    rf"(?:,?\s{{1,3}}{_UNIT})?"
    rf"(?:,\s{{0,3}}{_CITY}(?:\s{{0,2}}\([^()\n]{{1,30}}\))?)?"
    rf"(?:,?\s{{1,3}}(?:{US_STATES})\b)?"
    rf"(?:,?\s{{1,3}}{_POSTCODE}\b(?:[^\S\n]{{1,3}}{_TOWN})?)?"
)
# "1432 SE Belmont St, Portland, OR 97214", "Apt 4B, 512 Edgewood Ave NE".
ADDRESS = re.compile(
    rf"(?:(?<!\w){_UNIT},?\s{{1,3}})?\b\d{{1,6}}[A-Za-z]?\s{{1,3}}(?:[NSEW]{{1,2}}\.?\s{{1,3}})?"
    rf"(?:[A-Z0-9][\w'.-]{{0,30}}\s{{1,3}}){{1,4}}(?:{STREET_TYPES})\b\.?"
    rf"(?:\s{{1,3}}[NSEW]{{1,2}}\b\.?)?{_TAIL}"
)
# Number first, Romance style: "4521 rue Saint-Denis", "12, rue de la Paix".
ADDRESS_NUMBER_FIRST = re.compile(
    r"\b\d{1,5}(?:\s?(?:bis|ter))?,?\s{1,3}(?i:rue|avenue|av\.|boulevard|bd|chemin|impasse|"
    r"all[ée]e|quai|cours|place|route)\s{1,3}(?:(?:de la|de l'|des|du|de|la|le|l')\s{0,3}){0,2}"
    rf"[A-ZÀ-Ý][\wÀ-ÿ'’-]{{1,30}}+(?:[ -][A-ZÀ-Ý][\wÀ-ÿ'’-]{{1,30}}+){{0,3}}{_TAIL}"
)
# Continental style: "Hauptstraße 12, 10115 Berlin", "Calle Mayor 5, 28013 Madrid".
ADDRESS_EU = re.compile(
    r"(?<![\w-])(?:(?:Calle|Avenida|Rua|Rue|Via|Viale|Piazza|Plaza|Praça|Carrer)\s{1,3}"
    r"(?:[\wÀ-ÿ'-]{1,30}+\s{1,3}){0,3}\d{1,5}[a-z]?"
    r"|[A-ZÄÖÜ][\wäöüß-]{0,40}?(?:[sS]traße|[sS]trasse|[sS]tr\.|weg|platz|allee|gasse|ring|"
    r"straat|laan|gracht|plein)\s{1,3}\d{1,5}[a-z]?)"
    r"(?:,\s{0,3}\d{4,5}(?:\s?[A-Z]{2})?\s{1,3}[A-ZÄÖÜ][\wäöüßÀ-ÿ-]{1,40}+)?"
)
PO_BOX = re.compile(
    rf"\b(?:P\.?\s?O\.?\s?Box|Postfach|Apartado(?: de correos)?|Casilla(?: postal)?|"
    rf"Bo[iî]te postale|Caixa postal)\s{{0,3}}\d{{1,8}}{_TAIL}",
    re.IGNORECASE,
)
# A postcode next to a town, without the street: "Portland, OR 97214", "10115 Berlin",
# "Edinburgh EH9 1HG", "Montréal (Québec) H2J 2L1". A four-digit code (a year, too)
# counts only where an address line starts: at a line start or after a comma.
POSTCODE_CITY = re.compile(
    rf"(?:{_CITY},?\s{{1,3}})?(?:{US_STATES})\s{{1,2}}\d{{5}}(?:-\d{{4}})?\b"
    rf"|(?:{_CITY}\s{{0,2}}(?:\([^()\n]{{1,30}}\)\s{{0,2}})?,?\s{{1,3}})?"
    rf"\b(?:{_UK_POSTCODE}|{_CA_POSTCODE})\b"
    rf"|(?<![\w$€£.,-])\d{{5}}(?:\s?[A-Z]{{2}})?\s{{1,3}}{_TOWN}"
    rf"|(?m:(?:^|(?<=,)|(?<=, )))\d{{4}}(?:\s?[A-Z]{{2}})?\s{{1,3}}{_TOWN}"
)
_ADDRESSES = (ADDRESS, ADDRESS_NUMBER_FIRST, ADDRESS_EU, PO_BOX, POSTCODE_CITY)
_RUNS_OF_ADDRESS = re.compile(r"\[ADDRESS\](?:[\s,]{0,4}\[ADDRESS\])+")

NAME = r"[A-ZÀ-Ý][A-Za-zÀ-ÿ'’-]{0,40}[a-zà-ÿ]"
FULL_NAME = rf"{NAME}(?:\s{{1,5}}+(?:{NAME}|[A-Z]\.)){{0,2}}"
TITLE = r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Frau|Herr|Sr|Sra|Mme|M)\.?\s++)?"
INTRO = re.compile(
    r"(?i:\b(?:my name is|name's|his name is|her name is|this is|i am|i'm|me llamo|"
    r"mi nombre es|soy|ich bin|ich heiße|mein name ist|je suis|je m'appelle|moi c'est))"
    rf"\s++{TITLE}({FULL_NAME})"
)
SALUTATION = re.compile(
    r"(?m)^[^\S\n]*+(?i:hi|hiya|hello|hey|dear|hola|buenos días|buenas|hallo|guten tag|liebe[rs]?|"
    r"sehr geehrte[rs]?|bonjour|salut|good (?:morning|afternoon|evening))"
    rf"[,]?\s++{TITLE}({FULL_NAME})\s*+[,!.:;–—-]"
)
THANKS = re.compile(
    r"(?i:\b(?:thanks|thank you|thx|cheers|sorry|gracias|mil gracias|danke|merci|congrats))"
    rf"(?:\s++for [^,.!\n]{{1,40}})?,?\s++({FULL_NAME})\s*+(?:[,!.]|$)"
)
# The short line(s) that end a message: "Dana", "- George", "Ta, Siobhan", "Ana Sofía Ruiz".
SIGNATURE_LINE = re.compile(
    rf"^\s*+(?:[-–—]+\s*+)?(?:[\wÀ-ÿ!' ]{{1,25}},\s*+)?({FULL_NAME})\s*+[.!]?\s*+(?:,.*)?$"
)

# A name closing a one-paragraph message: "…nothing arrives. Emily Zhang, [EMAIL]".
# Every part is bounded, so only the text's last SIGNATURE_TAIL characters are searched.
END_SIGNATURE = re.compile(
    r"(?:[.!?)]|[^\w\s,'’])\s{1,20}+(?:[-–—]\s{0,5}+)?(?:[\w ]{1,20},\s{0,5}+)?"
    rf"({FULL_NAME})\s{{0,20}}+(?:,[^.!?]{{0,200}}+)?$"
)
SIGNATURE_TAIL = 512
# More distinct names than any conversation gives means junk or hostile text.
MAX_NAMES = 100
NAME_SHAPED = re.compile(rf"(?<![\w\[]){NAME}(?![\w\]])")

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
    "I'm",
    "I’m",
    "I've",
    "I'd",
    "I'll",
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


def _cap(text: str) -> str:
    """`text` cut to MAX_REDACT_CHARS, at a space when one is near the limit."""
    if len(text) <= MAX_REDACT_CHARS:
        return text
    cut = text.rfind(" ", MAX_REDACT_CHARS - 200, MAX_REDACT_CHARS)
    return text[: cut if cut > 0 else MAX_REDACT_CHARS] + TRUNCATED


def _names_in(text: str) -> set[str]:
    """Names people give in greetings, introductions, thanks and signatures."""
    found = set()
    for pattern in (INTRO, SALUTATION, THANKS):
        found.update(match.group(1) for match in pattern.finditer(text))
    closing = END_SIGNATURE.search(text.rstrip()[-SIGNATURE_TAIL:])
    if closing:
        found.add(closing.group(1))
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in lines[-3:] if len(lines) > 1 else []:
        if len(line.split()) > 6:
            continue
        match = SIGNATURE_LINE.match(line)
        if match:
            found.add(match.group(1))
    return {
        part
        for name in found
        for part in name.split()
        if len(part) > 1 and not part.endswith(".") and part not in NOT_NAMES
    }


def _not_a_name(match: re.Match) -> str:
    return match.group() if match.group() in NOT_NAMES else "[NAME]"


def _scrub_names(text: str, names: set[str]) -> str:
    if not names:
        return text
    if len(names) > MAX_NAMES:
        # Junk or hostile text: every name-shaped word goes, instead of compiling a
        # pattern of thousands of names.
        text = NAME_SHAPED.sub(_not_a_name, text)
    else:
        # One pass over the text, longest name first where several start at one place.
        alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
        text = re.sub(rf"(?<![\w\[])(?:{alternatives})(?![\w\]])", "[NAME]", text)
    return re.sub(r"\[NAME\](?:\s+\[NAME\])+", "[NAME]", text)


def redact(text: str, names: tuple[str, ...] = ()) -> str:
    """Return `text` with personal data replaced by markers.

    `names` are full names known to belong to people (e.g. the ticket's customer).
    """
    return redact_all([text], names)[0]


def redact_all(texts: list[str], names: tuple[str, ...] = ()) -> list[str]:
    """Redact related texts together (a ticket's subject and messages).

    A name found in one message ("Hi Dana!") is removed from all of them, so the
    signature of another message cannot give it away. Each text is first cut to
    MAX_REDACT_CHARS.
    """
    cleaned = []
    for text in texts:
        text = _cap(text)
        text = EMAIL.sub("[EMAIL]", text)
        text = TRACKING_GROUPS.sub("[TRACKING]", text)
        text = CARD.sub(_card, text)
        text = PHONE.sub(_phone, text)
        text = ORDER.sub(_order, text)
        text = TRACKING.sub("[TRACKING]", text)
        for pattern in _ADDRESSES:
            text = pattern.sub("[ADDRESS]", text)
        text = _RUNS_OF_ADDRESS.sub("[ADDRESS]", text)
        cleaned.append(text)
    known = {part for name in names for part in name.split() if len(part) > 1}
    for text in cleaned:
        known |= _names_in(text)
    return [_scrub_names(text, known) for text in cleaned]
