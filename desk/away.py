"""The owner's days off (holidays, away mode) and the honest estimate a waiting customer gets.

    add_holiday(session, date(2026, 12, 25), actor="owner", name="Christmas")
    set_vacation(session, actor="owner", on=True, back_on=date(2026, 12, 3))
    estimate(session, settings)   # open now? when do we open? when will a person answer?

Holidays and away mode are rows of `desk_settings` (JSON values), changed in the
caller's session (the caller commits) and audited. Dates are the shop's local dates, in
the time zone of SUPPORT_BUSINESS_HOURS (UTC for a desk without business hours).
"""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field, field_serializer, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from desk.hours import Schedule, schedule_for
from settings import Settings
from store.models import DeskSetting, Draft, Message, Review, utcnow
from store.operators import audit
from store.queue import RECENT_REVIEWS

HOLIDAYS = "holidays"
VACATION = "vacation"
# Fewer replies than this say little about how long a person takes: the SLA is promised.
FEWEST_REPLIES = 5
# The review actions that sent a reply (a rejection sends none).
REPLIED = ("approve", "edit")


class Holiday(BaseModel):
    day: date
    name: str | None = Field(None, max_length=100)


MAX_AWAY_DAYS = 366


class Vacation(BaseModel):
    """Away mode: nobody answers until `back_on`, the first day a person is back."""

    on: bool = False
    back_on: date | None = None
    note: str | None = Field(None, max_length=500)  # told to waiting customers

    @model_validator(mode="after")
    def _dated(self) -> Vacation:
        # Without a day, no waiting customer could be told when a person answers.
        if self.on and self.back_on is None:
            raise ValueError("away mode needs the day you are back")
        # Every closed day is listed when the next opening is sought: keep the list short.
        if self.on and self.back_on > date.today() + timedelta(days=MAX_AWAY_DAYS):
            raise ValueError(f"away mode lasts at most {MAX_AWAY_DAYS} days")
        return self

    def away_on(self, today: date) -> bool:
        """Whether away mode holds on the shop's date `today` (it ends itself on `back_on`)."""
        return self.on and self.back_on is not None and today < self.back_on


class Estimate(BaseModel):
    """What a customer whose message waits for a person is told."""

    open_now: bool
    away: bool  # away mode is on
    away_note: str | None = None  # the owner's note to customers, while away
    opens_at: datetime | None  # the next opening, naive UTC; None while open
    # The median business minutes from a customer's message to a person's reply, over
    # the last RECENT_REVIEWS replies; None with fewer than FEWEST_REPLIES.
    median_first_response_minutes: int | None
    # What the customer is promised from the opening: the median, else the review SLA.
    answer_within_minutes: int
    reply_expected_at: datetime  # naive UTC
    timezone: str  # the IANA zone the shop's hours are in, for showing the times

    @field_serializer("opens_at", "reply_expected_at", when_used="json-unless-none")
    def _utc(self, value: datetime) -> str:
        # Naive UTC in the store; a client must not read it as its own local time.
        return value.isoformat(timespec="seconds") + "Z"


def holidays(session: Session) -> list[Holiday]:
    """The owner's holidays, earliest first."""
    stored = _read(session, HOLIDAYS).get("days", [])
    return sorted((Holiday.model_validate(item) for item in stored), key=lambda h: h.day)


def add_holiday(
    session: Session, day: date, *, actor: str, name: str | None = None
) -> list[Holiday]:
    """Add (or rename) the holiday `day`; returns the holidays."""
    days = {h.day: h for h in holidays(session)}
    days[day] = Holiday(day=day, name=name or None)
    _write(session, HOLIDAYS, {"days": [h.model_dump(mode="json") for h in days.values()]})
    audit(session, actor, "holiday_add", f"holiday:{day.isoformat()}", name=name or None)
    return holidays(session)


def remove_holiday(session: Session, day: date, *, actor: str) -> bool:
    """Remove the holiday `day`; False when there was none."""
    current = holidays(session)
    kept = [h for h in current if h.day != day]
    if len(kept) == len(current):
        return False
    _write(session, HOLIDAYS, {"days": [h.model_dump(mode="json") for h in kept]})
    audit(session, actor, "holiday_remove", f"holiday:{day.isoformat()}")
    return True


def vacation(session: Session) -> Vacation:
    return Vacation.model_validate(_read(session, VACATION))


def set_vacation(
    session: Session,
    *,
    actor: str,
    on: bool,
    back_on: date | None = None,
    note: str | None = None,
) -> Vacation:
    """Turn away mode on (until `back_on`, with an optional `note` to customers) or off.

    Raises pydantic's ValidationError when it is turned on without `back_on`.
    """
    state = Vacation(on=on, back_on=back_on, note=note or None) if on else Vacation()
    _write(session, VACATION, state.model_dump(mode="json"))
    audit(
        session,
        actor,
        "away_on" if on else "away_off",
        "away_mode",
        back_on=back_on.isoformat() if on and back_on else None,
        note=state.note,
    )
    return state


def closed_dates(session: Session, schedule: Schedule, now: datetime) -> frozenset[date]:
    """The shop's dates without a person: its holidays and what is left of away mode."""
    days = {h.day for h in holidays(session)}
    today = schedule.local_date(now)
    mode = vacation(session)
    if mode.away_on(today):
        days.update(today + timedelta(days=n) for n in range((mode.back_on - today).days))
    return frozenset(days)


def median_first_response_minutes(
    session: Session, schedule: Schedule, closed: frozenset[date] = frozenset()
) -> int | None:
    """The median business minutes from a customer's message to the reply a person sent,
    over the last RECENT_REVIEWS such replies; None with fewer than FEWEST_REPLIES."""
    rows = session.execute(
        select(Message.created_at, Review.created_at)
        .join(Draft, Review.draft_id == Draft.id)
        .join(Message, Draft.message_id == Message.id)
        .where(Review.action.in_(REPLIED))
        .order_by(Review.id.desc())
        .limit(RECENT_REVIEWS)
    ).all()
    if len(rows) < FEWEST_REPLIES:
        return None
    minutes = [schedule.business_minutes_between(asked, replied, closed) for asked, replied in rows]
    return max(1, round(statistics.median(minutes)))


def estimate(session: Session, settings: Settings, now: datetime | None = None) -> Estimate:
    """When a person will answer a message that waits now: the next opening (now, when
    open) plus the usual time to a first reply, in business minutes."""
    now = now or utcnow()
    schedule = schedule_for(settings.business_hours)
    closed = closed_dates(session, schedule, now)
    mode = vacation(session)
    away = mode.away_on(schedule.local_date(now))
    opens = schedule.next_opening(now, closed)
    # Past replies are measured around the holidays; past away days are not kept.
    median = median_first_response_minutes(
        session, schedule, frozenset(h.day for h in holidays(session))
    )
    within = median if median is not None else settings.review_sla_minutes
    return Estimate(
        open_now=opens == now,
        away=away,
        away_note=mode.note if away else None,
        opens_at=None if opens == now else opens,
        median_first_response_minutes=median,
        answer_within_minutes=within,
        reply_expected_at=schedule.after_business_minutes(opens, within, closed),
        timezone=schedule.timezone,
    )


def _read(session: Session, key: str) -> dict:
    row = session.get(DeskSetting, key)
    return dict(row.value) if row else {}


def _write(session: Session, key: str, value: dict) -> None:
    row = session.get(DeskSetting, key)
    if row is None:
        session.add(DeskSetting(key=key, value=value))
    else:
        row.value = value  # a new dict: SQLAlchemy sees a JSON value change only by assignment
    session.flush()
