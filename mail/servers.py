"""Connections to the mail servers: SMTP out, IMAP in, both over TLS unless on loopback.

Credentials travel only inside TLS: `smtps://`/`imaps://` from the first byte, or
`smtp://`/`imap://` upgraded with STARTTLS; plain text is allowed on loopback alone.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

TIMEOUT_SECONDS = 30


class MailServerError(RuntimeError):
    """A mail server refused or could not be reached; the message is one line."""


@dataclass(frozen=True)
class ServerURL:
    scheme: str
    host: str
    port: int | None
    user: str | None
    password: str | None
    path: str

    @property
    def implicit_tls(self) -> bool:
        return self.scheme.endswith("s")

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def origin(self) -> str:
        """scheme://user@host:port, without the password: for logs and cursors."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{user}{self.host}{port}"

    @property
    def safe(self) -> str:
        return self.origin + self.path


def server_url(url: str) -> ServerURL:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # its text would show part of the password
        raise MailServerError("the mail server URL does not parse") from None
    return ServerURL(
        scheme=parts.scheme,
        host=parts.hostname or "",
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        path=unquote(parts.path or ""),
    )


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def send_mail(url: str, message: EmailMessage, *, ca_file: Path | None = None) -> None:
    """Hand one message to the SMTP server; raises MailServerError on any refusal."""
    with _smtp(url, ca_file) as smtp:
        try:
            smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            raise MailServerError(f"{server_url(url).safe}: {_one_line(error)}") from error


def check_smtp(url: str, *, ca_file: Path | None = None) -> str:
    """Log in without sending anything (for `doctor`); raises MailServerError."""
    with _smtp(url, ca_file) as smtp:
        secured = "TLS" if isinstance(smtp.sock, ssl.SSLSocket) else "no TLS (loopback)"
        return f"{server_url(url).origin} accepts us ({secured})"


@contextmanager
def _smtp(url: str, ca_file: Path | None) -> Iterator[smtplib.SMTP]:
    server = server_url(url)
    context = tls_context(ca_file)
    try:
        if server.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                server.host, server.port or 465, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(server.host, server.port or 587, timeout=TIMEOUT_SECONDS)
        with smtp:
            smtp.ehlo()
            if not server.implicit_tls:
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif not server.loopback:
                    raise MailServerError(
                        f"{server.safe} offers no STARTTLS; mail is not sent in clear text"
                    )
            if server.user:
                smtp.login(server.user, server.password or "")
            yield smtp
    except MailServerError:
        raise
    except (smtplib.SMTPException, OSError) as error:
        raise MailServerError(f"{server.safe}: {_one_line(error)}") from error


# Mails fetched per round trip, and the longest IDLE before the connection is renewed
# (RFC 2177 asks clients to re-issue IDLE at least every 29 minutes).
FETCH_BATCH = 20
IDLE_SECONDS = 25 * 60


class Mailbox:
    """One IMAP folder, read from a UID onwards; a context manager that logs in and out.

    with Mailbox(url) as box:
        for uid, raw in box.after(last_uid): ...
        box.wait(60)   # IDLE where the server offers it, else sleep
    """

    def __init__(self, url: str, *, ca_file: Path | None = None) -> None:
        self.server = server_url(url)
        self.folder = self.server.path.strip("/") or "INBOX"
        self._context = tls_context(ca_file)
        self._client: IMAPClient | None = None
        self.uidvalidity = 0

    @property
    def name(self) -> str:
        """The mailbox as its cursor is stored: the URL without the password."""
        return f"{self.server.origin}/{self.folder}"

    def __enter__(self) -> Mailbox:
        server = self.server
        try:
            client = IMAPClient(
                server.host,
                port=server.port or (993 if server.implicit_tls else 143),
                ssl=server.implicit_tls,
                ssl_context=self._context,
                timeout=TIMEOUT_SECONDS,
            )
            if not server.implicit_tls:
                if b"STARTTLS" in client.capabilities():
                    client.starttls(self._context)
                elif not server.loopback:
                    raise MailServerError(
                        f"{server.safe} offers no STARTTLS; the password is not sent in clear text"
                    )
            client.login(server.user or "", server.password or "")
            selected = client.select_folder(self.folder, readonly=True)
        except MailServerError:
            raise
        except (IMAPClientError, OSError) as error:
            raise MailServerError(f"{server.safe}: {_one_line(error)}") from error
        self._client = client
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        return self

    def __exit__(self, *_exc) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except (IMAPClientError, OSError):
                client.shutdown()

    def after(self, last_uid: int) -> Iterator[tuple[int, bytes]]:
        """The mails with a UID above `last_uid`, oldest first, read without marking them seen."""
        # "N:*" always matches the newest mail, even below N: hence the filter.
        found = self._search(["UID", f"{last_uid + 1}:*"])
        yield from self.fetch(sorted(uid for uid in found if uid > last_uid))

    def unseen(self) -> tuple[list[int], int]:
        """(the UIDs nobody has read yet, the highest UID in the folder)."""
        return sorted(self._search(["UNSEEN"])), max(self._search(["ALL"]), default=0)

    def fetch(self, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        try:
            for start in range(0, len(uids), FETCH_BATCH):
                batch = uids[start : start + FETCH_BATCH]
                fetched = self._client.fetch(batch, ["BODY.PEEK[]"])
                for uid in batch:
                    if uid in fetched:
                        yield uid, fetched[uid][b"BODY[]"]
        except (IMAPClientError, OSError) as error:
            raise MailServerError(f"{self.server.safe}: {_one_line(error)}") from error

    def _search(self, criteria: list[str]) -> list[int]:
        try:
            return list(self._client.search(criteria))
        except (IMAPClientError, OSError) as error:
            raise MailServerError(f"{self.server.safe}: {_one_line(error)}") from error

    def wait(self, seconds: float) -> None:
        """Until the server says a mail came (IDLE), or `seconds` pass."""
        client = self._client
        try:
            if b"IDLE" not in client.capabilities():
                time.sleep(seconds)
                return
            client.idle()
            try:
                client.idle_check(timeout=min(seconds, IDLE_SECONDS))
            finally:
                client.idle_done()
        except (IMAPClientError, OSError) as error:
            raise MailServerError(f"{self.server.safe}: {_one_line(error)}") from error


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__
