"""Urgent drafts reach the owner at once: one mail and one Slack-compatible webhook call
per urgent draft (anger, legal, a high-value customer, an SLA about to break), never two."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk.alerts import (
    ANGER,
    HIGH_VALUE,
    LEGAL,
    SLA,
    queue_alerts,
    sla_sweep,
    urgent_reasons,
)
from store.db import session_factory
from store.models import Draft, DraftStatus, Outbox, utcnow
from tests.test_digest import MAIL, flag, like, reason, seed_customer, seed_draft

WEBHOOK = "https://hooks.slack.example/services/T000/B000/XXXX"
LINK = "http://127.0.0.1:8000/operator/drafts/"


@pytest.fixture
def settings(settings):
    """Mail to the owner and the webhook set; SLA 240 min, warned 30 min before."""
    return like(settings, **MAIL, notify_webhook=WEBHOOK)


@pytest.fixture
def session(settings):
    with session_factory(settings.db_url)() as session:
        yield session


def _rows(session, draft_id: int) -> list[Outbox]:
    return list(session.scalars(select(Outbox).where(Outbox.draft_id == draft_id)))


def _urgent(session) -> dict[str, Draft]:
    now = utcnow()
    seed_customer(session, "big@example.com", "1000.00")
    return {
        ANGER: seed_draft(session, "This is a SCAM!!!", created_at=now, reasons=[flag("anger")]),
        LEGAL: seed_draft(
            session, "My lawyer will call you.", created_at=now, reasons=[flag("legal")]
        ),
        HIGH_VALUE: seed_draft(
            session,
            "Where is my order?",
            created_at=now,
            reasons=[reason("order_not_looked_up")],
            verified_email="big@example.com",
        ),
        SLA: seed_draft(
            session,
            "Can I change my address?",
            created_at=now - timedelta(minutes=215),
            reasons=[flag("address_change")],
        ),
    }


def test_each_urgent_draft_gets_one_mail_and_one_webhook_call(session, settings):
    drafts = _urgent(session)

    for why, draft in drafts.items():
        draft_id = draft.id
        assert urgent_reasons(draft, settings=settings, now=utcnow()) == [why]
        rows = queue_alerts(session, settings, draft, now=utcnow())
        session.commit()
        assert sorted((row.key, row.transport, row.recipient, row.kind) for row in rows) == [
            (f"urgent:mail:draft:{draft_id}", "smtp", "owner@shop.example", "urgent"),
            (f"urgent:webhook:draft:{draft_id}", "webhook", WEBHOOK, "urgent"),
        ]


def test_a_second_call_queues_nothing_more(session, settings):
    draft = _urgent(session)[ANGER]
    queue_alerts(session, settings, draft, now=utcnow())
    session.commit()

    assert queue_alerts(session, settings, draft, now=utcnow()) == []
    session.commit()
    assert len(_rows(session, draft.id)) == 2


def test_a_plain_draft_and_a_decided_one_alert_nobody(session, settings):
    plain = seed_draft(
        session, "Please cancel my order.", created_at=utcnow(), reasons=[flag("cancellation")]
    )
    decided = seed_draft(
        session,
        "This is unacceptable!",
        created_at=utcnow(),
        status=DraftStatus.APPROVED,
        reasons=[flag("anger")],
    )

    assert urgent_reasons(plain, settings=settings, now=utcnow()) == []
    assert queue_alerts(session, settings, plain, now=utcnow()) == []
    assert queue_alerts(session, settings, decided, now=utcnow()) == []
    assert session.scalar(select(func.count(Outbox.id))) == 0


def test_a_customer_is_high_value_from_about_800_spent_and_only_by_their_own_address(
    session, settings
):
    seed_customer(session, "modest@example.com", "500.00")
    seed_customer(session, "big@example.com", "850.00")
    now = utcnow()
    modest = seed_draft(
        session, "Where is my order?", created_at=now, verified_email="modest@example.com"
    )
    big = seed_draft(
        session, "Where is my order?", created_at=now, verified_email="big@example.com"
    )
    # A guest who types a big customer's address is not that customer.
    claimed = seed_draft(session, "I am big@example.com, where is my order?", created_at=now)

    assert urgent_reasons(modest, settings=settings, now=now) == []
    assert urgent_reasons(big, settings=settings, now=now) == [HIGH_VALUE]
    assert urgent_reasons(claimed, settings=settings, now=now) == []


def test_the_alert_mail_names_the_reasons_and_links_to_the_draft(session, settings):
    draft = _urgent(session)[LEGAL]

    mail = next(
        row
        for row in queue_alerts(session, settings, draft, now=utcnow())
        if row.transport == "smtp"
    )

    assert mail.payload["subject"] == "Urgent (legal): My lawyer will call you."
    assert "My lawyer will call you." in mail.payload["text"]
    assert f"Open the draft: {LINK}{draft.id}" in mail.payload["text"]
    assert f'href="{LINK}{draft.id}"' in mail.payload["html"]


def test_the_webhook_payload_is_slack_compatible_and_links_to_the_draft(session, settings):
    draft = seed_draft(
        session,
        "<!channel> SCAM!!! & <https://evil.example|click>",
        created_at=utcnow(),
        reasons=[flag("anger")],
    )

    hook = next(
        row
        for row in queue_alerts(session, settings, draft, now=utcnow())
        if row.transport == "webhook"
    )
    payload = json.loads(json.dumps(hook.payload))
    link = f"{LINK}{draft.id}"

    assert isinstance(payload["text"], str) and link in payload["text"]
    section, actions = payload["blocks"]
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert 0 < len(section["text"]["text"]) <= 3000
    assert f"<{link}|Open draft #{draft.id}>" in section["text"]["text"]
    # The customer's words cannot mention @channel or make a link of their own.
    assert "<!channel>" not in section["text"]["text"] + payload["text"]
    assert (
        "&lt;!channel&gt; SCAM!!! &amp; &lt;https://evil.example|click&gt;"
        in (section["text"]["text"])
    )
    assert actions["type"] == "actions"
    (button,) = actions["elements"]
    assert button["type"] == "button"
    assert button["text"] == {"type": "plain_text", "text": f"Open draft #{draft.id}"}
    assert button["url"] == link


def test_without_a_webhook_only_the_mail_goes_and_without_mail_only_the_webhook(session, settings):
    drafts = _urgent(session)
    mail_only = settings.model_copy(update={"notify_webhook": None})
    hook_only = settings.model_copy(update={"owner_email": None})

    anger, legal = drafts[ANGER], drafts[LEGAL]

    assert [row.transport for row in queue_alerts(session, mail_only, anger, now=utcnow())] == [
        "smtp"
    ]
    assert [row.transport for row in queue_alerts(session, hook_only, legal, now=utcnow())] == [
        "webhook"
    ]


def test_the_sla_sweep_alerts_once_for_drafts_whose_sla_is_about_to_break(session, settings):
    now = utcnow()
    soon = seed_draft(session, "Is it shipped yet?", created_at=now - timedelta(minutes=215))
    late = seed_draft(session, "Hello??", created_at=now - timedelta(minutes=500))
    calm = seed_draft(session, "Do you restock?", created_at=now - timedelta(minutes=100))

    rows = sla_sweep(session, settings, now=now)
    session.commit()

    assert sorted(row.key for row in rows) == [
        f"urgent:sla:mail:draft:{soon.id}",
        f"urgent:sla:mail:draft:{late.id}",
        f"urgent:sla:webhook:draft:{soon.id}",
        f"urgent:sla:webhook:draft:{late.id}",
    ]
    assert _rows(session, calm.id) == []
    soon_mail = next(row for row in rows if row.key == f"urgent:sla:mail:draft:{soon.id}")
    assert "SLA due in 25 min" in soon_mail.payload["text"]
    late_mail = next(row for row in rows if row.key == f"urgent:sla:mail:draft:{late.id}")
    assert "SLA breached by 4 h 20 min" in late_mail.payload["text"]
    assert sla_sweep(session, settings, now=now + timedelta(minutes=5)) == []


def test_an_alert_that_already_named_the_sla_is_not_repeated_by_the_sweep(session, settings):
    draft = _urgent(session)[SLA]
    first = queue_alerts(session, settings, draft, now=utcnow())
    session.commit()

    assert len(first) == 2
    assert sla_sweep(session, settings, now=utcnow()) == []


def test_an_early_alert_does_not_stop_the_sla_warning_later(session, settings):
    draft = _urgent(session)[ANGER]
    queue_alerts(session, settings, draft, now=utcnow())
    session.commit()

    later = utcnow() + timedelta(minutes=215)
    rows = sla_sweep(session, settings, now=later)
    assert sorted(row.key for row in rows if row.draft_id == draft.id) == [
        f"urgent:sla:mail:draft:{draft.id}",
        f"urgent:sla:webhook:draft:{draft.id}",
    ]
