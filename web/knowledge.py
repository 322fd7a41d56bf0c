"""The owner's knowledge page: the gaps customers asked about, and knowledge that misled.

Gaps are the questions that went to review for weak or missing knowledge over 7, 30 or
90 days, clustered by meaning (desk/gaps.py); a cluster whose drafts got an approved
answer offers it as an FAQ draft, which the owner may edit and publish in one click.
Below, the knowledge to review: the articles and FAQs cited by drafts the owner edited or
rejected, with why; those no question found in 60 days; and passages of two documents that
give different numbers for one thing, as the last `support-agent knowledge check` found
(desk/knowledge_review.py: the check asks the LLM, so this page only reads its findings).
Every page needs a login, the publish form is a POST with a CSRF token, and publishing
is audited.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from pydantic import Field

from desk.gaps import UnknownGap
from desk.knowledge_review import UNUSED_DAYS
from web.operator import Form, _form, login_required, texts
from web.services import services

knowledge = Blueprint("knowledge", __name__, url_prefix="/operator")
log = logging.getLogger(__name__)

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30


class Publish(Form):
    key: str = Field(pattern=r"^\d{1,18}$")
    days: int = Field(DEFAULT_DAYS, ge=1, le=max(PERIODS))
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=8000)


def _days() -> int:
    days = request.args.get("days", DEFAULT_DAYS, type=int)
    return days if days in PERIODS else DEFAULT_DAYS


@knowledge.get("/knowledge")
@login_required
def page():
    desk = services().desk
    days = _days()
    return render_template(
        "knowledge.html",
        days=days,
        periods=PERIODS,
        clusters=desk.knowledge_gaps(days),
        stale=desk.stale_knowledge(days),
        unretrieved=_unretrieved(desk),
        unused_days=UNUSED_DAYS,
        contradictions=desk.contradictions(),
    )


def _unretrieved(desk) -> list | None:
    """The documents no question found; None while the knowledge base cannot be read (a
    re-index replacing it, another embedding model): the rest of the page still shows."""
    try:
        return desk.unretrieved_knowledge()
    except Exception:
        log.exception("could not read the knowledge base for the knowledge page")
        return None


@knowledge.post("/knowledge/publish")
@login_required
def publish():
    form = _form(Publish)
    days = form.days if form else _days()
    if form:
        try:
            services().desk.publish_gap(
                form.key,
                question=form.question,
                answer=form.answer,
                actor=g.operator.name,
                days=form.days,
            )
        except UnknownGap:
            flash(texts().text("knowledge.gone"), "error")
        else:
            flash(texts().text("knowledge.published", question=form.question), "ok")
    return redirect(url_for("knowledge.page", days=days))
