"""The owner's morning digest: what waits (oldest and most urgent first, with its SLA
clock), yesterday's automatic answers and their ratings, new knowledge gaps, each draft
with its link; when it is due, the `digest` command, and a real mail through SMTP.

The rendered HTML goes to test-artifacts/browser/digest.png for a person to look at.
"""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from desk.digest import SlaState, build_digest, digest_due, queue_digest
from settings import Settings
from store.conversations import add_message, start_conversation
from store.db import session_factory
from store.models import Customer, DraftStatus, Order, Outbox, utcnow
from store.models import Draft as DraftRow
from tests.browser_helpers import needs_chromium
from tests.conftest import MODELS_DIR, ROOT, run_cli

SHOTS = ROOT / "test-artifacts" / "browser"
# A Wednesday morning in UTC; "yesterday" is Tuesday 13 May.
NOW = datetime(2025, 5, 14, 7, 30)
LOCAL = "http://127.0.0.1:8000/operator/drafts/"
MAIL = {
    "owner_email": "owner@shop.example",
    "smtp_url": "smtp://127.0.0.1:2525",
    "mail_from": "Shop <support@shop.example>",
}

SEND = {
    "SUPPORT_OWNER_EMAIL": "owner@shop.example",
    "SUPPORT_MAIL_FROM": "Kettle & Crane <support@shop.example>",
    "SUPPORT_PUBLIC_URL": "https://support.shop.example",
}


def seed_draft(
    session,
    question: str,
    *,
    created_at: datetime,
    status: str = DraftStatus.PENDING,
    priority: float = 30.0,
    reasons: list[dict] | None = None,
    csat: tuple[int, str | None] | None = None,
    verified_email: str | None = None,
) -> DraftRow:
    """A customer's question and the draft it got, stored as of `created_at` (committed)."""
    conversation, _ = start_conversation(session, verified_email=verified_email)
    if csat is not None:
        conversation.csat_score, conversation.csat_comment = csat
    message = add_message(session, conversation.id, "customer", question)
    draft = DraftRow(
        conversation_id=conversation.id,
        message_id=message.id,
        decision="send" if status == DraftStatus.SENT else "review",
        status=status,
        reply="Thanks for asking: here is what we know.",
        confidence=0.4,
        priority=priority,
        language="en",
        reasons=reasons or [],
        created_at=created_at,
    )
    session.add(draft)
    session.commit()
    return draft


def flag(name: str) -> dict:
    return {"code": "policy_flag", "text": f"The customer raised {name}.", "detail": name}


def reason(code: str) -> dict:
    return {"code": code, "text": code.replace("_", " ")}


def seed_customer(session, email_address: str, spent: str) -> None:
    """A shop customer with one order of `spent`, a year ago."""
    customer = Customer(id=f"c-{email_address}", name="Big Spender", email=email_address)
    session.add(customer)
    session.add(
        Order(
            id=f"o-{email_address}",
            customer=customer,
            status="delivered",
            created_at=utcnow() - timedelta(days=365),
            total=Decimal(spent),
            currency="EUR",
        )
    )
    session.commit()


def like(settings: Settings, **changes) -> Settings:
    """The test's settings (its data dir) with `changes`, validated like any settings."""
    return Settings(data_dir=settings.data_dir, models_dir=MODELS_DIR, **changes)


def minutes_ago(minutes: float, now: datetime = NOW) -> datetime:
    return now - timedelta(minutes=minutes)


@pytest.fixture
def sessions(settings):
    return session_factory(settings.db_url)


@pytest.fixture
def history(sessions) -> dict[str, int]:
    """Drafts waiting with known ages, yesterday's answers with ratings, knowledge gaps."""
    with sessions() as session:
        drafts = {
            # SLA 240 min: urgency = priority + 40 × share of the SLA waited (capped at 1.5).
            "breached": seed_draft(
                session,
                "Where is my refund? It has been weeks.",
                created_at=minutes_ago(300),
                priority=20,
                reasons=[flag("refund")],
            ),  # 20 + 50 = 70
            "urgent": seed_draft(
                session,
                "My lawyer will hear about this.",
                created_at=minutes_ago(10),
                priority=80,
                reasons=[flag("legal")],
            ),  # 80 + 1.7 = 81.7
            "due": seed_draft(
                session,
                "Can I change the delivery address?",
                created_at=minutes_ago(220),
                reasons=[flag("address_change")],
            ),  # 30 + 36.7 = 66.7
            "fresh": seed_draft(
                session,
                "Please cancel order KC-10042.",
                created_at=minutes_ago(60),
                reasons=[flag("cancellation")],
            ),  # 30 + 10 = 40
            "iceland": seed_draft(
                session,
                "Do you ship to Iceland?",
                created_at=minutes_ago(120),
                priority=10,
                reasons=[reason("nothing_relevant")],
            ),  # 10 + 20 = 30
            "iceland again": seed_draft(
                session,
                "do you ship to  Iceland",
                created_at=minutes_ago(600),
                status=DraftStatus.REJECTED,
                reasons=[reason("nothing_relevant")],
            ),
            "dishwasher": seed_draft(
                session,
                "Is the kettle dishwasher safe?",
                created_at=minutes_ago(300),
                status=DraftStatus.APPROVED,
                reasons=[reason("weak_grounding")],
            ),
            "tickets only": seed_draft(
                session,
                "Does the grinder work with 110 V?",
                created_at=minutes_ago(900),
                status=DraftStatus.APPROVED,
                reasons=[reason("ticket_only_evidence")],
            ),
            "old gap": seed_draft(
                session,
                "Do you sell gift cards?",
                created_at=minutes_ago(30 * 60),
                status=DraftStatus.APPROVED,
                reasons=[reason("nothing_relevant")],
            ),
            "rated well": seed_draft(
                session,
                "How long do returns take?",
                created_at=datetime(2025, 5, 13, 9, 0),
                status=DraftStatus.SENT,
                csat=(5, "Quick and right."),
            ),
            "rated badly": seed_draft(
                session,
                "Which beans suit a moka pot?",
                created_at=datetime(2025, 5, 13, 15, 0),
                status=DraftStatus.SENT,
                csat=(2, "It did not answer my question."),
            ),
            "rated silently": seed_draft(
                session,
                "Do you have a shop in Leeds?",
                created_at=datetime(2025, 5, 13, 16, 0),
                status=DraftStatus.SENT,
                csat=(4, None),
            ),
            "unrated": seed_draft(
                session,
                "What are your opening hours?",
                created_at=datetime(2025, 5, 13, 18, 0),
                status=DraftStatus.SENT,
            ),
            "the day before": seed_draft(
                session,
                "Is shipping free?",
                created_at=datetime(2025, 5, 12, 23, 0),
                status=DraftStatus.SENT,
                csat=(1, "Wrong answer."),
            ),
            "today": seed_draft(
                session,
                "Do you gift wrap?",
                created_at=datetime(2025, 5, 14, 6, 0),
                status=DraftStatus.SENT,
                csat=(3, "Fine."),
            ),
        }
        return {name: draft.id for name, draft in drafts.items()}


def test_the_digest_lists_waiting_drafts_most_urgent_first_with_their_sla_clock_and_link(
    sessions, settings, history
):
    with sessions() as session:
        waiting = build_digest(session, settings, now=NOW).section("waiting")

    order = ["urgent", "breached", "due", "fresh", "iceland"]
    assert [item.draft_id for item in waiting.items] == [history[name] for name in order]
    assert [item.sla for item in waiting.items] == [
        SlaState.OK,
        SlaState.BREACHED,
        SlaState.DUE,
        SlaState.OK,
        SlaState.OK,
    ]
    assert [item.badge for item in waiting.items[:3]] == [
        "SLA ok",
        "SLA breached by 1 h 00 min",
        "SLA due in 20 min",
    ]
    breached = waiting.items[1]
    assert breached.text == "Where is my refund? It has been weeks."
    assert breached.note == "waiting 5 h 00 min · refund"
    assert breached.link == f"{LOCAL}{history['breached']}"
    assert waiting.summary == "5 drafts waiting, the most urgent first; 1 past the 240-minute SLA."


def test_the_digest_counts_yesterdays_automatic_answers_and_quotes_the_worst_ratings_first(
    sessions, settings, history
):
    with sessions() as session:
        answered = build_digest(session, settings, now=NOW).section("answered")

    assert answered.summary == "4 answers went out without review; 3 rated, average 3.7 / 5."
    assert [item.text for item in answered.items] == [
        "“It did not answer my question.”",
        "“Quick and right.”",
    ]
    assert answered.items[0].note == "rated 2 / 5 · asked: Which beans suit a moka pot?"
    assert answered.items[0].link == f"{LOCAL}{history['rated badly']}"


def test_yesterday_is_the_owners_day_in_the_business_hours_time_zone(sessions, settings, history):
    berlin = like(settings, business_hours="Mon-Fri 09:00-17:00 Europe/Berlin")
    with sessions() as session:
        answered = build_digest(session, berlin, now=NOW).section("answered")

    # 23:00 UTC on the 12th is 01:00 on the 13th in Berlin: yesterday there, not in UTC.
    assert answered.summary == "5 answers went out without review; 4 rated, average 3.0 / 5."
    assert answered.items[0].text == "“Wrong answer.”"


def test_the_digest_lists_each_new_knowledge_gap_once_with_its_newest_draft(
    sessions, settings, history
):
    with sessions() as session:
        gaps = build_digest(session, settings, now=NOW).section("gaps")

    assert [(item.text, item.draft_id) for item in gaps.items] == [
        ("Do you ship to Iceland?", history["iceland"]),
        ("Is the kettle dishwasher safe?", history["dishwasher"]),
        ("Does the grinder work with 110 V?", history["tickets only"]),
    ]
    assert gaps.items[0].note == (
        "nothing relevant in the knowledge base · still waiting · asked 2 times"
    )
    assert gaps.items[1].note == "the reply was not backed by the sources · answered by you"
    assert gaps.items[2].note == "only past tickets had an answer · answered by you"
    assert gaps.items[2].link == f"{LOCAL}{history['tickets only']}"


def test_the_digest_reads_as_text_and_html_with_its_subject_links_and_footer(
    sessions, settings, history
):
    with sessions() as session:
        digest = build_digest(session, settings, now=NOW)

    assert digest.subject == "Support digest, Wed 14 May: 5 drafts waiting, 1 past the SLA"
    text = digest.text
    assert text.index("My lawyer will hear about this.") < text.index("Where is my refund?")
    assert "SLA breached by 1 h 00 min · waiting 5 h 00 min · refund" in text
    assert f"{LOCAL}{history['breached']}" in text
    assert "SUPPORT_PUBLIC_URL is not set, so the links point to http://127.0.0.1:8000" in text
    assert f'href="{LOCAL}{history["due"]}"' in digest.html
    assert "It did not answer my question." in digest.html


def test_the_digest_links_to_the_public_url_when_there_is_one(sessions, settings, history):
    public = like(settings, public_url="https://support.example.com/")
    with sessions() as session:
        digest = build_digest(session, public, now=NOW)

    link = f"https://support.example.com/operator/drafts/{history['urgent']}"
    assert digest.section("waiting").items[0].link == link
    assert link in digest.text
    assert "127.0.0.1" not in digest.text + digest.html


def test_a_customers_words_are_escaped_in_the_html_digest(sessions, settings):
    with sessions() as session:
        seed_draft(session, "<script>alert(1)</script> & <b>hi</b>", created_at=utcnow())
        digest = build_digest(session, settings, now=utcnow())

    assert "<script>alert(1)</script>" in digest.text
    assert "<script>" not in digest.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;hi&lt;/b&gt;" in digest.html


def test_an_empty_desk_gets_a_short_digest(sessions, settings):
    with sessions() as session:
        digest = build_digest(session, settings, now=NOW)

    assert digest.subject == "Support digest, Wed 14 May: nothing waiting"
    assert [section.summary for section in digest.sections] == [
        "Nothing waits for you.",
        "Nothing was answered without you.",
        "No question in the last 24 hours found the knowledge base lacking.",
    ]


@pytest.mark.parametrize(
    ("business_hours", "now", "last_sent", "due"),
    [
        (None, datetime(2025, 5, 14, 7, 59), date(2025, 5, 13), False),
        (None, datetime(2025, 5, 14, 8, 0), date(2025, 5, 13), True),
        (None, datetime(2025, 5, 14, 8, 0), None, True),
        (None, datetime(2025, 5, 14, 9, 0), date(2025, 5, 14), False),
        (None, datetime(2025, 5, 14, 23, 59), date(2025, 5, 13), True),
        # Berlin is UTC+2 in May: 08:00 there is 06:00 UTC.
        ("Mon-Fri 09:00-17:00 Europe/Berlin", datetime(2025, 5, 14, 5, 59), None, False),
        ("Mon-Fri 09:00-17:00 Europe/Berlin", datetime(2025, 5, 14, 6, 0), None, True),
        # 22:30 UTC on the 13th is 00:30 on the 14th in Berlin: a new day, not yet 08:00.
        (
            "Mon-Fri 09:00-17:00 Europe/Berlin",
            datetime(2025, 5, 13, 22, 30),
            date(2025, 5, 13),
            False,
        ),
        # New York is UTC-4 in May: at 10:00 UTC it is 06:00 there.
        ("Mon-Fri 09:00-17:00 America/New_York", datetime(2025, 5, 14, 10, 0), None, False),
        ("Mon-Fri 09:00-17:00 America/New_York", datetime(2025, 5, 14, 12, 0), None, True),
    ],
)
def test_the_digest_is_due_once_the_owners_clock_passes_the_digest_time_on_a_new_day(
    business_hours, now, last_sent, due
):
    settings = Settings(business_hours=business_hours, digest_time="08:00")
    assert digest_due(settings, now=now, last_sent_date=last_sent) is due


def test_the_digest_is_queued_to_the_owner_once_a_day(sessions, settings, history):
    settings = like(settings, **MAIL)
    with sessions.begin() as session:
        first = queue_digest(session, settings, now=NOW)
        again = queue_digest(session, settings, now=NOW + timedelta(hours=3))
    with sessions.begin() as session:
        tomorrow = queue_digest(session, settings, now=NOW + timedelta(days=1))
        keys = session.scalars(select(Outbox.key).order_by(Outbox.id)).all()

    assert again.id == first.id
    assert keys == ["digest:2025-05-14", "digest:2025-05-15"]
    assert tomorrow.recipient == "owner@shop.example"
    assert tomorrow.kind == "digest"
    assert first.payload["subject"].startswith("Support digest, Wed 14 May")
    assert f"{LOCAL}{history['urgent']}" in first.payload["text"]
    assert f"{LOCAL}{history['urgent']}" in first.payload["html"]


def test_no_digest_is_queued_without_an_owner_address_or_mail_server(sessions, settings):
    with sessions.begin() as session:
        assert queue_digest(session, settings, now=NOW) is None
        no_server = like(settings, owner_email="owner@shop.example", mail_from="s@shop.example")
        assert queue_digest(session, no_server, now=NOW) is None
        assert session.scalar(select(func.count(Outbox.id))) == 0


def test_the_digest_command_prints_the_digest(sessions):
    with sessions() as session:
        late = seed_draft(
            session, "Where is my parcel?", created_at=utcnow() - timedelta(minutes=300)
        )

    result = run_cli("digest")

    assert result.returncode == 0, result.stderr
    assert "Where is my parcel?" in result.stdout
    assert "SLA breached by 1 h 00 min" in result.stdout
    assert f"{LOCAL}{late.id}" in result.stdout
    assert "SUPPORT_PUBLIC_URL is not set" in result.stdout


def test_digest_send_says_in_one_line_which_mail_settings_are_missing():
    result = run_cli("digest", "--send", env={"SUPPORT_OWNER_EMAIL": "owner@shop.example"})

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: digest --send needs SUPPORT_SMTP_URL and SUPPORT_MAIL_FROM"
    ]


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback that keeps what it receives: (port, envelopes)."""
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self) -> None:
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler.envelopes
    controller.stop()


def test_digest_send_delivers_a_real_mail_with_the_link_in_both_parts(sessions, smtp_server):
    port, received = smtp_server
    with sessions() as session:
        late = seed_draft(
            session, "Where is my parcel?", created_at=utcnow() - timedelta(minutes=300)
        )

    env = {**SEND, "SUPPORT_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    result = run_cli("digest", "--send", env=env)

    assert result.returncode == 0, result.stderr
    assert "owner@shop.example" in result.stdout
    assert len(received) == 1
    assert received[0].rcpt_tos == ["owner@shop.example"]
    mail = email.message_from_bytes(received[0].content, policy=email.policy.default)
    assert mail["Subject"].startswith("Support digest, ")
    assert mail["Subject"].endswith(": 1 draft waiting, 1 past the SLA")
    link = f"https://support.shop.example/operator/drafts/{late.id}"
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Where is my parcel?" in plain
    assert link in plain
    assert f'href="{link}"' in html

    again = run_cli("digest", "--send", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("today's digest went to owner@shop.example at ")
    assert len(received) == 1


def test_digest_send_says_in_one_line_why_the_mail_did_not_go():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]

    result = run_cli(
        "digest", "--send", env={**SEND, "SUPPORT_SMTP_URL": f"smtp://127.0.0.1:{closed}"}
    )

    assert result.returncode == 1
    # The last line; desk.delivery logs the failed try before it.
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: the digest was not sent: smtp://127.0.0.1:{closed}: ")


@needs_chromium
def test_the_html_digest_looks_right_in_a_browser(sessions, settings, history, browser, tmp_path):
    from selenium.webdriver.common.by import By

    with sessions() as session:
        digest = build_digest(session, settings, now=NOW)
    page = tmp_path / "digest.html"
    page.write_text(digest.html, encoding="utf-8")

    browser.set_window_size(760, 1400)
    browser.get(page.as_uri())
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "digest.png"))

    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings == ["Waiting for you", "Answered automatically yesterday", "New knowledge gaps"]
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "li a")]
    assert links[0] == f"{LOCAL}{history['urgent']}"
    # Nothing spills sideways on a narrow mail pane.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 760
