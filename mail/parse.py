"""Inbound mail (RFC 5322 bytes) → `ParsedMail`: who wrote, to whom, in reply to what, the
new text, and whether the mail may be answered at all.

A pure module: bytes in, a pydantic model out, no database, settings or network. Whatever
arrives, `parse` returns a `ParsedMail` or raises `Unparseable` with a one-line reason.

- Headers are read with `email.policy.default`; an address list that policy cannot parse is
  decoded from its raw text instead (RFC 2047 words included), so one broken header never
  loses the mail. Message-IDs are read from the raw text: the policy drops ids it finds
  malformed. Header fields longer than any client writes are refused before parsing.
- Bodies in any charset: the declared one (with the web's supersets: Shift_JIS is read as
  Windows-31J, ISO-8859-1 as Windows-1252), then UTF-8, then Windows-1252, then the declared
  one with replacement characters. Nothing raises on a wrong or unknown label.
- `text` is the new part only: mail-parser-reply cuts quoted history (the "On ... wrote:"
  lines it knows, in English, German, French, Spanish, Italian, Japanese and more, two of
  them corrected here; Outlook's header blocks) and signatures. Forwards keep the forwarded
  mail: the customer sends it for us to read.
- `loop` says why a mail must not be answered automatically (RFC 3834 and common practice);
  bounces carry the Message-ID of our mail that failed, so the desk can mark its address.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum
from html.parser import HTMLParser

from mailparser_reply.constants import QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage
from pydantic import BaseModel


class Unparseable(ValueError):
    """The bytes are not a mail we can read; str(error) is a one-line reason."""


class LoopReason(StrEnum):
    """Why a mail must never be answered automatically."""

    AUTO_SUBMITTED = "auto_submitted"
    PRECEDENCE = "precedence"
    AUTOREPLY_HEADER = "autoreply_header"
    LIST = "list"
    NULL_SENDER = "null_sender"
    ROBOT_SENDER = "robot_sender"
    BOUNCE = "bounce"
    OWN_MAIL = "own_mail"  # sent by this desk (set by the desk, which knows its address)


class Bounce(BaseModel):
    original_message_id: str | None
    recipient: str | None
    status: str | None
    diagnostic: str | None
    permanent: bool


class Attachment(BaseModel):
    filename: str | None
    content_type: str
    size: int


class ParsedMail(BaseModel):
    message_id: str
    in_reply_to: list[str]
    references: list[str]
    from_address: str
    from_name: str | None
    reply_to: str | None
    to: list[str]
    subject: str
    date: datetime | None
    text: str
    full_text: str
    html_only: bool
    attachments: list[Attachment]
    loop: LoopReason | None
    bounce: Bounce | None


# Far above what real mail carries (Microsoft 365's longest fields are about 10 kB, a MIME
# part's about 1 kB), far below what makes the stdlib header parser slow; see
# _check_header_sizes.
MAX_HEADER_FIELD = 16 * 1024
MAX_PART_HEADER_FIELD = 4 * 1024
MAX_HEADER_BYTES = 128 * 1024
# The stdlib parser matches every line against the boundary of each enclosing multipart:
# its work is lines x nesting. Mail clients nest a few levels (a forwarded mail with its
# alternatives and attachments: about five); a mail with more multiparts than this is
# refused before it is parsed.
MAX_MULTIPARTS = 50
MULTIPART_FIELD = re.compile(rb"content-type:\s*multipart/", re.IGNORECASE)
HEADER_FIELD_START = re.compile(rb"[!-9;-~]+:")
BOUNDARY_LINE = re.compile(rb"^--[^\n]*\n", re.MULTILINE)

# Header lines that name the mailbox a mail was delivered to: reply+<token>@ shows up here
# even when the customer's client rewrote To.
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
# Set by autoresponders (X-Autoreply, X-Autorespond) or by senders asking Exchange not to
# answer (X-Auto-Response-Suppress): present at all, the mail is not a person's question.
AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")

# Labels whose text is written by Windows in the label's superset, read as browsers read
# them (WHATWG): "Shift_JIS" with ① or ～, "ISO-8859-1" with € or curly quotes.
CHARSET_SUPERSETS = {
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x_sjis": "cp932",
    "iso_8859_1": "cp1252",
    "latin1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
}

ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+")
MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
MAX_ID = 250
# Fields of one address header read (From, To, Cc, …): a mail client writes one of each.
MAX_ADDRESS_FIELDS = 10
MAX_ADDRESS = 320
ROBOT_LOCAL_PART = re.compile(
    r"(?:mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply)(?:[-_.+].*)?",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returned to sender|delivery status notification|failure notice|"
    r"delivery fail|mail delivery failed|could not be delivered|delivery has failed",
    re.IGNORECASE,
)
# Exim and qmail copy the failed mail into the notice below a line like these.
BOUNCE_COPY_MARKER = re.compile(r"^-{2,}.*\bcopy of the message\b", re.IGNORECASE | re.MULTILINE)
INLINE_MESSAGE_ID = re.compile(r"^Message-I[Dd]:\s*<([^<>\s]+)>", re.MULTILINE | re.IGNORECASE)
DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
DSN_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc|転送)\s*[:：]", re.IGNORECASE)
FORWARD_MARKER = re.compile(
    r"^(?:-{5,} ?(?:Forwarded [Mm]essage|Weitergeleitete Nachricht|"
    r"Message transféré|Mensaje reenviado) ?-{5,}|Begin forwarded message:|"
    r"Anfang der weitergeleiteten (?:E-Mail|Nachricht):|Début du message réexpédié :)\s*$",
    re.MULTILINE,
)
# The quote headers and signatures of these languages are looked for in every mail: a
# German customer may write from an English Outlook. Danish and Swedish are left out:
# their sign-offs ("Tak", "Kh", "/Anna") would cut ordinary lines.
REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "ja", "zh", "ko")
# Two of mail-parser-reply's (1.36) quote headers never match Gmail's: the French one
# refuses a line with "le " after the date, as its lookahead ignores case ("Kettle & Crane
# Support", "Michelle"); the Spanish one wants two spaces before "escribió". The same
# patterns, with the repeated "Le"/"El" matched in capitals only.
WROTE_HEADER_FIXES = {
    "fr": rf"^(?!Le.*\b(?-i:Le)\s.+?a écrit[a-zA-Z0-9.:;<>()&@ -]*:)"
    rf"({QUOTED_MATCH_INCLUDE}Le\s.+?a écrit[a-zA-Z0-9.:;<>()&@ -]*:)$",
    "es": rf"^(?!El\s.+\b(?-i:El)\s.+\sescribió:)({QUOTED_MATCH_INCLUDE}El\s.+\sescribió:)$",
}
# A line of prose: four words or more, ending like a sentence. A sign-off block has none
# ("Best regards," / "Marcus Okafor" / "+44 20 7946 0018"), so a "signature" holding one
# is a sentence that merely starts with "Thanks," and stays.
PROSE_LINE = re.compile(r"^(?:\S+[^\S\n]+){3,}\S*[.?!。？！]$", re.MULTILINE)
# The library's patterns backtrack on long lines; see _library_view.
MAX_SCANNED_LINE = 200
MAX_SCANNED_CHARS = 20_000
SIGNATURE_DELIMITER = re.compile(r"^(?:> ?)*(?:--|__)\s*$", re.MULTILINE)

# Line breaks around an element: 2 leaves a blank line (a paragraph), 1 starts a new line.
BLOCK_BREAKS = {
    **dict.fromkeys(("p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre"), 2),
    **dict.fromkeys(("blockquote", "hr"), 2),
    **dict.fromkeys(("div", "li", "tr", "dt", "dd", "section", "article", "header", "footer"), 1),
}
# Elements whose text a reader never sees. Not <head>: a mail that never closes it would
# lose its whole body.
HIDDEN_TAGS = ("script", "style", "title", "template")


def parse(raw: bytes, *, max_bytes: int = 10 * 1024 * 1024) -> ParsedMail:
    """Read one mail; raise `Unparseable` with a one-line reason when it cannot be read."""
    if not raw.strip():
        raise Unparseable("empty message")
    if len(raw) > max_bytes:
        raise Unparseable(f"message is {len(raw)} bytes, over the limit of {max_bytes}")
    # The stdlib parser ends a line at CRLF, LF or a bare CR alike: so do the guard and the
    # parser here, reading the same lines (a boundary behind a bare CR once hid a header).
    lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    _check_header_sizes(lines)
    try:
        return _parse(lines, raw=raw)
    except Unparseable:
        raise
    except Exception as error:
        # The stdlib parser has crash bugs on hostile input; such a mail goes to quarantine
        # with its reason instead of stopping the mailbox poller.
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
        raise Unparseable(f"unreadable message: {reason}") from error


def reply_address(mail: ParsedMail, *, shop_domain: str | None) -> str:
    """Where an answer goes: From, as for threading. Reply-To only behind a sender no person
    reads (no-reply@, a form service) or the shop's own domain (its contact form), where it
    names the customer: anyone may write any Reply-To, and honouring a person's would let
    them have the shop mail a third party."""
    local, _, domain = mail.from_address.partition("@")
    form = ROBOT_LOCAL_PART.fullmatch(local) or (shop_domain and domain == shop_domain.lower())
    return mail.reply_to if mail.reply_to and form else mail.from_address


def _parse(lines: bytes, *, raw: bytes) -> ParsedMail:
    message = BytesParser(policy=policy.default).parsebytes(lines)
    if not message.keys():
        raise Unparseable("no header section: not an RFC 5322 message")
    senders = _addresses(message, "From", strict=True)
    if not senders:
        raise Unparseable("no usable From address")
    from_name, from_address = senders[0]
    subject = " ".join(_header(message, "Subject").split())

    plain, html, attachments = _bodies(message)
    full_text = "\n\n".join(plain or [_html_to_text(part) for part in html]).strip()
    html_only = not plain and bool(full_text)
    bounce = _bounce(message, from_address, subject, full_text)
    ids = _message_ids(message, "Message-ID")
    reply_to = _addresses(message, "Reply-To", strict=True)
    return ParsedMail(
        message_id=ids[0] if ids else _synthesized_id(raw),
        in_reply_to=_message_ids(message, "In-Reply-To"),
        references=_message_ids(message, "References"),
        from_address=from_address,
        from_name=from_name or None,
        reply_to=reply_to[0][1] if reply_to else None,
        to=_recipients(message),
        subject=subject,
        date=_date(message),
        text=_new_text(full_text, subject),
        full_text=full_text,
        html_only=html_only,
        attachments=attachments,
        loop=_loop_reason(message, from_address, reply_to[0][1] if reply_to else None, bounce),
        bounce=bounce,
    )


def _check_header_sizes(raw: bytes) -> None:
    """Refuse header fields and nesting no mail client writes, before any parser reads them.

    The stdlib header parser takes superlinear time and memory on long fields (40,000
    encoded words in one Subject: 18 s and 10 GB), and it runs while the message is
    parsed. Header blocks start the message and follow MIME boundary lines ("--...").
    """
    total = multiparts = 0
    for start in (0, *(line.end() for line in BOUNDARY_LINE.finditer(raw))):
        limit = MAX_HEADER_FIELD if start == 0 else MAX_PART_HEADER_FIELD
        field = 0
        position = start
        while position < len(raw):
            end = raw.find(b"\n", position)
            end = len(raw) if end < 0 else end + 1
            line = raw[position:end]
            if line[:1] in (b" ", b"\t") and field:
                field += len(line)  # a folded continuation
            elif HEADER_FIELD_START.match(line) or (position == 0 and line.startswith(b"From ")):
                field = len(line)
                multiparts += bool(MULTIPART_FIELD.match(line))
                if multiparts > MAX_MULTIPARTS:
                    raise Unparseable(f"more than {MAX_MULTIPARTS} multipart parts")
            else:
                break
            total += len(line)
            if field > limit:
                raise Unparseable(f"a header field is over {limit} bytes")
            if total > MAX_HEADER_BYTES:
                raise Unparseable(f"the header fields are over {MAX_HEADER_BYTES} bytes")
            position = end


def _synthesized_id(raw: bytes) -> str:
    # The same bytes fetched twice must get the same id, or the desk would store them twice.
    return f"missing-{hashlib.sha256(raw).hexdigest()[:32]}@support-agent.invalid"


# --- headers ---------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text safe to store: no NUL (PostgreSQL refuses it), no lone surrogates. Raw 8-bit
    header bytes reach us as surrogate escapes; they are read as UTF-8."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
    return data.decode("utf-8", "replace").replace("\x00", "")


def _raw_values(message: Message, name: str) -> list[str]:
    """A header's values as received, undecoded, unfolded, non-ASCII bytes read as UTF-8."""
    wanted = name.lower()
    return [
        " ".join(value.encode("ascii", "surrogateescape").decode("utf-8", "replace").split())
        for key, value in message.raw_items()
        if key.lower() == wanted
    ]


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words in a raw header value, decoded as far as they allow."""
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError):
        return value


def _header(message: Message, name: str) -> str:
    """One unstructured header's decoded text, "" when absent. The policy reads broken
    encoded words as far as they go and never raises on these (it does on address lists and
    Message-IDs, read by _addresses and _message_ids)."""
    value = message.get(name)
    return "" if value is None else _clean(str(value))


def _addresses(message: Message, name: str, *, strict: bool = False) -> list[tuple[str, str]]:
    """(display name, lower-cased addr-spec) of every usable address in a header.

    `strict` (who a mail is from, and where its answer goes) refuses an address list the
    standard parser cannot read: such a sender is quarantined, never guessed.
    """
    # The first few fields of the name only: each costs the header parser kilobytes, and a
    # mail of thousands of To lines would cost hundreds of MB (a fuzzed mail: 28 MB/100 KB).
    fields = [value for key, value in message.raw_items() if key.lower() == name.lower()]
    try:
        pairs = [
            (address.display_name, address.addr_spec)
            for value in fields[:MAX_ADDRESS_FIELDS]
            for address in message.policy.header_fetch_parse(name, value).addresses
        ]
    except Exception as error:
        if strict:
            reason = " ".join(str(error).split())[:200]
            raise Unparseable(f"the {name} address cannot be read: {reason}") from None
        # policy.default raises on some malformed lists (IndexError, AttributeError for
        # "support@shop.example, orders@"): the forgiving older parser splits the raw list,
        # and only then are the names decoded, so an encoded word cannot add an address.
        pairs = [
            (_decode_words(display_name), addr_spec)
            for display_name, addr_spec in getaddresses(
                _raw_values(message, name)[:MAX_ADDRESS_FIELDS]
            )
        ]
    usable = []
    for display_name, addr_spec in pairs:
        address = _ascii_address(addr_spec.strip().lower())
        if address and ADDRESS.fullmatch(address):
            usable.append((_clean(display_name).strip(), address))
    return usable


def _ascii_address(address: str) -> str | None:
    """The address as it can be stored and written to: an internationalised domain in its
    IDNA form; None for a non-ASCII local part (no SMTP server here takes SMTPUTF8)."""
    # Raw UTF-8 in a header (RFC 6532) reaches us as surrogate escapes.
    address = address.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    local, _, domain = address.rpartition("@")
    if not local.isascii() or len(address) > MAX_ADDRESS:
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return f"{local}@{domain}"


def _recipients(message: Message) -> list[str]:
    found = (address for name in RECIPIENT_HEADERS for _, address in _addresses(message, name))
    return list(dict.fromkeys(found))


def _message_ids(message: Message, name: str) -> list[str]:
    ids: list[str] = []
    for value in _raw_values(message, name):
        # Some clients drop the angle brackets; a bare token with an @ is still an id.
        ids += MESSAGE_ID.findall(value) or [token for token in value.split() if "@" in token]
    # An id that no store column holds, or with control characters, names nothing we sent.
    usable = [i for i in ids if len(i) <= MAX_ID and i.isprintable() and i.isascii()]
    return list(dict.fromkeys(usable))


def _date(message: Message) -> datetime | None:
    raw = _raw_values(message, "Date")
    if not raw:
        return None
    try:
        date = parsedate_to_datetime(raw[0])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # A date without a zone ("-0000") is taken as UTC.
    return date.astimezone(UTC).replace(tzinfo=None) if date.tzinfo else date


# --- bodies ----------------------------------------------------------------------------


def _bodies(message: Message) -> tuple[list[str], list[str], list[Attachment]]:
    """The text/plain and text/html bodies (in order) and the attachments of a mail.

    In multipart/alternative the text/plain branch is read; the other branches give HTML to
    fall back on (when the plain text is empty) and their attachments (inline images). In
    multipart/report only the first part is the message; the rest is the machine-readable
    report and the returned mail.
    """
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    with_plain = _with_plain_text(message)
    # Depth-first with an explicit stack: a hostile mail can nest parts arbitrarily deep.
    # The flag: whether this part's text/plain is the body (not another alternative's).
    stack: list[tuple[Message, bool]] = [(message, True)]
    while stack:
        part, preferred = stack.pop()
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            attachments.append(_attachment(part, content_type))
        elif part.is_multipart():
            children = list(part.iter_parts())
            if content_type == "multipart/report":
                children = children[:1]
            chosen = (
                _alternative(children, with_plain)
                if content_type == "multipart/alternative"
                else None
            )
            stack += [
                (child, preferred and (chosen is None or child is chosen))
                for child in reversed(children)
            ]
        elif content_type == "text/plain" and not _is_attachment(part):
            if preferred:
                plain.append(_text(part))
        elif content_type == "text/html" and not _is_attachment(part):
            html.append(_text(part))
        else:
            attachments.append(_attachment(part, content_type))
    return [text for text in plain if text.strip()], html, attachments


def _with_plain_text(message: Message) -> set[int]:
    """The ids of the parts that hold a text/plain part (themselves included), found in one
    pass: asking each alternative's subtree anew at every level costs the cube of the depth."""
    found: set[int] = set()
    order: list[tuple[Message, Message | None]] = []
    stack: list[tuple[Message, Message | None]] = [(message, None)]
    while stack:  # parents before children; read backwards, children before parents
        part, parent = stack.pop()
        order.append((part, parent))
        if part.is_multipart():
            stack += [(child, part) for child in part.iter_parts()]
    for part, parent in reversed(order):
        if part.get_content_type() == "text/plain" or id(part) in found:
            found.add(id(part))
            if parent is not None:
                found.add(id(parent))
    return found


def _alternative(children: list[Message], with_plain: set[int]) -> Message | None:
    """The branch of a multipart/alternative to read: the one with text/plain, else the last."""
    for child in children:
        if id(child) in with_plain:
            return child
    return children[-1] if children else None


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or _filename(part) is not None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # a malformed RFC 2231 parameter
        return None
    return _clean(name) if name else None


def _attachment(part: Message, content_type: str) -> Attachment:
    payload = part.get_payload()
    if isinstance(payload, list):  # an attached mail: its size as sent
        size = sum(len(inner.as_bytes(policy=policy.compat32)) for inner in payload)
    else:
        size = len(part.get_payload(decode=True) or b"")
    return Attachment(filename=_filename(part), content_type=content_type, size=size)


def _text(part: Message) -> str:
    data = part.get_payload(decode=True) or b""
    text = _decode(data, part.get_content_charset()).replace("\r\n", "\n").replace("\r", "\n")
    if part.get_param("format", "").lower() == "flowed":
        text = _unflow(text, delete_space=part.get_param("delsp", "").lower() == "yes")
    return _clean(text)


def _decode(data: bytes, charset: str | None) -> str:
    label = (charset or "utf-8").lower().replace("-", "_")
    declared = CHARSET_SUPERSETS.get(label, label)
    # 7-bit ISO-2022 text "decodes" as UTF-8 into escape sequences; it only gets replacement
    # characters for what its codec lacks (Windows' ① or ㈱ in ISO-2022-JP).
    stateful = "2022" in declared and data.isascii()
    for encoding in (declared,) if stateful else (declared, "utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return data.decode(declared, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _unflow(text: str, *, delete_space: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676)."""
    lines: list[list] = []  # [quote depth, text, ends soft]
    for line in text.split("\n"):
        content = line.lstrip(">")
        depth = len(line) - len(content)
        content = content.removeprefix(" ")  # space-stuffing
        soft = content.endswith(" ") and content != "-- "
        if soft and delete_space:
            content = content[:-1]
        if lines and lines[-1][2] and lines[-1][0] == depth:
            lines[-1][1] += content
            lines[-1][2] = soft
        else:
            lines.append([depth, content, soft])
    return "\n".join(
        f"{'>' * depth} {content}".rstrip() if depth else content for depth, content, _ in lines
    )


class _TextWriter:
    """Plain text written block by block. A block asks for line breaks rather than adding
    them, so nested blocks (<div><div>, </p><p>) make one break, not several."""

    def __init__(self) -> None:
        self.lines: list[list] = [[0, ""]]  # [blockquote depth, text]
        self.depth = 0
        self.written = False
        self.trailing_breaks = 0

    def write(self, text: str) -> None:
        line = self.lines[-1]
        if not line[1]:
            text = text.lstrip()
            line[0] = self.depth
        if text:
            line[1] += re.sub(r"\s+", " ", text)
            self.written = True
            self.trailing_breaks = 0

    def line_break(self) -> None:
        self.lines.append([self.depth, ""])
        self.trailing_breaks += 1

    def end_quote(self) -> None:
        self.depth = max(0, self.depth - 1)
        # The line breaks after the quote's last text are outside it.
        for line in self.lines[len(self.lines) - self.trailing_breaks :]:
            line[0] = self.depth

    def ensure_breaks(self, count: int) -> None:
        """At least `count` line breaks since the last text (2: a blank line)."""
        if self.written:
            for _ in range(count - self.trailing_breaks):
                self.line_break()

    def text(self) -> str:
        lines = (" ".join(text.split()) for _, text in self.lines)
        quoted = (
            f"{'> ' * depth}{line}".rstrip() if depth else line
            for (depth, _), line in zip(self.lines, lines, strict=True)
        )
        return re.sub(r"\n{3,}", "\n\n", "\n".join(quoted)).strip()


class _HtmlToText(HTMLParser):
    """HTML as readable text, streamed (no tree: a large or deeply nested mail costs no
    more than its length): paragraphs, line breaks and list items kept, scripts and styles
    dropped, blockquotes marked with "> " like a plain-text quote."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.writer = _TextWriter()
        self.hidden = 0  # inside <script>, <style>, ...

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "br":
            self.writer.line_break()
        else:
            self.writer.ensure_breaks(BLOCK_BREAKS.get(tag, 0))
            if tag == "li":
                self.writer.write("- ")
            elif tag in ("td", "th"):
                self.writer.write(" ")
            elif tag == "blockquote":
                self.writer.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
            return
        if tag == "blockquote":
            self.writer.end_quote()
        self.writer.ensure_breaks(BLOCK_BREAKS.get(tag, 0))

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.writer.write(data)


def _html_to_text(html: str) -> str:
    converter = _HtmlToText()
    converter.feed(html)
    converter.close()
    return converter.writer.text()


# --- the new part of the text ----------------------------------------------------------


def _new_text(full_text: str, subject: str) -> str:
    """The part of the body the sender wrote now: quoted history and signature cut.

    A forward keeps everything: the library would take the forwarded mail's header block for
    quoted history, but the customer sends it for us to read."""
    if FORWARD_SUBJECT.match(subject):
        return full_text
    view, tails = _library_view(full_text)
    message = _reply_parser(view[:MAX_SCANNED_CHARS]).read()
    # Past the scanned part with no quote header found: the new part may go on; keep all.
    if not message.replies or (len(view) > MAX_SCANNED_CHARS and len(message.replies) < 2):
        return full_text
    reply = message.replies[0]
    # A forward marker in the new part (not in old quoted history).
    if FORWARD_MARKER.search(reply.content):
        return full_text
    signature = reply.signatures
    if signature and not SIGNATURE_DELIMITER.match(signature) and PROSE_LINE.search(signature):
        text = reply.full_body
    else:
        text = reply.body
    for placeholder, tail in tails.items():
        text = text.replace(placeholder, tail)
    # Everything looked quoted: keep it all rather than nothing.
    return text.strip() or full_text


class _ReplyMessage(EmailMessage):
    """mail-parser-reply's message with its French and Spanish quote headers corrected."""

    def _get_language_regex(self, language: str, regex_key: str) -> str:
        fixed = WROTE_HEADER_FIXES.get(language) if regex_key == "wrote_header" else None
        return fixed or super()._get_language_regex(language, regex_key)


def _reply_parser(text: str) -> EmailMessage:
    # Hyphen lists are kept: "- 2 × grinder" is an order, not a signature.
    return _ReplyMessage(text, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True)


def _library_view(text: str) -> tuple[str, dict[str, str]]:
    """The text as mail-parser-reply should see it, and the line tails it must not see.

    Its patterns backtrack: a long line costs quadratic time, so each line keeps its first
    MAX_SCANNED_LINE characters (enough for any quote header) and the rest becomes a
    placeholder, put back afterwards. Runs of blank lines become one for the same reason.
    Clients wrap long "Le ... a écrit :" lines; two lines are joined when together they are
    a quote header by the library's own patterns.
    """
    headers = _reply_parser("").HEADER_REGEX
    lines: list[str] = []
    tails: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line and lines and not lines[-1]:
            continue
        if len(line) > MAX_SCANNED_LINE:
            placeholder = f"\ue000{len(tails)}\ue001"
            tails[placeholder] = line[MAX_SCANNED_LINE:]
            line = line[:MAX_SCANNED_LINE] + placeholder
        if lines and lines[-1] and line.endswith((":", "：")) and not lines[-1].endswith(":"):
            joined = lines[-1] + ("" if lines[-1].endswith("<") else " ") + line
            if headers.fullmatch(joined):
                lines[-1] = joined
                continue
        lines.append(line)
    return "\n".join(lines), tails


# --- loops and bounces -----------------------------------------------------------------


def _loop_reason(
    message: Message, from_address: str, reply_to: str | None, bounce: Bounce | None
) -> LoopReason | None:
    if bounce is not None:
        return LoopReason.BOUNCE
    auto_submitted = _header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return LoopReason.AUTO_SUBMITTED
    if _header(message, "Precedence").strip().lower() in ("bulk", "list", "junk"):
        return LoopReason.PRECEDENCE
    if any(name in message for name in AUTOREPLY_HEADERS):
        return LoopReason.AUTOREPLY_HEADER
    if "List-Id" in message or "List-Unsubscribe" in message:
        return LoopReason.LIST
    return_path = _raw_values(message, "Return-Path")
    if return_path and re.fullmatch(r"<\s*>", return_path[0].strip()):
        return LoopReason.NULL_SENDER
    # A contact form sends from no-reply@ with the customer in Reply-To: a person wrote it.
    person = reply_to is not None and not ROBOT_LOCAL_PART.fullmatch(reply_to.split("@")[0])
    if ROBOT_LOCAL_PART.fullmatch(from_address.split("@")[0]) and not person:
        return LoopReason.ROBOT_SENDER
    return None


def _bounce(message: Message, from_address: str, subject: str, text: str) -> Bounce | None:
    """A delivery status notification: a standard DSN (RFC 3464), or the common kinds
    without one (X-Failed-Recipients; MAILER-DAEMON with a bounce subject).

    Only the mail's own report counts: a bounce a customer forwards as an attachment is
    their question about it."""
    if message.get_content_type() == "multipart/report":
        for part in message.iter_parts():
            if part.get_content_type() in DSN_TYPES:
                return _dsn(message, part)
    failed = _addresses(message, "X-Failed-Recipients")
    from_daemon = from_address.split("@")[0].lower() in ("mailer-daemon", "postmaster")
    if not failed and not (from_daemon and BOUNCE_SUBJECT.search(subject)):
        return None
    notice = BOUNCE_COPY_MARKER.split(text, maxsplit=1)[0]
    status = DSN_STATUS.search(notice)
    diagnostic = next(
        (line.strip() for line in notice.splitlines() if status and status.group(1) in line), None
    )
    copied_id = INLINE_MESSAGE_ID.search(text)
    return Bounce(
        original_message_id=copied_id.group(1) if copied_id else _returned_id(message),
        recipient=failed[0][1] if failed else None,
        status=status.group(1) if status else None,
        diagnostic=diagnostic,
        permanent=not (status and status.group(1).startswith("4")),
    )


def _dsn(message: Message, report: Message) -> Bounce | None:
    blocks = [block for block in report.get_payload() if isinstance(block, Message)]
    recipients = blocks[1:]
    actions = [_header(block, "Action").strip().lower() for block in recipients]
    # A report that only says "delivered" or "relayed" is not a bounce.
    if actions and all(action in ("delivered", "relayed", "expanded") for action in actions):
        return None
    # The first failed recipient, else the first one; a report without any reads as empty.
    chosen = next(
        (block for block, action in zip(recipients, actions, strict=True) if action == "failed"),
        recipients[0] if recipients else Message(),
    )
    recipient = _header(chosen, "Final-Recipient") or _header(chosen, "Original-Recipient")
    status = DSN_STATUS.search(_header(chosen, "Status"))
    diagnostic = " ".join(_header(chosen, "Diagnostic-Code").split(";", 1)[-1].split())
    action = _header(chosen, "Action").strip().lower()
    return Bounce(
        original_message_id=_returned_id(message),
        # "rfc822; kim@example.org": the address type comes first.
        recipient=recipient.split(";", 1)[-1].strip().lower() or None,
        status=status.group(1) if status else None,
        diagnostic=diagnostic or None,
        permanent=action != "delayed" and not (status and status.group(1).startswith("4")),
    )


def _returned_id(message: Message) -> str | None:
    """The Message-ID of the mail a DSN returns: from its copy, or the DSN's own threading."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            returned = part.get_payload()
            if not isinstance(returned, list) or not returned:
                continue  # a malformed part: no mail inside
            ids = _message_ids(returned[0], "Message-ID")
        elif content_type in ("text/rfc822-headers", "message/global-headers"):
            headers = HeaderParser(policy=policy.default).parsestr(_text(part))
            ids = _message_ids(headers, "Message-ID")
        else:
            continue
        if ids:
            return ids[0]
    return _replied_id(message)


def _replied_id(message: Message) -> str | None:
    ids = _message_ids(message, "In-Reply-To") or _message_ids(message, "References")[-1:]
    return ids[0] if ids else None
