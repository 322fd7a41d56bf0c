"""The owner's workday in the operator pages: business hours, holidays and away mode.

The business hours come from SUPPORT_BUSINESS_HOURS and are shown read-only, with the
next opening and the estimate waiting customers get now. Holidays and away mode are
changed here; every form is a POST with a CSRF token, every page needs a login, and
every change is audited (desk/away.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, flash, g, redirect, render_template, url_for
from pydantic import Field

from desk import away
from desk.hours import Schedule, schedule_for
from store.models import utcnow
from web.operator import Form, _form, login_required, texts
from web.services import services

workday = Blueprint("workday", __name__, url_prefix="/operator")


class AddHoliday(Form):
    day: date
    title: str | None = Field(None, max_length=100)


class RemoveHoliday(Form):
    day: date


class AwayOn(Form):
    back_on: date
    note: str | None = Field(None, max_length=500)


def _schedule() -> Schedule:
    return schedule_for(services().settings.business_hours)


def _shop_time(at: datetime | None) -> str | None:
    """A stored UTC time on the shop's clock, the same in every language."""
    if at is None:
        return None
    schedule = _schedule()
    local = at.replace(tzinfo=UTC).astimezone(schedule.zone)
    return f"{local:%Y-%m-%d %H:%M} ({schedule.timezone})"


@workday.get("/hours")
@login_required
def hours():
    svc = services()
    with svc.sessions() as db:
        expected = away.estimate(db, svc.settings)
        holidays = away.holidays(db)
        vacation = away.vacation(db)
    return render_template(
        "hours.html",
        business_hours=svc.settings.business_hours,
        timezone=_schedule().timezone,
        estimate=expected,
        opens=_shop_time(expected.opens_at),
        reply_by=_shop_time(expected.reply_expected_at),
        sla=svc.settings.review_sla_minutes,
        holidays=holidays,
        vacation=vacation,
        # The earliest day away mode can end: it starts today.
        tomorrow=_schedule().local_date(utcnow()) + timedelta(days=1),
    )


@workday.post("/hours/holidays")
@login_required
def add_holiday():
    if form := _form(AddHoliday):
        with services().sessions() as db:
            away.add_holiday(db, form.day, actor=g.operator.name, name=form.title)
            db.commit()
        flash(texts().text("flash.holiday_added", date=form.day.isoformat()), "ok")
    return redirect(url_for("workday.hours"))


@workday.post("/hours/holidays/remove")
@login_required
def remove_holiday():
    if form := _form(RemoveHoliday):
        with services().sessions() as db:
            removed = away.remove_holiday(db, form.day, actor=g.operator.name)
            db.commit()
        if removed:
            flash(texts().text("flash.holiday_removed", date=form.day.isoformat()), "ok")
    return redirect(url_for("workday.hours"))


@workday.post("/hours/away")
@login_required
def away_on():
    form = _form(AwayOn)
    today = _schedule().local_date(utcnow())
    if form and form.back_on <= today:
        flash(texts().text("away.past", today=today.isoformat()), "error")
    elif form:
        with services().sessions() as db:
            away.set_vacation(
                db, actor=g.operator.name, on=True, back_on=form.back_on, note=form.note
            )
            db.commit()
        flash(texts().text("flash.away_on", date=form.back_on.isoformat()), "ok")
    return redirect(url_for("workday.hours"))


@workday.post("/hours/away/off")
@login_required
def away_off():
    with services().sessions() as db:
        away.set_vacation(db, actor=g.operator.name, on=False)
        db.commit()
    flash(texts().text("flash.away_off"), "ok")
    return redirect(url_for("workday.hours"))
