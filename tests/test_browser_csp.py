"""The Content-Security-Policy breaks nothing in real headless Chromium.

The shop page with the widget, and the operator's login, queue, draft and audit
pages load with their styles and scripts, and the browser reports no violation.
No LLM runs: the drafts are stored directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from store.operators import set_operator
from tests.browser_helpers import chromium, needs_chromium
from tests.loopback import served
from tests.web_helpers import make_app, queue_pending_draft

pytestmark = needs_chromium

MODEL = "scripted/browser-csp"
PASSWORD = "approve-me-please"


@pytest.fixture(scope="module")
def base_url(web_data_dir, web_retriever) -> Iterator[str]:
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
        queue_pending_draft(
            session, "Where is my CSP-checked kettle?", reply="It ships today.", priority=99.0
        )
        session.commit()
    with served(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = chromium(console=True)
    yield driver
    driver.quit()


def _violations(driver: WebDriver) -> list[str]:
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def _style(driver: WebDriver, selector: str, name: str) -> str:
    element = driver.find_element(By.CSS_SELECTOR, selector)
    return driver.execute_script(
        "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", element, name
    )


def test_the_shop_page_and_its_widget_work_under_the_policy(base_url, browser):
    browser.get(base_url + "/")
    bubble = WebDriverWait(browser, 15).until(
        seen.element_to_be_clickable((By.CSS_SELECTOR, ".sw-bubble"))
    )
    assert _style(browser, ".sw-root", "position") == "fixed"  # widget.css applied
    assert _style(browser, ".product", "border-radius") == "8px"  # the shop's own styles
    bubble.click()
    panel = browser.find_element(By.CSS_SELECTOR, ".sw-panel")
    assert panel.is_displayed()
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not panel.is_displayed()
    assert _violations(browser) == []


def test_the_operator_pages_work_under_the_policy(base_url, browser):
    browser.get(base_url + "/operator/")
    assert _style(browser, ".top", "display") == "flex"  # operator.css applied
    browser.find_element(By.NAME, "name").send_keys("owner")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    row = WebDriverWait(browser, 15).until(
        seen.element_to_be_clickable((By.PARTIAL_LINK_TEXT, "CSP-checked kettle"))
    )
    row.click()
    WebDriverWait(browser, 15).until(seen.presence_of_element_located((By.ID, "text")))
    browser.find_element(By.LINK_TEXT, "Audit log").click()
    WebDriverWait(browser, 15).until(seen.title_contains("Audit log"))
    assert _violations(browser) == []
