"""The operator's pages: login, the approval queue, one draft, tickets and the audit log.

Every page needs a login; every form carries a CSRF token (Flask-WTF checks each POST).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from desk import Action, NoSuchDraft
from store.models import AuditEntry, Conversation, Draft, Message, Operator, Ticket, utcnow
from store.operators import audit, check_login
from store.queue import AlreadyDecided, pending
from web.limits import limiter
from web.services import services

operator = Blueprint("operator", __name__, url_prefix="/operator")
log = logging.getLogger(__name__)

PAGE = 100


class Form(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)


class Login(Form):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class Approve(Form):
    text: str = Field(min_length=1, max_length=8000)


class Reject(Form):
    reason: str = Field(min_length=3, max_length=500)


def _form(model: type[Form]) -> Form | None:
    """The posted form as `model`, or None after flashing what is wrong."""
    try:
        return model.model_validate(request.form.to_dict())
    except ValidationError as error:
        first = error.errors()[0]
        flash(f"{first['loc'][0]}: {first['msg']}", "error")
        return None


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(*args, **kwargs):
        operator_id = session.get("operator_id")
        with services().sessions() as db:
            g.operator = db.get(Operator, operator_id) if operator_id else None
        if g.operator is None:
            return redirect(url_for("operator.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a link send the owner elsewhere.
    if target and target.startswith("/") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("operator.queue")


@operator.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login():
    if request.method == "POST" and (form := _form(Login)):
        with services().sessions() as db:
            found = check_login(db, form.name, form.password)
            audit(db, form.name, "login" if found else "login_failed", f"operator:{form.name}")
            db.commit()
        if found:
            session.clear()  # a fresh session on login: no fixation
            session["operator_id"] = found.id
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong name or password.", "error")
    return render_template("login.html"), 401 if request.method == "POST" else 200


@operator.post("/logout")
@login_required
def logout():
    with services().sessions() as db:
        audit(db, g.operator.name, "logout", f"operator:{g.operator.name}")
        db.commit()
    session.clear()
    return redirect(url_for("operator.login"))


@operator.get("/")
@login_required
def queue():
    svc = services()
    with svc.sessions() as db:
        rows = [
            (
                item,
                db.get(Message, item.draft.message_id),
                db.get(Conversation, item.draft.conversation_id),
            )
            for item in pending(db, svc.settings.review_sla_minutes)
        ]
    return render_template("queue.html", rows=rows, sla=svc.settings.review_sla_minutes)


@operator.get("/drafts/<int:draft_id>")
@login_required
def draft_page(draft_id: int):
    svc = services()
    with svc.sessions() as db:
        draft = db.get(Draft, draft_id) or abort(404)
        conversation = db.get(Conversation, draft.conversation_id)
        messages = list(conversation.messages)
        reviews = list(draft.reviews)
        names = {o.id: o.name for o in db.scalars(select(Operator))}
        ticket = db.get(Ticket, draft.ticket_id) if draft.ticket_id else None
        waited = (utcnow() - draft.created_at).total_seconds() / 60
    return render_template(
        "draft.html",
        draft=draft,
        conversation=conversation,
        messages=messages,
        reviews=reviews,
        names=names,
        ticket=ticket,
        waited=waited,
        sla=svc.settings.review_sla_minutes,
    )


def _decide(draft_id: int, action: Action, form: Form) -> None:
    svc = services()
    try:
        review = svc.desk.decide(
            draft_id,
            operator_id=g.operator.id,
            action=action,
            text=form.text if isinstance(form, Approve) else None,
            reason=form.reason if isinstance(form, Reject) else None,
        )
    except NoSuchDraft:
        abort(404)
    except AlreadyDecided as error:
        flash(str(error), "error")
        return
    svc.metrics.decisions.labels(review.action).inc()
    done = {"approve": "Approved and sent", "edit": "Edited and sent", "reject": "Rejected"}
    flash(f"{done[review.action]}: draft {draft_id}.", "ok")


DECISION_FORMS: dict[Action, type[Form]] = {Action.APPROVE: Approve, Action.REJECT: Reject}


@operator.post("/drafts/<int:draft_id>/<any(approve, reject):action>")
@login_required
def decide_draft(draft_id: int, action: str):
    if form := _form(DECISION_FORMS[Action(action)]):
        _decide(draft_id, Action(action), form)
        return redirect(url_for("operator.queue"))
    return redirect(url_for("operator.draft_page", draft_id=draft_id))


@operator.get("/tickets")
@login_required
def tickets():
    with services().sessions() as db:
        rows = list(db.scalars(select(Ticket).order_by(Ticket.id.desc()).limit(PAGE)))
    return render_template("tickets.html", tickets=rows)


@operator.get("/audit")
@login_required
def audit_log():
    with services().sessions() as db:
        rows = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(PAGE)))
    return render_template("audit.html", entries=rows)
