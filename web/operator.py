"""The operator's pages: login, the approval queue, one draft, tickets and the audit log.

Every page needs a login; every form carries a CSRF token (Flask-WTF checks each POST).
A login lasts `session_hours` from the moment it was made, and ends everywhere when the
operator logs out or gets a new password (the operator's session_version goes up).
The queue and the audit log are shown 50 rows a page (`?page=N`).
The pages speak the shop's language (SUPPORT_SHOP_LANGUAGE: en or zh, else English), and
show a draft in another language beside its translation into the shop's.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import unquote, urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select

from desk import Action, NoSuchDraft, TranslationFailed
from store.models import AuditEntry, Conversation, Draft, Message, Operator, Ticket, utcnow
from store.operators import LOGIN_FAILED_UNKNOWN, audit, audit_login, check_login, end_sessions
from store.queue import AlreadyDecided, pending
from web.limits import limiter
from web.locale import Locale, locale_for
from web.plain import markdown_to_text
from web.services import services

operator = Blueprint("operator", __name__, url_prefix="/operator")
log = logging.getLogger(__name__)

PAGE = 100  # tickets shown
PER_PAGE = 50  # queue and audit rows a page


class Form(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)


class Login(Form):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class Approve(Form):
    text: str = Field(min_length=1, max_length=8000)
    # What the operator wrote in the shop's language, when `text` is its translation.
    original: str | None = Field(None, min_length=1, max_length=8000)


class Compose(Form):
    """A reply written in the shop's language, to be translated for the customer."""

    original: str = Field(min_length=1, max_length=8000)


class Reject(Form):
    reason: str = Field(min_length=3, max_length=500)


def texts() -> Locale:
    """The fixed texts of the pages in the shop's language."""
    return locale_for(services().settings.shop_language)


# For every operator page, whichever blueprint renders it (insights, mail, hours…).
@operator.app_context_processor
def _page_texts() -> dict:
    return {"texts": texts(), "shop_language": services().settings.shop_language}


@operator.app_template_filter("readable_json")
def _readable_json(value: object) -> str:
    # Not ASCII-escaped, so an operator's text in German or Chinese reads as written; the
    # template escapes it for HTML like any other text.
    return json.dumps(value, ensure_ascii=False)


# Citation snippets are cut from Markdown help articles: shown as the text they say.
operator.add_app_template_filter(markdown_to_text, "plain_text")


def _form(model: type[Form]) -> Form | None:
    """The posted form as `model`, or None after flashing what is wrong."""
    try:
        return model.model_validate(request.form.to_dict())
    except ValidationError as error:
        flash(_problem(error.errors()[0]), "error")
        return None


def _problem(error: dict) -> str:
    """One form error in the pages' language."""
    words = texts()
    field = words.word("field", str(error["loc"][0]) if error["loc"] else "")
    limits = error.get("ctx", {})
    if error["type"] == "missing" or limits.get("min_length") == 1:
        return words.text("form.missing", field=field)
    if error["type"] == "string_too_short":
        return words.text("form.too_short", field=field, limit=limits["min_length"])
    if error["type"] == "string_too_long":
        return words.text("form.too_long", field=field, limit=limits["max_length"])
    return words.text("form.invalid", field=field, message=error["msg"])


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(*args, **kwargs):
        g.operator = _logged_in_operator()
        if g.operator is None:
            return redirect(url_for("operator.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def _logged_in_operator() -> Operator | None:
    """The operator of this session, unless the login expired or was ended since."""
    operator_id = session.get("operator_id")
    if operator_id is None:
        return None
    hours = services().settings.session_hours
    logged_in_at = session.get("logged_in_at")
    with services().sessions() as db:
        found = db.get(Operator, operator_id)
    if (
        found is None
        or not isinstance(logged_in_at, int | float)
        or time.time() - logged_in_at > hours * 3600
        or session.get("session_version") != found.session_version
    ):
        session.clear()  # expired, logged out elsewhere, or the password changed
        return None
    return found


def _safe_next(target: str | None) -> str:
    """TARGET if it is an operator page of this site, else the queue: never an open redirect."""
    fallback = url_for("operator.queue")
    if not target or len(target) > 2000:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.fragment:
        return fallback
    # Check the path as sent and as decoded: %2F%2F and %5C must not sneak through either.
    for path in (parts.path, unquote(parts.path)):
        segments = path.split("/")
        if (
            not path.startswith(fallback)
            or "//" in path
            or "\\" in path
            or any(char.isspace() or not char.isprintable() for char in path)
            or any(segment in (".", "..") for segment in segments)
        ):
            return fallback
    if "\\" in target or any(char.isspace() or not char.isprintable() for char in target):
        return fallback
    return target


@operator.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login():
    if request.method == "POST" and (form := _form(Login)):
        with services().sessions() as db:
            found = check_login(db, form.name, form.password)
            audit_login(db, form.name, found)
            db.commit()
        if found:
            session.clear()  # a fresh session on login: no fixation
            session.permanent = True  # the cookie lives PERMANENT_SESSION_LIFETIME
            session["operator_id"] = found.id
            session["session_version"] = found.session_version
            session["logged_in_at"] = int(time.time())
            return redirect(_safe_next(request.args.get("next")))
        flash(texts().text("login.wrong"), "error")
    return render_template("login.html"), 401 if request.method == "POST" else 200


@operator.post("/logout")
@login_required
def logout():
    with services().sessions() as db:
        end_sessions(db, g.operator.id)  # every browser, and any copy of this cookie
        audit(db, g.operator.name, "logout", f"operator:{g.operator.name}")
        db.commit()
    session.clear()
    return redirect(url_for("operator.login"))


@dataclass(frozen=True)
class Page:
    """One page of a long list: `number` counts from 1, and is clamped to the last page."""

    number: int
    total: int
    per_page: int = PER_PAGE

    @classmethod
    def requested(cls, total: int) -> Page:
        """The page `?page=N` asks for, within 1 and the last page (a bad N means page 1)."""
        number = request.args.get("page", default=1, type=int)
        return cls(min(max(1, number), cls(1, total).pages), total)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


@operator.get("/")
@login_required
def queue():
    svc = services()
    with svc.sessions() as db:
        waiting = pending(db, svc.settings.review_sla_minutes)
        page = Page.requested(len(waiting))
        rows = [
            (
                item,
                db.get(Message, item.draft.message_id),
                db.get(Conversation, item.draft.conversation_id),
            )
            for item in waiting[page.offset : page.offset + page.per_page]
        ]
    return render_template("queue.html", rows=rows, page=page, sla=svc.settings.review_sla_minutes)


@dataclass(frozen=True)
class Composed:
    """A reply the operator wrote in the shop's language, and its translation once made."""

    original: str
    translation: str | None = None


@operator.get("/drafts/<int:draft_id>")
@login_required
def draft_page(draft_id: int):
    return _draft_page(draft_id)


@operator.get("/next")
@login_required
def next_draft():
    """The waiting draft after `?after=ID` in the queue's order (round to the top), else the
    most urgent one; the queue when none waits."""
    svc = services()
    after = request.args.get("after", type=int)
    with svc.sessions() as db:
        ids = [item.draft.id for item in pending(db, svc.settings.review_sla_minutes)]
    if after in ids:
        at = ids.index(after)
        ids = ids[at + 1 :] + ids[:at]
    if not ids:
        return redirect(url_for("operator.queue"))
    return redirect(url_for("operator.draft_page", draft_id=ids[0]))


def _draft_page(draft_id: int, composed: Composed | None = None):
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
        composed=composed,
    )


@operator.post("/drafts/<int:draft_id>/translate")
@login_required
def translate_draft(draft_id: int):
    """Translate a draft that has no translation yet (older, or its translation failed)."""
    try:
        services().desk.translate_draft(draft_id)
    except NoSuchDraft:
        abort(404)
    except TranslationFailed as error:
        flash(texts().text("translation.failed", error=error), "error")
    return redirect(url_for("operator.draft_page", draft_id=draft_id))


@operator.post("/drafts/<int:draft_id>/translate-reply")
@login_required
def translate_reply(draft_id: int):
    """The operator's reply in the shop's language beside its translation, to approve."""
    form = _form(Compose)
    if form is None:
        return _draft_page(draft_id, Composed(request.form.get("original", "")))
    try:
        translation = services().desk.translate_reply(draft_id, form.original)
    except NoSuchDraft:
        abort(404)
    except AlreadyDecided:
        _flash_decided(draft_id)
        return redirect(url_for("operator.draft_page", draft_id=draft_id))
    except TranslationFailed as error:
        # The page again with the operator's words in place: nothing typed is lost.
        flash(texts().text("translation.failed", error=error), "error")
        return _draft_page(draft_id, Composed(form.original))
    return _draft_page(draft_id, Composed(form.original, translation))


def _decide(draft_id: int, action: Action, form: Form) -> None:
    svc = services()
    words = texts()
    approved = form if isinstance(form, Approve) else None
    try:
        review = svc.desk.decide(
            draft_id,
            operator_id=g.operator.id,
            action=action,
            text=approved.text if approved else None,
            reason=form.reason if isinstance(form, Reject) else None,
            original=approved.original if approved else None,
        )
    except NoSuchDraft:
        abort(404)
    except AlreadyDecided:
        _flash_decided(draft_id)
        return
    svc.metrics.decisions.labels(review.action).inc()
    done = "translated" if review.original is not None else review.action
    flash(words.text(f"flash.{done}", id=draft_id), "ok")


def _flash_decided(draft_id: int) -> None:
    """Someone decided the draft first: say how, in the pages' language."""
    with services().sessions() as db:
        status = db.scalar(select(Draft.status).where(Draft.id == draft_id))
    words = texts()
    flash(words.text("flash.decided", id=draft_id, status=words.word("status", status)), "error")


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


AUDIT_VIEWS = {
    # ?show=…: what operators did (and refused logins with their names), or the
    # refused logins with names that are no operator: guessing must not bury the rest.
    "operators": AuditEntry.action != LOGIN_FAILED_UNKNOWN,
    "unknown": AuditEntry.action == LOGIN_FAILED_UNKNOWN,
}


@operator.get("/audit")
@login_required
def audit_log():
    show = request.args.get("show", "operators")
    if show not in AUDIT_VIEWS:
        show = "operators"
    with services().sessions() as db:
        counts = {
            name: db.scalar(select(func.count()).select_from(AuditEntry).where(where))
            for name, where in AUDIT_VIEWS.items()
        }
        page = Page.requested(counts[show])
        rows = list(
            db.scalars(
                select(AuditEntry)
                .where(AUDIT_VIEWS[show])
                .order_by(AuditEntry.id.desc())
                .offset(page.offset)
                .limit(page.per_page)
            )
        )
    return render_template("audit.html", entries=rows, page=page, show=show, counts=counts)
