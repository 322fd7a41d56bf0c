"""The owner's insights page: how support went over 7, 30 or 90 days, beside the period before.

Every figure comes from one `Desk.report` call (desk/insights.py); the page adds no queries
of its own. Each section's definition is written for the owner in the pages' language
(web/locale.py, "insights.define.*"), with the SLA target and the 72 h of a verified
resolution filled in from the settings and the code that use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from flask import Blueprint, render_template, request
from markupsafe import Markup

from desk.conversation_facts import VERIFY_AFTER
from desk.insights import PERIODS, Durations, Report
from web import charts
from web.operator import login_required, texts
from web.services import services

insights = Blueprint("insights", __name__, url_prefix="/operator")
DEFAULT_PERIOD = "30d"
# The sections with a definition, as in web/locale.py's "insights.define.<name>".
DEFINED = [
    "report",
    "conversations",
    "durations",
    "sla",
    "csat",
    "ai",
    "cost",
    "latency",
    "summary",
]


@dataclass(frozen=True)
class Figure:
    """One figure of the period beside the previous period's.

    kind says how to show it (count, minutes, seconds, share, score, usd, tokens); for
    `lower_is_better` figures a fall is shown as good news, and None means neither way is
    (more conversations are no better nor worse).
    """

    key: str
    value: float | None
    previous: float | None
    kind: str
    lower_is_better: bool | None = False

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def trend(self) -> str:
        """The change's colour: better, worse, same, or neutral when neither way is good."""
        if not self.change:
            return "same"
        if self.lower_is_better is None:
            return "neutral"
        return "better" if (self.change < 0) == self.lower_is_better else "worse"


def _durations(name: str, now: Durations, business: bool) -> list[Figure]:
    before = now.previous
    figures = [
        Figure(f"{name}.median", now.median_minutes, before.median_minutes, "minutes", True),
        Figure(f"{name}.p90", now.p90_minutes, before.p90_minutes, "minutes", True),
    ]
    if business:
        figures += [
            Figure(
                f"{name}.business_median",
                now.business_median_minutes,
                before.business_median_minutes,
                "minutes",
                True,
            ),
            Figure(
                f"{name}.business_p90",
                now.business_p90_minutes,
                before.business_p90_minutes,
                "minutes",
                True,
            ),
        ]
    return figures


def sections(report: Report, business: bool) -> dict[str, list[Figure]]:
    """The page's figure tables, by section, in the order shown."""
    csat, ai, cost, latency, sla = report.csat, report.ai, report.cost, report.latency, report.sla
    return {
        "conversations": [
            Figure(
                "conversations",
                report.conversations.count,
                report.conversations.previous.count,
                "count",
                None,
            ),
        ],
        "durations": _durations("first_response", report.first_response, business)
        + _durations("resolution", report.resolution, business),
        "sla": [
            Figure(
                "sla.queued",
                sla.queued_conversations,
                sla.previous.queued_conversations,
                "count",
                None,
            ),
            Figure("sla.breached", sla.breached, sla.previous.breached, "count", True),
            Figure("sla.breach_rate", sla.breach_rate, sla.previous.breach_rate, "share", True),
        ],
        "csat": [
            Figure("csat.csat", csat.csat, csat.previous.csat, "share"),
            Figure("csat.rated", csat.rated, csat.previous.rated, "count", None),
            Figure("csat.response_rate", csat.response_rate, csat.previous.response_rate, "share"),
            Figure("csat.happiness", csat.happiness, csat.previous.happiness, "score"),
        ],
        "ai": [
            Figure(
                "ai.verified",
                ai.verified_resolution_rate,
                ai.previous.verified_resolution_rate,
                "share",
            ),
            Figure(
                "ai.assumed",
                ai.assumed_resolution_rate,
                ai.previous.assumed_resolution_rate,
                "share",
            ),
        ],
        "cost": [
            Figure("cost.usd", cost.cost_usd, cost.previous.cost_usd, "usd", None),
            Figure("cost.tokens", cost.tokens, cost.previous.tokens, "tokens", None),
            Figure(
                "cost.tokens_per_conversation",
                cost.tokens_per_conversation,
                cost.previous.tokens_per_conversation,
                "tokens",
                True,
            ),
            Figure(
                "cost.usd_per_conversation",
                cost.cost_usd_per_conversation,
                cost.previous.cost_usd_per_conversation,
                "usd",
                True,
            ),
            Figure(
                "cost.usd_per_resolution",
                cost.cost_usd_per_verified_resolution,
                cost.previous.cost_usd_per_verified_resolution,
                "usd",
                True,
            ),
        ],
        "latency": [
            Figure(
                "latency.p50", latency.p50_seconds, latency.previous.p50_seconds, "seconds", True
            ),
            Figure(
                "latency.p95", latency.p95_seconds, latency.previous.p95_seconds, "seconds", True
            ),
        ],
    }


def _definitions(sla_minutes: int) -> dict[str, list[str]]:
    """Each section's definition, as paragraphs."""
    words, hours = texts(), round(VERIFY_AFTER / timedelta(hours=1))
    return {
        name: words.text(f"insights.define.{name}", minutes=sla_minutes, hours=hours).split("\n\n")
        for name in DEFINED
    }


def _funnel_chart(report: Report) -> Markup:
    words, ai = texts(), report.ai
    steps = ("auto_sent", "approved_unchanged", "edited", "rejected", "escalated")
    return charts.bars(
        [(words.text(f"insights.funnel.{step}"), getattr(ai, step)) for step in steps],
        label=words.text("insights.funnel"),
    )


def _daily_chart(report: Report) -> Markup:
    start = report.period.start
    days = [
        (f"{start + timedelta(days=day):%m-%d}", count)
        for day, count in enumerate(report.conversations.per_day)
    ]
    return charts.columns(days, label=texts().text("insights.per_day"))


@insights.get("/insights")
@login_required
def page():
    period = request.args.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    svc = services()
    report = svc.desk.report(period)
    return render_template(
        "insights.html",
        report=report,
        period=period,
        periods=list(PERIODS),
        sections=sections(report, business=bool(svc.settings.business_hours)),
        definitions=_definitions(svc.settings.review_sla_minutes),
        funnel_chart=_funnel_chart(report),
        daily_chart=_daily_chart(report),
        channel_name=partial(texts().word, "channel"),
    )
