"""An outbox row goes out: a mail through SMTP, or a webhook call; retried when that fails.

One try per call. A failed try puts the row back with its next-try time and raises;
the job queue schedules that try, and the sweep finds any row whose job was lost.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from desk import outbox
from mail.compose import MailContent, compose
from mail.servers import MailServerError, send_mail
from settings import ConfigError, Settings

log = logging.getLogger(__name__)

# How long one worker holds a row it is sending: far beyond an SMTP conversation.
LEASE_SECONDS = 300
WEBHOOK_TIMEOUT = 10
MAX_RETRY_SECONDS = 3600


class DeliveryFailed(RuntimeError):
    """This try failed; `retry_in` says when the next one is due (None: no more tries)."""

    def __init__(self, message: str, retry_in: float | None) -> None:
        super().__init__(message)
        self.retry_in = retry_in


def deliver(sessions: sessionmaker[Session], settings: Settings, outbox_id: int) -> bool:
    """Send the row once if it is still owed; False when it is sent, failed or held elsewhere."""
    claimed = outbox.claim(sessions, outbox_id, LEASE_SECONDS)
    if claimed is None:
        return False
    try:
        if claimed.transport == outbox.Transport.SMTP:
            _send_mail(settings, claimed)
        else:
            _post_webhook(claimed.recipient, claimed.payload)
    except Exception as error:  # whatever it was, the row must not stay `sending` for ever
        if not isinstance(error, MailServerError | WebhookFailed | ConfigError):
            log.exception("outbox %s could not be sent", outbox_id)
            error = RuntimeError(f"{type(error).__name__}: the mail could not be written")
        retry_in = None
        if claimed.attempts < settings.mail_attempts and not isinstance(error, ConfigError):
            retry_in = min(
                MAX_RETRY_SECONDS, settings.mail_retry_seconds * 2 ** (claimed.attempts - 1)
            )
        outbox.release(sessions, claimed, str(error), retry_in=retry_in)
        log.warning("outbox %s, try %d: %s", outbox_id, claimed.attempts, error)
        raise DeliveryFailed(str(error), retry_in) from error
    outbox.sent(sessions, claimed)
    return True


def _send_mail(settings: Settings, claimed: outbox.Claimed) -> None:
    if settings.smtp_url is None or not settings.mail_from:
        raise ConfigError("SUPPORT_SMTP_URL and SUPPORT_MAIL_FROM are needed to send mail")
    message = compose(
        mail_from=settings.mail_from,
        to=claimed.recipient,
        message_id=claimed.message_id,
        content=MailContent.model_validate(claimed.payload),
        auto_submitted=_auto_submitted(claimed),
    )
    send_mail(settings.smtp_url.get_secret_value(), message, ca_file=settings.mail_tls_ca_file)


def _auto_submitted(claimed: outbox.Claimed) -> str | None:
    """RFC 3834: `auto-replied` for an automatic answer to a customer, `auto-generated` for
    the desk's own mail to the owner (so a mailbox that feeds back into the desk ignores it);
    none for a reply a person approved."""
    if claimed.automatic:
        return "auto-replied"
    return None if claimed.kind == "reply" else "auto-generated"


class WebhookFailed(RuntimeError):
    pass


def _post_webhook(url: str, payload: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # The URL may carry a secret (Slack's do): errors name only its host, never the URL.
    host = urlsplit(url).hostname
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:
            response.read(1024)
    except urllib.error.HTTPError as error:
        raise WebhookFailed(f"the webhook at {host} answered HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise WebhookFailed(f"the webhook at {host} did not answer: {error.reason}") from None
    except Exception as error:
        raise WebhookFailed(f"the webhook at {host} failed: {type(error).__name__}") from None
