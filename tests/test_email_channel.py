"""The email channel through real servers: mail in (pipe and IMAP), answers out by SMTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from agent.draft import Decision, ReasonCode
from channels.email import fetch, poll
from desk import Desk
from desk.delivery import DeliveryFailed
from desk.review import Action
from store.db import session_factory
from store.models import (
    Channel,
    Conversation,
    Draft,
    MailCursor,
    MailMessage,
    MailStatus,
    Message,
    Operator,
    Outbox,
    OutboxStatus,
    QuarantinedMail,
    Turn,
    TurnStatus,
    utcnow,
)
from tests.conftest import TEST_LLM, run_cli, shop_settings
from tests.mail_servers import imap_server, smtp_server, tls_certificate
from tests.scripted_llm import script
from tests.web_helpers import RETURN_ANSWER

SHOP = "Kettle & Crane <support@shop.example>"
QUESTION = "How long do I have to send back something I bought?"
CUSTOMER = "ada@example.com"
ANSWERED = [RETURN_ANSWER, "YES"]  # the reply, then the self-check's verdict


def mail(
    text: str = QUESTION,
    *,
    sender: str = CUSTOMER,
    subject: str = "Returns",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    to: str = "support@shop.example",
    headers: dict | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Ada Lovelace <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    return message.as_bytes()


@pytest.fixture
def smtp():
    with smtp_server() as server:
        yield server


@pytest.fixture
def make_desk(web_data_dir, web_retriever, smtp):
    def make(**overrides) -> Desk:
        values = {
            "llm_model": "scripted/mail",
            "llm_backoff": 0,
            "auto_send_threshold": 0.6,
            "smtp_url": smtp.url,
            "mail_from": SHOP,
            "mail_retry_seconds": 0,
            # Each test writes to its own address budget; the brake has a test of its own.
            "mail_auto_replies_per_hour": 1000,
        }
        settings = shop_settings(web_data_dir, **{**values, **overrides})
        return Desk(settings, retriever=web_retriever)

    return make


def _outbox(desk: Desk, conversation_id: str) -> list[Outbox]:
    with desk.sessions() as session:
        return list(
            session.scalars(
                select(Outbox).where(Outbox.conversation_id == conversation_id).order_by(Outbox.id)
            )
        )


def _settled(desk: Desk, outbox_id: int, timeout: float = 10) -> Outbox:
    """The row once its sender recorded the outcome (just after the server took the mail)."""
    deadline = time.monotonic() + timeout
    while True:
        with desk.sessions() as session:
            row = session.get(Outbox, outbox_id)
        if row.status != OutboxStatus.SENDING or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def _messages(desk: Desk, conversation_id: str) -> list[Message]:
    with desk.sessions() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            )
        )


def test_an_answered_mail_goes_back_as_a_threaded_reply_with_text_and_html(make_desk, smtp):
    desk = make_desk()
    script("mail", ANSWERED)
    asked = mail(subject="Returns?", message_id="<q1@example.com>")

    receipt = desk.receive_mail(asked, draft_now=True)

    assert receipt.status == MailStatus.SENT
    [reply] = smtp.wait_for(1)
    assert reply["To"] == CUSTOMER
    assert reply["Subject"] == "Re: Returns?"
    assert reply["In-Reply-To"] == "<q1@example.com>"
    assert "<q1@example.com>" in reply["References"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Reply-To"].startswith("support+")
    plain = reply.get_body(("plain",)).get_content()
    assert "within 30 days of delivery" in plain
    assert "> " + QUESTION in plain  # the customer's words quoted below
    assert "<p>" in reply.get_body(("html",)).get_content()
    with desk.sessions() as session:
        conversation = session.get(Conversation, receipt.conversation_id)
        assert conversation.channel == Channel.EMAIL
        assert conversation.contact_address == CUSTOMER


def test_a_reply_to_our_mail_continues_its_conversation(make_desk, smtp):
    desk = make_desk()
    script("mail", ANSWERED * 2)
    first = desk.receive_mail(mail(), draft_now=True)
    [ours] = smtp.wait_for(1)
    our_id = ours["Message-ID"].strip("<>")

    follow_up = desk.receive_mail(
        mail("And what about sale items?", subject="Re: Returns", in_reply_to=our_id),
        draft_now=True,
    )

    assert follow_up.conversation_id == first.conversation_id
    assert [m.text for m in _messages(desk, first.conversation_id)][2].startswith("And what")


def test_a_reply_to_the_reply_plus_token_address_continues_without_thread_headers(make_desk, smtp):
    desk = make_desk()
    script("mail", ANSWERED * 2)
    first = desk.receive_mail(mail(), draft_now=True)
    [ours] = smtp.wait_for(1)

    again = desk.receive_mail(mail("One more thing", to=ours["Reply-To"]), draft_now=True)

    assert again.conversation_id == first.conversation_id


def test_the_same_subject_alone_never_threads_and_another_sender_gets_their_own_conversation(
    make_desk, smtp
):
    desk = make_desk()
    script("mail", ANSWERED * 3)
    first = desk.receive_mail(mail(subject="Returns"), draft_now=True)
    [ours] = smtp.wait_for(1)

    same_subject = desk.receive_mail(mail(subject="Re: Returns"), draft_now=True)
    stranger = desk.receive_mail(
        mail(sender="mallory@example.net", in_reply_to=ours["Message-ID"].strip("<>")),
        draft_now=True,
    )

    assert same_subject.conversation_id != first.conversation_id
    assert stranger.conversation_id not in (first.conversation_id, same_subject.conversation_id)
    # Nothing of Ada's conversation reached the stranger: their reply quotes their own words.
    last = smtp.wait_for(3)[-1]
    assert last["To"] == "mallory@example.net"
    assert ours["Message-ID"] not in (last["References"] or "")


def test_the_same_message_id_twice_is_stored_once(make_desk, smtp):
    desk = make_desk()
    script("mail", ANSWERED * 2)
    raw = mail(message_id="<twice@example.com>")

    first = desk.receive_mail(raw, draft_now=True)
    second = desk.receive_mail(raw, draft_now=True)

    assert second.status == MailStatus.DUPLICATE
    assert second.conversation_id == first.conversation_id
    with desk.sessions() as session:
        assert (
            session.scalar(
                select(func.count(MailMessage.id)).where(
                    MailMessage.message_id == "twice@example.com"
                )
            )
            == 1
        )
        assert (
            session.scalar(
                select(func.count(Turn.id)).where(Turn.conversation_id == first.conversation_id)
            )
            == 1
        )
    assert len(smtp.wait_for(1, timeout=1)) == 1


def test_an_unreadable_mail_is_quarantined_with_its_reason_and_the_next_one_still_imports(
    make_desk,
):
    desk = make_desk()
    script("mail", ANSWERED)

    broken = desk.receive_mail(b"\x00\x01\x02 not a mail \xff\xfe", draft_now=True)
    good = desk.receive_mail(mail(), draft_now=True)

    assert broken.status == MailStatus.IGNORED
    assert broken.reason.startswith("quarantined: ")
    assert good.status == MailStatus.SENT
    with desk.sessions() as session:
        [kept] = session.scalars(select(QuarantinedMail)).all()[-1:]
        assert kept.raw == b"\x00\x01\x02 not a mail \xff\xfe"
        assert kept.reason in broken.reason


@pytest.mark.parametrize(
    "headers, sender",
    [
        ({"Auto-Submitted": "auto-replied"}, CUSTOMER),
        ({"Precedence": "bulk"}, CUSTOMER),
        ({"X-Autoreply": "yes"}, CUSTOMER),
        ({"X-Auto-Response-Suppress": "All"}, CUSTOMER),
        ({"Return-Path": "<>"}, CUSTOMER),
        ({}, "mailer-daemon@example.com"),
        ({}, "noreply@example.com"),
    ],
)
def test_automatic_mail_is_kept_but_never_answered(make_desk, smtp, headers, sender):
    desk = make_desk()
    script("mail", ANSWERED)

    receipt = desk.receive_mail(mail(sender=sender, headers=headers), draft_now=True)

    assert receipt.status == MailStatus.IGNORED
    with desk.sessions() as session:
        stored = session.scalar(
            select(MailMessage).where(MailMessage.message_id == receipt.message_id)
        )
        assert stored.ignored is not None and stored.chat_message_id is None
    assert smtp.wait_for(1, timeout=0.5) == []


def test_a_bounce_is_recorded_against_the_mail_it_returns(make_desk, smtp):
    desk = make_desk()
    script("mail", ANSWERED)
    first = desk.receive_mail(mail(), draft_now=True)
    [ours] = smtp.wait_for(1)
    bounce = _bounce(ours["Message-ID"], CUSTOMER)

    receipt = desk.receive_mail(bounce, draft_now=True)

    assert receipt.status == MailStatus.IGNORED
    assert receipt.conversation_id == first.conversation_id
    [reply] = _outbox(desk, first.conversation_id)
    assert reply.status == OutboxStatus.BOUNCED
    assert "5.1.1" in reply.error or "does not exist" in reply.error
    # The owner learns of it the next morning: the draft looks answered, the customer is not.
    undelivered = desk.digest().section("undelivered")
    assert any(
        CUSTOMER in item.text and item.draft_id == reply.draft_id for item in undelivered.items
    )


def _bounce(original_id: str, recipient: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
        "To: support@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.com')}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 the mailbox does not exist\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_id}\r\nTo: {recipient}\r\nSubject: Re: Returns\r\n"
        "--B--\r\n"
    ).encode()


def test_one_address_gets_at_most_n_automatic_replies_an_hour_then_a_person_decides(
    make_desk, smtp
):
    desk = make_desk(mail_auto_replies_per_hour=2)
    script("mail", ANSWERED * 3)

    sender = "busy-robot@example.org"
    statuses = [desk.receive_mail(mail(sender=sender), draft_now=True).status for _ in range(3)]

    assert statuses == [MailStatus.SENT, MailStatus.SENT, MailStatus.PENDING]
    assert len(smtp.wait_for(3, timeout=1)) == 2
    with desk.sessions() as session:
        waiting = session.scalars(select(Draft).order_by(Draft.id.desc())).first()
        assert [r["code"] for r in waiting.reasons] == [ReasonCode.AUTO_REPLY_LIMIT]


def test_a_mail_that_waits_gets_an_honest_promise_once_and_the_approved_answer_later(
    make_desk, smtp
):
    desk = make_desk(business_hours="Mon-Sun 00:00-23:59 UTC")
    script("mail", ["I am not sure about this one."])
    receipt = desk.receive_mail(mail("Can I return a custom engraved kettle?"), draft_now=True)
    assert receipt.status == MailStatus.PENDING
    [promise] = smtp.wait_for(1)
    assert promise["Auto-Submitted"] == "auto-replied"
    assert "We expect to answer by" in promise.get_body(("plain",)).get_content()

    with desk.sessions() as session:
        draft = session.scalar(
            select(Draft).where(Draft.conversation_id == receipt.conversation_id)
        )
        operator = Operator(name="owner-mail", password_hash="x")
        session.add(operator)
        session.commit()
        draft_id, operator_id = draft.id, operator.id
    desk.jobs.start_workers(1)
    try:
        desk.decide(
            draft_id,
            operator_id=operator_id,
            action=Action.APPROVE,
            text="Engraved items are final.",
        )
        answer = smtp.wait_for(2)[1]
    finally:
        desk.jobs.stop_workers()
    assert "Engraved items are final." in answer.get_body(("plain",)).get_content()
    assert answer["Auto-Submitted"] is None  # a person wrote it
    assert answer["In-Reply-To"] == f"<{receipt.message_id}>"


def test_a_reply_waits_while_the_smtp_server_is_down_and_goes_out_once_it_is_back(make_desk, smtp):
    desk = make_desk()
    smtp.stop()
    script("mail", ANSWERED)

    receipt = desk.receive_mail(mail(), draft_now=True)

    [row] = _outbox(desk, receipt.conversation_id)
    assert row.status == OutboxStatus.QUEUED and row.attempts == 1 and row.error
    smtp.start()
    desk.jobs.start_workers(1)  # its first sweep finds the row due for its next try
    try:
        assert len(smtp.wait_for(1)) == 1
        row = _settled(desk, row.id)
    finally:
        desk.jobs.stop_workers()
    assert row.status == OutboxStatus.SENT
    desk.recover()
    assert desk.deliver_now(row.id) is False  # sent rows are never sent again
    assert len(smtp.wait_for(2, timeout=1)) == 1


def test_a_mail_left_sending_by_a_killed_worker_goes_out_once_with_the_same_message_id(
    make_desk, smtp
):
    desk = make_desk()
    smtp.stop()
    script("mail", ANSWERED)
    receipt = desk.receive_mail(mail(), draft_now=True)
    [row] = _outbox(desk, receipt.conversation_id)
    with desk.sessions.begin() as session:  # a worker claimed it and died mid-send
        session.execute(
            update(Outbox)
            .where(Outbox.id == row.id)
            .values(status=OutboxStatus.SENDING, lease_until=utcnow() - timedelta(seconds=1))
        )
    smtp.start()

    owed = desk.recover()
    delivered = [desk.deliver_now(row.id), desk.deliver_now(row.id)]

    assert owed >= 1 and delivered == [True, False]
    [sent] = smtp.wait_for(1)
    assert sent["Message-ID"] == f"<{row.message_id}>"


def test_mail_receive_reads_a_pipe_and_prints_one_json_line(web_data_dir, smtp):
    env = {
        "SUPPORT_DATA_DIR": str(web_data_dir),
        "SUPPORT_SMTP_URL": smtp.url,
        "SUPPORT_MAIL_FROM": SHOP,
        "SUPPORT_LLM_MODEL": "scripted/unused",
    }
    ignored = mail(headers={"Auto-Submitted": "auto-replied"}, message_id="<ooo@example.com>")

    done = run_cli("mail", "receive", "--json", env=env, input=ignored.decode())

    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line == {
        "conversation_id": None,
        "message_id": "ooo@example.com",
        "status": "ignored",
        "reason": line["reason"],
    }
    assert line["reason"].startswith("auto_submitted")


def test_mail_receive_asks_the_mta_to_try_again_when_the_mail_cannot_be_stored(tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the data dir should be")

    done = run_cli("mail", "receive", env={"SUPPORT_DATA_DIR": str(blocked)}, input=mail().decode())

    assert done.returncode == 75
    assert "not stored" in done.stderr


def _mail_env(data_dir: Path, imap, smtp, *, model: str) -> dict[str, str]:
    """The settings of a `support-agent` process that reads `imap` and sends through `smtp`."""
    return {
        "SUPPORT_DATA_DIR": str(data_dir),
        "SUPPORT_IMAP_URL": imap.url,
        "SUPPORT_SMTP_URL": smtp.url,
        "SUPPORT_MAIL_FROM": SHOP,
        "SUPPORT_LLM_MODEL": model,
    }


def test_mail_fetch_imports_new_imap_mail_once_from_its_uid_cursor(web_data_dir, smtp, tmp_path):
    with imap_server() as imap:
        env = _mail_env(web_data_dir, imap, smtp, model="scripted/unused")
        imap.deliver(
            mail(headers={"Auto-Submitted": "auto-replied"}, message_id="<i1@example.com>"),
            b"garbage \x00\xff",
        )
        first = run_cli("mail", "fetch", "--once", "--json", env=env)
        again = run_cli("mail", "fetch", "--once", "--json", env=env)
        imap.deliver(mail(headers={"Precedence": "bulk"}, message_id="<i2@example.com>"))
        later = run_cli("mail", "fetch", "--once", "--json", env=env)

    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["ignored", "ignored"]
    assert lines[1]["reason"].startswith("quarantined")
    assert again.stdout == ""  # the cursor moved past both
    assert [json.loads(line)["message_id"] for line in later.stdout.splitlines()] == [
        "i2@example.com"
    ]


def test_a_new_uidvalidity_reads_the_mailbox_again_without_importing_twice(make_desk, tmp_path):
    with imap_server() as imap:
        desk = make_desk(imap_url=imap.url)
        imap.deliver(mail(headers={"Precedence": "list"}, message_id="<u1@example.com>"))
        assert [r.status for r in fetch(desk, draft_now=True)] == [MailStatus.IGNORED]
        with desk.sessions.begin() as session:  # the server renumbered the mailbox
            session.execute(update(MailCursor).values(uidvalidity=MailCursor.uidvalidity + 1))

        assert [r.status for r in fetch(desk, draft_now=True)] == [MailStatus.DUPLICATE]


def test_the_worker_picks_up_mail_as_it_arrives_over_imap_idle(make_desk, smtp, tmp_path):
    with imap_server() as imap:
        desk = make_desk(imap_url=imap.url, imap_poll_seconds=30)
        stop = threading.Event()
        seen = []

        def run() -> None:
            for receipt in poll(desk, stop, draft_now=False):
                seen.append(receipt)
                stop.set()

        poller = threading.Thread(target=run, daemon=True)
        poller.start()
        time.sleep(1.0)  # the poller is now waiting in IDLE
        imap.deliver(mail(headers={"Precedence": "junk"}, message_id="<idle@example.com>"))
        poller.join(timeout=20)

    assert [receipt.message_id for receipt in seen] == ["idle@example.com"]


@pytest.mark.model
def test_a_mail_is_answered_or_promised_through_the_real_model(web_data_dir, smtp):
    settings = shop_settings(web_data_dir, llm_model=TEST_LLM, smtp_url=smtp.url, mail_from=SHOP)
    desk = Desk(settings)

    receipt = desk.receive_mail(mail(QUESTION, sender="model-reader@example.com"), draft_now=True)

    assert receipt.status in (MailStatus.SENT, MailStatus.PENDING)
    [out] = smtp.wait_for(1)
    assert out["To"] == "model-reader@example.com"
    assert out["In-Reply-To"] == f"<{receipt.message_id}>"
    with desk.sessions() as session:
        draft = session.scalar(
            select(Draft).where(Draft.conversation_id == receipt.conversation_id)
        )
        assert draft.decision in (Decision.SEND, Decision.REVIEW)


def test_mail_travels_over_starttls_and_imaps_with_logins_and_a_trusted_private_ca(
    make_desk, tmp_path
):
    cert, key = tls_certificate(tmp_path)
    with smtp_server(tls=(cert, key)) as secure, imap_server(tls=(cert, key)) as imap:
        desk = make_desk(smtp_url=secure.url, imap_url=imap.imaps_url, mail_tls_ca_file=cert)
        untrusting = make_desk(smtp_url=secure.url)
        script("mail", ANSWERED * 2)
        imap.deliver(mail(message_id="<tls@example.com>"))

        [receipt] = list(fetch(desk, draft_now=True))
        refused = untrusting.receive_mail(mail(), draft_now=True)

        assert receipt.status == MailStatus.SENT
        assert secure.wait_for(1)[0]["In-Reply-To"] == "<tls@example.com>"
        [unsent] = _outbox(untrusting, refused.conversation_id)
        assert unsent.status == OutboxStatus.QUEUED and "CERTIFICATE_VERIFY_FAILED" in unsent.error


FIXTURES = Path(__file__).parent / "fixtures" / "mail"


def test_every_fixture_mail_ends_stored_as_expected_and_once(tmp_path):
    """The corpus through the desk: people's mail pending, robots' ignored, unreadable
    mail quarantined, and each one a duplicate the second time."""
    desk = Desk(shop_settings(tmp_path / "corpus", mail_from=SHOP))
    expected = json.loads((FIXTURES / "expected.json").read_text())
    outcomes = {}
    for name in sorted(expected):
        outcomes[name] = desk.receive_mail((FIXTURES / name).read_bytes())
    again = {name: desk.receive_mail((FIXTURES / name).read_bytes()) for name in sorted(expected)}

    for name, want in expected.items():
        got, second = outcomes[name], again[name]
        if want.get("unparseable"):
            assert got.status == MailStatus.IGNORED and got.reason.startswith("quarantined"), name
            assert second.status == MailStatus.IGNORED, name
        elif want["loop"] is not None:
            assert got.status == MailStatus.IGNORED and got.reason.startswith(want["loop"]), name
            assert second.status == MailStatus.DUPLICATE, name
        else:
            assert got.status == MailStatus.PENDING and got.turn_id is not None, name
            assert second.status == MailStatus.DUPLICATE, name
    with desk.sessions() as session:
        people = sum(1 for w in expected.values() if not w.get("unparseable") and not w["loop"])
        assert session.scalar(select(func.count(Turn.id))) == people
        assert session.scalar(select(func.count(QuarantinedMail.id))) == sum(
            1 for w in expected.values() if w.get("unparseable")
        )


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        _Webhook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_angry_mail_reaches_the_owner_at_once_by_mail_and_webhook(make_desk, smtp):
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.received.clear()
    try:
        desk = make_desk(
            owner_email="owner@shop.example",
            notify_webhook=f"http://127.0.0.1:{server.server_port}/hook",
            public_url="https://desk.shop.example",
        )
        script("mail", ["We are sorry to hear that.", "YES"])
        receipt = desk.receive_mail(
            mail("This is unacceptable. I am furious, my kettle arrived broken!"),
            draft_now=True,
        )
    finally:
        server.shutdown()

    assert receipt.status == MailStatus.PENDING
    sent = smtp.wait_for(2)
    to_owner = [m for m in sent if m["To"] == "owner@shop.example"]
    assert len(to_owner) == 1 and "anger" in to_owner[0]["Subject"]
    with desk.sessions() as session:
        draft_id = session.scalar(
            select(Draft.id).where(Draft.conversation_id == receipt.conversation_id)
        )
    link = f"https://desk.shop.example/operator/drafts/{draft_id}"
    assert link in to_owner[0].get_body(("plain",)).get_content()
    [call] = _Webhook.received
    assert "anger" in call["text"] and link in json.dumps(call)


def test_the_workers_sweep_mails_the_morning_digest_once_a_day(make_desk, smtp):
    desk = make_desk(owner_email="owner@shop.example", digest_time="00:00")

    desk.jobs.start_workers(1)  # its first sweep finds the digest due, queues and sends it
    try:
        smtp.wait_until(lambda message: message["To"] == "owner@shop.example")
        desk.recover()  # the next sweep, the same day
        time.sleep(1)
    finally:
        desk.jobs.stop_workers()

    # Mails owed by earlier tests in this module may go out too; the owner's are counted.
    to_owner = [m for m in smtp.messages if m["To"] == "owner@shop.example"]
    assert [m["Subject"].split(",")[0] for m in to_owner] == ["Support digest"]


def test_a_mail_from_an_international_domain_is_answered_and_an_unstorable_one_waits_aside(
    make_desk, monkeypatch
):
    desk = make_desk()
    script("mail", ANSWERED)
    # As a client that writes raw UTF-8 headers (RFC 6532) sends it.
    umlaut = mail(sender="kunde@bücher.example").replace(
        b"kunde@=?utf-8?q?b=C3=BCcher?=.example", "kunde@bücher.example".encode()
    )
    assert "kunde@bücher.example".encode() in umlaut

    answered = desk.receive_mail(umlaut, draft_now=True)

    assert answered.status == MailStatus.SENT
    with desk.sessions() as session:
        conversation = session.get(Conversation, answered.conversation_id)
        assert conversation.contact_address == "kunde@xn--bcher-kva.example"

    def broken(*args, **kwargs):
        raise ValueError("a value the database refuses")

    monkeypatch.setattr("desk.email_intake.store_message", broken)
    odd = desk.receive_mail(mail("first"), draft_now=True)
    monkeypatch.undo()
    script("mail", ANSWERED)
    after = desk.receive_mail(mail("second"), draft_now=True)

    assert odd.status == MailStatus.IGNORED and odd.reason.startswith("quarantined: could not")
    assert after.status == MailStatus.SENT


def test_the_desks_own_mail_coming_back_is_never_answered(make_desk, smtp):
    desk = make_desk()

    digest_loop = desk.receive_mail(
        mail("Support digest: 3 drafts waiting", sender="support@shop.example"), draft_now=True
    )

    assert digest_loop.status == MailStatus.IGNORED
    assert digest_loop.reason.startswith("own_mail")
    assert smtp.wait_for(1, timeout=0.5) == []


def test_a_contact_form_from_a_no_reply_sender_is_answered_to_the_customer_in_reply_to(
    make_desk, smtp
):
    desk = make_desk()
    script("mail", ANSWERED)

    receipt = desk.receive_mail(
        mail(sender="no-reply@forms.example", headers={"Reply-To": "grace@example.com"}),
        draft_now=True,
    )

    assert receipt.status == MailStatus.SENT
    assert smtp.wait_for(1)[0]["To"] == "grace@example.com"


def test_a_forged_reply_to_does_not_let_a_stranger_into_a_conversation(make_desk, smtp):
    desk = make_desk()
    script("mail", ANSWERED * 2)
    first = desk.receive_mail(mail(message_id="<ada-own@example.com>"), draft_now=True)

    forged = desk.receive_mail(
        mail(
            "Please send the invoice to me instead.",
            sender="mallory@example.net",
            in_reply_to="ada-own@example.com",
            headers={"Reply-To": CUSTOMER},
        ),
        draft_now=True,
    )

    assert forged.conversation_id != first.conversation_id


def test_a_mail_that_cannot_be_written_is_tried_a_limited_number_of_times_then_failed(
    make_desk, smtp, monkeypatch
):
    desk = make_desk(mail_attempts=2)
    script("mail", ANSWERED)

    def unwritable(**_):
        raise TypeError("a header no encoder takes")

    monkeypatch.setattr("desk.delivery.compose", unwritable)
    receipt = desk.receive_mail(mail(), draft_now=True)
    [row] = _outbox(desk, receipt.conversation_id)
    with pytest.raises(DeliveryFailed):
        desk.deliver_now(row.id)

    [row] = _outbox(desk, receipt.conversation_id)
    assert row.status == OutboxStatus.FAILED and row.attempts == 2
    assert "could not be written" in row.error


def test_a_mailbox_seen_for_the_first_time_imports_only_what_nobody_has_read(make_desk, tmp_path):
    with imap_server() as imap:
        desk = make_desk(imap_url=imap.url)
        imap.deliver(mail(headers={"Precedence": "bulk"}, message_id="<old@example.com>"))
        client = imap.client()
        client.select_folder("INBOX")
        client.add_flags(client.search(["ALL"]), [b"\\Seen"])  # answered long ago
        client.logout()
        imap.deliver(mail(headers={"Precedence": "bulk"}, message_id="<unread@example.com>"))

        first = [r.message_id for r in fetch(desk, draft_now=True)]
        imap.deliver(mail(headers={"Precedence": "bulk"}, message_id="<new@example.com>"))
        then = [r.message_id for r in fetch(desk, draft_now=True)]

    assert first == ["unread@example.com"]
    assert then == ["new@example.com"]


@pytest.mark.model
def test_a_running_worker_reads_the_mailbox_and_mails_the_answer(web_data_dir, smtp):
    with imap_server() as imap:
        env = {
            **os.environ,
            **_mail_env(web_data_dir, imap, smtp, model=TEST_LLM),
            "SUPPORT_JOB_WORKERS": "1",
            "SUPPORT_MAIL_AUTO_REPLIES_PER_HOUR": "1000",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            imap.deliver(mail("How long does shipping take?", sender="walt@example.com"))
            arrived = smtp.wait_until(lambda m: m["To"] == "walt@example.com", timeout=300)
        finally:
            worker.terminate()
            _, errors = worker.communicate(timeout=60)

    [answer] = [m for m in arrived if m["To"] == "walt@example.com"]
    assert answer["Subject"] == "Re: Returns" and answer["In-Reply-To"]
    assert worker.returncode == 0, errors.decode()[-2000:]


def test_mail_receive_stores_the_mail_and_its_turn_and_leaves_the_drafting_to_the_workers(
    web_data_dir, smtp
):
    # A model no one serves: a pipe that drafted would wait on it, or fail.
    env = {
        "SUPPORT_DATA_DIR": str(web_data_dir),
        "SUPPORT_SMTP_URL": smtp.url,
        "SUPPORT_MAIL_FROM": SHOP,
        "SUPPORT_LLM_MODEL": "openai/nobody-serves-this",
        "OPENAI_API_BASE": "http://127.0.0.1:9/v1",
    }
    question = mail(message_id="<pipe-only@example.com>")

    done = run_cli("mail", "receive", "--json", env=env, input=question.decode())

    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["status"] == "pending" and line["conversation_id"]
    with session_factory(f"sqlite:///{web_data_dir / 'support.db'}")() as session:
        conversation = line["conversation_id"]
        turn = session.scalar(select(Turn).where(Turn.conversation_id == conversation))
        drafts = session.scalar(
            select(func.count(Draft.id)).where(Draft.conversation_id == conversation)
        )
    assert turn.status == TurnStatus.RECEIVED and drafts == 0
