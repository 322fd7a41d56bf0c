"""The widget and the queue in real headless Chromium, against the real local model.

Screenshots go to test-artifacts/browser/ for a person to look at.
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
from tests.conftest import ROOT, TEST_LLM
from tests.loopback import served
from tests.web_helpers import make_app

pytestmark = [
    pytest.mark.model,
    needs_chromium,
]

SHOTS = ROOT / "test-artifacts" / "browser"
PASSWORD = "approve-me-please"
# Turns with the local model on 2 cores take seconds to a minute.
TURN = 180


@pytest.fixture(scope="module")
def base_url(web_data_dir, web_retriever) -> Iterator[str]:
    # The CI model's calibration reaches no threshold, so without a fixed one a person
    # would review every answer it writes: this is the owner choosing to let them out.
    app = make_app(web_data_dir, web_retriever, TEST_LLM, auto_send_threshold=0.3)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    with served(app) as url:
        yield url


@pytest.fixture
def customer() -> Iterator[WebDriver]:
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def owner() -> Iterator[WebDriver]:
    driver = chromium()
    yield driver
    driver.quit()


def _shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _ask(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, ".sw-input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def _wait(driver: WebDriver, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def test_faq_answer_refund_handoff_and_approved_reply(base_url, customer, owner):
    customer.get(base_url + "/")
    customer.find_element(By.CSS_SELECTOR, ".sw-bubble").click()
    _ask(customer, "How long do I have to return an item I bought?")
    answer = _wait(customer, TURN).until(
        seen.visibility_of_element_located(
            (By.CSS_SELECTOR, ".sw-agent:not(.sw-provisional) .sw-sources a")
        )
    )
    bubble = answer.find_element(By.XPATH, "ancestor::li")
    assert "30" in bubble.text
    assert answer.get_attribute("href").startswith("https://kettleandcrane.example/help/")
    _shot(customer, "1-widget-cited-answer")

    # Worded unlike any other test's message: the shop copy holds their drafts too.
    _ask(customer, "My burr grinder arrived cracked. I demand a full refund for it.")
    notice = _wait(customer, TURN).until(
        seen.visibility_of_element_located((By.CSS_SELECTOR, ".sw-notice"))
    )
    assert "A person will check this and reply here" in notice.text
    assert len(customer.find_elements(By.CSS_SELECTOR, ".sw-agent")) == 1
    _shot(customer, "2-widget-person-will-reply")

    # A reload keeps the conversation and says a person is still to reply.
    customer.refresh()
    customer.find_element(By.CSS_SELECTOR, ".sw-bubble").click()
    _wait(customer).until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, ".sw-log li.sw-msg")) >= 3
            and d.find_element(By.CSS_SELECTOR, ".sw-notice").is_displayed()
        )
    )
    texts = [li.text for li in customer.find_elements(By.CSS_SELECTOR, ".sw-log li")]
    assert "refund for it" in texts[-1]

    owner.get(base_url + "/operator/")
    owner.find_element(By.NAME, "name").send_keys("owner")
    owner.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    row = _wait(owner).until(
        seen.element_to_be_clickable((By.PARTIAL_LINK_TEXT, "burr grinder arrived cracked"))
    )
    _shot(owner, "3-operator-queue")
    row.click()
    _wait(owner).until(seen.presence_of_element_located((By.ID, "text")))
    assert "refund" in owner.find_element(By.CSS_SELECTOR, ".reasons").text.lower()
    _shot(owner, "4-operator-draft")
    reply = "So sorry about the grinder. Your full refund is on its way; no need to send it back."
    editor = owner.find_element(By.ID, "text")
    editor.clear()
    editor.send_keys(reply)
    owner.find_element(By.CSS_SELECTOR, "button.approve").click()
    _wait(owner).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), "sent"))

    delivered = _wait(customer, 30).until(
        seen.visibility_of_element_located((By.CSS_SELECTOR, ".sw-operator"))
    )
    assert reply in delivered.text and "Checked by a person" in delivered.text
    assert not customer.find_element(By.CSS_SELECTOR, ".sw-notice").is_displayed()
    _shot(customer, "5-widget-approved-reply")


def test_the_widget_works_by_keyboard_and_on_a_phone(base_url):
    driver = chromium()
    try:
        # A phone's screen: desktop Chromium windows cannot be made this narrow.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
        )
        driver.get(base_url + "/")
        bubble = _wait(driver).until(
            seen.presence_of_element_located((By.CSS_SELECTOR, ".sw-bubble"))
        )
        driver.execute_script("arguments[0].focus()", bubble)
        bubble.send_keys(Keys.ENTER)
        panel = driver.find_element(By.CSS_SELECTOR, ".sw-panel")
        assert panel.is_displayed()
        assert bubble.get_attribute("aria-expanded") == "true"
        assert driver.switch_to.active_element == driver.find_element(By.CSS_SELECTOR, ".sw-input")
        width = driver.execute_script("return window.innerWidth")
        assert panel.rect["width"] == width  # the whole screen on a phone
        _shot(driver, "6-widget-phone")
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        assert not panel.is_displayed()
        assert driver.switch_to.active_element == bubble
    finally:
        driver.quit()
