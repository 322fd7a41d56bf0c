"""The email channel's inbound side: mail from an MTA pipe or an IMAP mailbox, into the desk.

IMAP is read from a stored UIDVALIDITY + UID cursor, never a date window: the cursor
moves past a mail only once the desk has stored it, so a crash re-reads at most the
mail in hand, and the desk knows it again by its Message-ID.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from desk import Desk
from desk.email_intake import MailReceipt
from mail.servers import Mailbox, MailServerError
from settings import ConfigError

log = logging.getLogger(__name__)

# The longest wait between reconnection attempts to an unreachable IMAP server.
MAX_BACKOFF_SECONDS = 300


def fetch(desk: Desk, *, draft_now: bool) -> Iterator[MailReceipt]:
    """Every mail that arrived since the last fetch, in order; raises MailServerError."""
    with _mailbox(desk) as box:
        yield from _new_mail(desk, box, draft_now=draft_now)


def poll(desk: Desk, stop: threading.Event, *, draft_now: bool) -> Iterator[MailReceipt]:
    """Fetch, then wait for more (IDLE, else SUPPORT_IMAP_POLL_SECONDS), until `stop` is set;
    a lost connection is opened again with a growing pause."""
    backoff = 1.0
    while not stop.is_set():
        try:
            with _mailbox(desk) as box:
                backoff = 1.0
                while not stop.is_set():
                    yield from _new_mail(desk, box, draft_now=draft_now)
                    box.wait(desk.settings.imap_poll_seconds)
        except MailServerError as error:
            log.warning("IMAP: %s; trying again in %.0f s", error, backoff)
        except Exception:  # the database, most likely: the cursor did not move, nothing is lost
            log.exception("IMAP: importing failed; trying again in %.0f s", backoff)
        stop.wait(backoff)
        backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)


def start_polling(desk: Desk) -> threading.Event | None:
    """Poll the mailbox in a background thread of a worker process (turns go to the jobs)."""
    if desk.settings.imap_url is None:
        return None
    stop = threading.Event()

    def run() -> None:
        for receipt in poll(desk, stop, draft_now=False):
            log.info("mail %s: %s %s", receipt.message_id, receipt.status, receipt.reason or "")

    threading.Thread(target=run, name="imap-poller", daemon=True).start()
    return stop


def _mailbox(desk: Desk) -> Mailbox:
    settings = desk.settings
    if settings.imap_url is None:
        raise ConfigError("SUPPORT_IMAP_URL is not set")
    return Mailbox(settings.imap_url.get_secret_value(), ca_file=settings.mail_tls_ca_file)


def _new_mail(desk: Desk, box: Mailbox, *, draft_now: bool) -> Iterator[MailReceipt]:
    last = desk.mail_cursor(box.name, box.uidvalidity)
    if last is None:
        # A mailbox seen for the first time (or renumbered): the mail nobody has read yet,
        # not years of answered mail; the cursor then starts at the newest one.
        unread, newest = box.unseen()
        for _, raw in box.fetch(unread):
            yield desk.receive_mail(raw, draft_now=draft_now)
        desk.advance_mail_cursor(box.name, box.uidvalidity, newest)
        last = newest
    for uid, raw in box.after(last):
        receipt = desk.receive_mail(raw, draft_now=draft_now)
        desk.advance_mail_cursor(box.name, box.uidvalidity, uid)
        yield receipt
