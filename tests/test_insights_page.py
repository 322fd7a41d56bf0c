"""The owner's insights page on a seeded history, its SVG charts, and the page in Chromium.

The history is tests/test_insights.py's, whose figures are worked out by hand there; here
they must appear on the page as the owner reads them. Screenshots go to
test-artifacts/browser/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import event

from desk import Desk
from server import create_app
from store.models import utcnow
from store.operators import set_operator
from tests.browser_helpers import needs_chromium
from tests.conftest import ROOT
from tests.loopback import served
from tests.test_insights import NOW, seed_history
from tests.web_helpers import log_in
from web import charts

PASSWORD = "a page of numbers"
SHOTS = ROOT / "test-artifacts" / "browser"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}


def _app(settings) -> Flask:
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
        session.commit()
    return app


@pytest.fixture
def app(settings) -> Flask:
    """A desk of its own with the seeded history ending now (the page reports up to now)."""
    app = _app(settings)
    seed_history(app.extensions["support"].desk, utcnow())
    return app


@pytest.fixture
def owner(app):
    client = app.test_client()
    assert log_in(client, "owner", PASSWORD).status_code == 302
    return client


def _page(client, query: str = "") -> BeautifulSoup:
    response = client.get("/operator/insights" + query)
    assert response.status_code == 200
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _row(page: BeautifulSoup, key: str) -> tuple[str, str, str]:
    """A figure's value, the previous period's, and the change, as the page writes them."""
    cells = page.find(id=f"fig-{key}").find_all("td")
    return tuple(" ".join(cell.get_text(" ", strip=True).split()) for cell in cells)


def _table(page: BeautifulSoup, table_id: str) -> dict[str, list[str]]:
    rows = page.find(id=table_id).select("tbody tr")
    return {
        row.th.get_text(strip=True): [td.get_text(strip=True) for td in row.find_all("td")]
        for row in rows
    }


def test_the_insights_page_needs_a_login(client):
    response = client.get("/operator/insights")
    assert response.status_code == 302
    assert response.location.endswith("/operator/login?next=/operator/insights")


def test_the_page_shows_the_seeded_figures_beside_the_previous_period(owner):
    page = _page(owner, "?period=7d")
    # Six conversations in the last 7 days, one in the 7 before (tests/test_insights.py).
    assert _row(page, "conversations") == ("6", "1", "▲ 5")
    # First replies [0.5, 1, 1, 3, 200] min: median 1, p90 121.2; the previous period's 1.
    assert _row(page, "first_response.median") == ("1 min", "1 min", "=")
    assert _row(page, "first_response.p90") == ("2 h 1 min", "1 min", "▲ 2 h 0 min")
    assert _row(page, "resolution.median")[0] == "2 h 40 min"
    assert page.find(id="fig-first_response.business_median") is None  # no business hours
    # Ratings A 5, B 2, C 4; five conversations got a reply; happiness 100 * (2 - 1) / 3.
    assert _row(page, "csat.csat") == ("67%", "–", "")
    assert _row(page, "csat.response_rate") == ("60%", "0%", "▲ 60 pp")
    assert _row(page, "csat.happiness")[0] == "+33"
    assert _row(page, "sla.breached") == ("1", "0", "▲ 1")
    assert _row(page, "ai.verified") == ("50%", "100%", "▼ 50 pp")
    assert _row(page, "ai.assumed") == ("50%", "100%", "▼ 50 pp")
    assert _row(page, "cost.usd")[0] == "$0.1400"
    assert _row(page, "cost.tokens_per_conversation")[0] == "267"
    assert _row(page, "cost.usd_per_resolution")[0] == "$0.0700"
    assert _row(page, "latency.p50") == ("60.0 s", "60.0 s", "=")
    assert _row(page, "latency.p95") == ("168.0 s", "60.0 s", "▲ 108.0 s")
    assert _table(page, "by-model") == {
        "m1": ["6", "1000", "$0.0800"],
        "m2": ["2", "600", "$0.0600"],
    }
    assert _table(page, "by-channel")["Chat widget"][:2] == ["4", "1 min"]
    assert _table(page, "by-channel")["Email"][:2] == ["2", "1 h 42 min"]
    assert _table(page, "by-language")["German"][:2] == ["1", "3 h 20 min"]
    assert _table(page, "by-language")["English"][0] == "5"
    # The funnel chart: one bar per step, with its count.
    funnel = [title.get_text() for title in page.select("svg.bars title")]
    assert funnel == [
        "Answered automatically: 5",
        "Approved unchanged: 1",
        "Edited, then sent: 1",
        "Rejected: 1",
        "Escalated to a person: 1",
    ]
    # A column a day, adding up to the period's conversations.
    days = [title.get_text() for title in page.select("svg.columns title")]
    assert len(days) == 7
    assert sum(int(day.rsplit(": ", 1)[1]) for day in days) == 6


def test_switching_the_period_changes_the_figures(owner):
    week, month = _page(owner, "?period=7d"), _page(owner, "?period=30d")
    # All eight conversations began within 30 days, none in the 30 before.
    assert _row(month, "conversations") == ("8", "0", "▲ 8")
    assert _row(month, "ai.verified")[:2] == ("67%", "–")  # Q, P, F, A of them and B, C
    assert _row(week, "conversations")[0] == "6"
    assert month.select_one("nav.periods [aria-current]").get_text() == "30 days"
    assert week.select_one("nav.periods [aria-current]").get_text() == "7 days"
    assert len(month.select("svg.columns title")) == 30
    # 30 days unless a known period is asked for.
    for query in ("", "?period=1y"):
        assert _row(_page(owner, query), "conversations") == ("8", "0", "▲ 8")


def test_every_figure_has_its_definition_a_hover_or_a_click_away(owner):
    page = _page(owner)
    names = page.select("table.figures tbody th")
    assert len(names) >= 20
    assert all(name.get("title") for name in names)
    definitions = " ".join(d.get_text(" ", strip=True) for d in page.select("details.define"))
    for words in (
        "CSAT: the share of ratings that are 4 or 5",
        "minus the percentage of 1-2 ratings",
        "within 72 hours of a reply and whose last rating, if any, is not 1 or 2",
        "more than 240 minutes (on the clock, not business hours)",  # the SLA setting
        "from each message to the AI's reply to it",
        "the median is the 50th percentile",
    ):
        assert words in definitions


def test_a_chinese_shop_reads_every_definition_in_chinese(settings):
    app = _app(settings.model_copy(update={"shop_language": "zh", "review_sla_minutes": 90}))
    seed_history(app.extensions["support"].desk, utcnow())
    client = app.test_client()
    assert log_in(client, "owner", PASSWORD).status_code == 302
    page = _page(client)
    definitions = [d.get_text(" ", strip=True) for d in page.select("details.define")]
    assert len(definitions) == 9
    assert all(text.startswith("定义") for text in definitions)
    joined = " ".join(definitions)
    assert "满意度（CSAT）：4 分或 5 分评分所占的比例" in joined
    assert "超过 90 分钟（按实际时间" in joined and "至少 72 小时" in joined
    assert "rating" not in joined and "conversation" not in joined


def test_the_page_reads_one_report_with_a_few_queries(app, owner):
    engine = app.extensions["support"].sessions.kw["bind"]
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        _page(owner, "?period=90d")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    # The login's operator and the report's few reads: however many conversations there are.
    assert len(statements) <= 3, statements


def test_business_hours_add_the_business_minutes_rows(tmp_path):
    from settings import Settings
    from tests.conftest import MODELS_DIR

    app = _app(
        Settings(
            data_dir=tmp_path / "data",
            models_dir=MODELS_DIR,
            business_hours="Mon-Fri 09:00-17:00 UTC",
            shop_language="zh",
        )
    )
    seed_history(app.extensions["support"].desk, utcnow())
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    page = _page(client, "?period=7d")
    assert page.find(id="fig-first_response.business_median") is not None
    assert page.h1.get_text() == "客服情况"  # the shop's language


def test_the_report_counts_the_conversations_of_each_day(settings):
    desk = Desk(settings)
    seed_history(desk, NOW)
    count = desk.report("7d", now=NOW).conversations
    # Days from Fri 13 12:00: F and A on the first, B, C, then D and E on the last two.
    assert count.per_day == [2, 1, 1, 0, 0, 1, 1]
    assert count.previous.per_day == [0, 0, 0, 0, 1, 0, 0]  # P, Tue 10 12:00


# The charts -------------------------------------------------------------------------


def test_bars_are_as_long_as_their_values_the_longest_the_whole_width():
    svg = BeautifulSoup(charts.bars([("a", 4), ("b", 1), ("c", 0)], width=200), "html.parser")
    lengths = [float(rect["width"]) for rect in svg.select("rect.bar")]
    assert lengths == [200.0, 50.0, 0.0]
    assert svg.svg["viewbox"] == "0 0 200 102" and svg.svg["width"] == "100%"
    assert [t.get_text() for t in svg.select("text.value")] == ["4", "1", "0"]


def test_chart_labels_are_escaped():
    label = '<script>alert("x")</script> & co'
    for svg in (charts.bars([(label, 1)]), charts.columns([(label, 1)], label=label)):
        assert "<script>" not in svg
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in svg


def test_columns_are_as_tall_as_their_counts_and_nothing_divides_by_zero():
    svg = BeautifulSoup(charts.columns([("d1", 2), ("d2", 1), ("d3", 0)], width=90), "html.parser")
    heights = [float(rect["height"]) for rect in svg.select("rect.bar")]
    assert heights == [charts.COLUMN_HEIGHT, charts.COLUMN_HEIGHT / 2, 0]
    assert [t.get_text() for t in svg.select("text")] == ["d1", "d3"]
    empty = charts.columns([("d1", 0)]) + charts.bars([]) + charts.bars([("none", 0)])
    assert "nan" not in empty.lower()


# In Chromium -----------------------------------------------------------------------


@pytest.fixture
def base_url(app) -> Iterator[str]:
    with served(app) as url:
        yield url


def _whole_page_shot(browser: WebDriver, metrics: dict, name: str) -> None:
    """A screenshot of the whole page, at the width of `metrics`."""
    height = browser.execute_script("return document.scrollingElement.scrollHeight")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


@needs_chromium
@pytest.mark.parametrize(("metrics", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_page_fits_a_desktop_and_a_phone_in_chromium(base_url, browser, metrics, name):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(base_url + "/operator/login?next=/operator/insights?period=7d")
    browser.find_element(By.NAME, "name").send_keys("owner")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(browser, 15).until(seen.url_contains("/operator/insights"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "How support is going"
    width = browser.execute_script("return document.scrollingElement.scrollWidth")
    assert width <= metrics["width"]
    for chart in browser.find_elements(By.CSS_SELECTOR, "svg.chart"):
        box = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", chart)
        assert box["left"] >= 0 and box["right"] <= metrics["width"]
        assert box["height"] > 40
    # A definition opens with a click.
    definition = browser.find_element(By.CSS_SELECTOR, "#satisfaction details.define")
    definition.find_element(By.TAG_NAME, "summary").click()
    assert "the share of ratings that are 4 or 5" in definition.text
    _whole_page_shot(browser, metrics, f"insights-{name}")


@needs_chromium
def test_the_chinese_page_fits_a_phone_with_its_definitions_open(settings, browser):
    app = _app(settings.model_copy(update={"shop_language": "zh"}))
    seed_history(app.extensions["support"].desk, utcnow())
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    with served(app) as url:
        browser.get(url + "/operator/login?next=/operator/insights?period=7d")
        browser.find_element(By.NAME, "name").send_keys("owner")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
        WebDriverWait(browser, 15).until(seen.url_contains("/operator/insights"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "客服情况"
        for summary in browser.find_elements(By.CSS_SELECTOR, "details.define summary")[:4]:
            summary.click()
        width = browser.execute_script("return document.scrollingElement.scrollWidth")
        assert width <= PHONE["width"]
        opened = browser.find_element(By.CSS_SELECTOR, "#satisfaction details.define")
        assert "幸福指数" in opened.text
        _whole_page_shot(browser, PHONE, "insights-phone-zh")
