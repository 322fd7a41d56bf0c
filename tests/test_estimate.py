"""The honest estimate a waiting customer gets: the next opening (past holidays and away
mode) plus how long people recently took to reply; on the operator page, in the API's
pending result, and in the widget (real headless Chromium; its screenshot goes to
test-artifacts/browser/ for a person to look at).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import delete, select

from desk import away
from desk.hours import DAYS, parse
from settings import Settings
from store.db import session_factory
from store.models import AuditEntry, DeskSetting, DraftStatus, Message, Review, utcnow
from store.operators import set_operator
from tests.browser_helpers import needs_chromium, open_chat
from tests.conftest import MODELS_DIR, ROOT
from tests.loopback import served
from tests.scripted_llm import call, script
from tests.web_helpers import csrf_token, empty_queue, log_in, make_app, queue_pending_draft, send
from tests.web_helpers import start as start_conversation

MODEL = "scripted/estimate"
PASSWORD = "long enough secret"
BERLIN = "Mon-Fri 09:00-17:00 Europe/Berlin"
SATURDAY_NOON = datetime(2026, 11, 28, 11)  # naive UTC; 12:00 in Berlin
MONDAY = date(2026, 11, 30)
REFUND = [call("create_ticket", subject="Refund", summary="wants money back"), "Sorry."]
SHOTS = ROOT / "test-artifacts" / "browser"
# The web app opens one day a week, three days from today in Berlin: closed now, for sure.
TODAY_IN_BERLIN = datetime.now(ZoneInfo("Europe/Berlin")).date()
OPEN_DAY = DAYS[(TODAY_IN_BERLIN.weekday() + 3) % 7]
WEB_HOURS = f"{OPEN_DAY} 09:00-17:00 Europe/Berlin"


def _settings(tmp_path, **values) -> Settings:
    return Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, **values)


@pytest.fixture
def db(tmp_path):
    with session_factory(_settings(tmp_path).db_url)() as session:
        yield session


@pytest.fixture
def owner(db) -> int:
    return set_operator(db, "owner", PASSWORD).id


def _replied(session, owner: int, asked: datetime, replied: datetime, action="approve") -> None:
    """A customer's message asked at `asked`, answered by a person at `replied`."""
    draft, _ = queue_pending_draft(session, "Where is my refund?", reply="Sorry.", priority=50)
    session.flush()
    session.get(Message, draft.message_id).created_at = asked
    draft.status = DraftStatus.APPROVED if action != "reject" else DraftStatus.REJECTED
    session.add(Review(draft_id=draft.id, operator_id=owner, action=action, created_at=replied))
    session.commit()


def test_the_median_first_response_is_measured_over_replies_people_sent(tmp_path, db, owner):
    asked = datetime(2026, 11, 25, 10)
    for minutes in (10, 20, 30, 40, 50):
        _replied(db, owner, asked, asked + timedelta(minutes=minutes))
    _replied(db, owner, asked, asked + timedelta(days=3), action="reject")  # no reply sent
    now = datetime(2026, 11, 26, 12)
    estimate = away.estimate(db, _settings(tmp_path), now=now)
    assert estimate.open_now and not estimate.away and estimate.opens_at is None
    assert estimate.median_first_response_minutes == 30
    assert estimate.answer_within_minutes == 30
    assert estimate.reply_expected_at == now + timedelta(minutes=30)
    assert estimate.timezone == "UTC"  # a desk without business hours


def test_replies_over_a_weekend_count_only_business_minutes(tmp_path, db, owner):
    friday = datetime(2026, 11, 27, 15, 30)  # 16:30 in Berlin
    for _ in range(3):  # an hour of business time each: 30 min on Friday, 30 on Monday
        _replied(db, owner, friday, datetime(2026, 11, 30, 8, 30))
    morning = datetime(2026, 11, 27, 9)
    for minutes in (10, 20):
        _replied(db, owner, morning, morning + timedelta(minutes=minutes))
    estimate = away.estimate(db, _settings(tmp_path, business_hours=BERLIN), now=SATURDAY_NOON)
    assert estimate.median_first_response_minutes == 60
    assert estimate.reply_expected_at == datetime(2026, 11, 30, 9)  # Monday 10:00 in Berlin


def test_closed_at_the_weekend_the_customer_is_told_monday_plus_the_sla(tmp_path, db):
    settings = _settings(tmp_path, business_hours=BERLIN, review_sla_minutes=600)
    estimate = away.estimate(db, settings, now=SATURDAY_NOON)
    assert not estimate.open_now and not estimate.away
    assert estimate.opens_at == datetime(2026, 11, 30, 8)  # Monday 09:00 in Berlin
    assert estimate.median_first_response_minutes is None  # no replies yet
    assert estimate.answer_within_minutes == 600
    # Ten business hours from Monday 09:00: Tuesday 11:00 in Berlin.
    assert estimate.reply_expected_at == datetime(2026, 12, 1, 10)
    assert estimate.timezone == "Europe/Berlin"
    shown = estimate.model_dump(mode="json")
    assert shown["opens_at"] == "2026-11-30T08:00:00Z"


def test_a_holiday_and_away_mode_move_the_opening_and_are_audited(tmp_path, db):
    settings = _settings(tmp_path, business_hours=BERLIN)
    away.add_holiday(db, MONDAY, actor="owner", name="Founder's day")
    db.commit()
    assert away.estimate(db, settings, now=SATURDAY_NOON).opens_at == datetime(2026, 12, 1, 8)

    away.set_vacation(db, actor="owner", on=True, back_on=date(2026, 12, 3), note="Skiing!")
    db.commit()
    monday_morning = datetime(2026, 11, 30, 9)
    estimate = away.estimate(db, settings, now=monday_morning)
    assert estimate.away and not estimate.open_now
    assert estimate.opens_at == datetime(2026, 12, 3, 8)  # Thursday 09:00 in Berlin
    assert estimate.away_note == "Skiing!"
    # Away mode ends by itself on the day the owner is back.
    back = away.estimate(db, settings, now=datetime(2026, 12, 3, 9))
    assert back.open_now and not back.away and back.away_note is None

    away.set_vacation(db, actor="owner", on=False)
    assert away.remove_holiday(db, MONDAY, actor="owner")
    db.commit()
    assert away.estimate(db, settings, now=monday_morning).open_now
    actions = db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-4:] == ["holiday_add", "away_on", "away_off", "holiday_remove"]


def test_away_mode_needs_the_day_the_owner_is_back(db):
    with pytest.raises(ValidationError, match="away mode needs the day you are back"):
        away.set_vacation(db, actor="owner", on=True)


# The operator page and the API ------------------------------------------------------


@pytest.fixture
def app(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, business_hours=WEB_HOURS)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
        # The module's tests share one shop copy: each starts with no days off.
        session.execute(delete(DeskSetting))
        empty_queue(session)
        session.commit()
    return app


def _owner(app):
    client = app.test_client()
    assert log_in(client, "owner", PASSWORD).status_code == 302
    return client


def _shop_time(at: datetime) -> str:
    return f"{at.replace(tzinfo=UTC).astimezone(ZoneInfo('Europe/Berlin')):%Y-%m-%d %H:%M}"


def test_the_hours_page_needs_a_login(client):
    response = client.get("/operator/hours")
    assert response.status_code == 302
    assert response.location.endswith("/operator/login?next=/operator/hours")
    assert client.post("/operator/hours/away/off").status_code == 400  # no CSRF token either


def test_the_hours_page_refuses_forms_without_their_csrf_token(app):
    client = _owner(app)
    assert "Business hours and away mode" in client.get("/operator/hours").get_data(as_text=True)
    day = (TODAY_IN_BERLIN + timedelta(days=10)).isoformat()
    assert client.post("/operator/hours/holidays", data={"day": day}).status_code == 400
    assert client.post("/operator/hours/away", data={"back_on": day}).status_code == 400
    with app.extensions["support"].sessions() as session:
        assert away.holidays(session) == [] and not away.vacation(session).on


def test_adding_a_holiday_on_the_page_moves_the_next_opening(app):
    client = _owner(app)
    page = client.get("/operator/hours").get_data(as_text=True)
    schedule = parse(WEB_HOURS)
    opening = schedule.next_opening(utcnow())
    assert WEB_HOURS in page and _shop_time(opening) in page
    assert "Fewer than 5 replies by a person so far" in page or "Usual first response" in page

    holiday = schedule.local_date(opening)
    added = client.post(
        "/operator/hours/holidays",
        data={"day": holiday.isoformat(), "title": "Inventory", "csrf_token": csrf_token(page)},
    )
    page = client.get(added.location).get_data(as_text=True)
    assert f"Holiday added: {holiday.isoformat()}." in page and "Inventory" in page
    assert _shop_time(opening) not in page
    assert _shop_time(opening + timedelta(days=7)) in page  # the next week's opening day


def test_away_mode_is_turned_on_and_off_on_the_page(app):
    client = _owner(app)
    page = client.get("/operator/hours").get_data(as_text=True)
    back_on = TODAY_IN_BERLIN + timedelta(days=10)
    turned_on = client.post(
        "/operator/hours/away",
        data={"back_on": back_on.isoformat(), "note": "Back soon.", "csrf_token": csrf_token(page)},
    )
    page = client.get(turned_on.location).get_data(as_text=True)
    assert f"On until {back_on.isoformat()}" in page and "Back soon." in page
    assert "Away mode is on; the desk opens" in page
    in_the_past = client.post(
        "/operator/hours/away",
        data={"back_on": TODAY_IN_BERLIN.isoformat(), "csrf_token": csrf_token(page)},
    )
    assert "must be after today" in client.get(in_the_past.location).get_data(as_text=True)
    turned_off = client.post("/operator/hours/away/off", data={"csrf_token": csrf_token(page)})
    assert "Away mode is off." in client.get(turned_off.location).get_data(as_text=True)


def test_a_message_waiting_for_a_person_gets_the_estimate_in_the_api(client):
    conversation, auth = start_conversation(client)
    script(MODEL, REFUND)
    response = send(client, conversation, auth, "This kettle leaks. I want a full refund now.")
    body = response.json
    assert body["status"] == "pending" and body["expected_wait_minutes"] > 0
    estimate = body["estimate"]
    opening = parse(WEB_HOURS).next_opening(utcnow())
    assert estimate["open_now"] is False and estimate["away"] is False
    assert estimate["opens_at"] == f"{opening:%Y-%m-%dT%H:%M:%S}Z"
    assert estimate["timezone"] == "Europe/Berlin"
    usual = estimate.get("median_first_response_minutes", 240)
    assert estimate["answer_within_minutes"] == usual
    assert estimate["reply_expected_at"].endswith("Z")


@needs_chromium
def test_the_widget_tells_a_waiting_customer_when_we_open(app, browser):
    with served(app) as url:
        open_chat(browser, url)
        script(MODEL, REFUND)
        question = "This kettle leaks. I want a full refund now."
        browser.find_element(By.CSS_SELECTOR, ".sw-input").send_keys(question, Keys.ENTER)
        notice = WebDriverWait(browser, 60).until(
            seen.visibility_of_element_located((By.CSS_SELECTOR, ".sw-notice"))
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "widget-estimate.png"))
    weekday = (TODAY_IN_BERLIN + timedelta(days=3)).strftime("%A")
    # Chromium's locale is en-US: "9:00 AM" (with a narrow space).
    assert re.fullmatch(
        f"We're closed now. We open {weekday} at 9:00\\sAM \\(Europe/Berlin\\) and usually "
        r"answer within \d+ (hours|minutes) of opening\.",
        notice.text,
    ), notice.text
