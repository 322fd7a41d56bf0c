"""The queue and a draft on a phone, by keyboard on a desktop, in real headless Chromium.

No LLM runs: the drafts are stored directly. Screenshots go to test-artifacts/browser/
for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from store.models import Draft, DraftStatus
from store.operators import set_operator
from tests.browser_helpers import needs_chromium
from tests.conftest import ROOT
from tests.loopback import served
from tests.web_helpers import empty_queue, log_in, make_app, queue_pending_draft

pytestmark = needs_chromium

MODEL = "scripted/operator-phone"
PASSWORD = "thumbs up for this one"
SHOTS = ROOT / "test-artifacts" / "browser"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
SNIPPET = (
    "## Returns\n\nYou have **30 days** from delivery to return an _unused_ item.\n\n"
    "- Start at [our returns form](https://kettleandcrane.example/help/returns)\n"
    "- Pack it in the `original box`"
)
PLAIN_SNIPPET = (
    "Returns You have 30 days from delivery to return an unused item. "
    "Start at our returns form Pack it in the original box"
)


@pytest.fixture(scope="module")
def app(web_data_dir, web_retriever) -> Flask:
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    return app


@pytest.fixture(scope="module")
def base_url(app) -> Iterator[str]:
    with served(app) as url:
        yield url


def _queue(app: Flask, *questions: str, citations: list | None = None) -> list[tuple[int, str]]:
    """Only these questions wait, most urgent first: their drafts' ids and conversation tokens."""
    waiting = []
    with app.extensions["support"].sessions() as session:
        empty_queue(session)
        for rank, question in enumerate(questions):
            draft, token = queue_pending_draft(
                session,
                question,
                reply=f"Thanks for asking. About {question[:20]}: it is on its way.",
                priority=90.0 - rank,
                reasons=[{"code": "policy_flag", "text": "Asks for money back.", "detail": ""}],
            )
            draft.citations = citations or []
            waiting.append((draft, token))
        session.commit()
        return [(draft.id, token) for draft, token in waiting]


def _status(app: Flask, draft_id: int) -> str:
    with app.extensions["support"].sessions() as session:
        return session.scalar(select(Draft.status).where(Draft.id == draft_id))


def _log_in(browser: WebDriver, base_url: str) -> None:
    browser.get(base_url + "/operator/login")
    browser.find_element(By.NAME, "name").send_keys("owner")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    _wait(browser).until(seen.url_to_be(base_url + "/operator/"))


def _phone(browser: WebDriver) -> None:
    # A phone's screen: desktop Chromium windows cannot be made this narrow.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)


def _wait(browser: WebDriver, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def _page_width(browser: WebDriver) -> int:
    return browser.execute_script("return document.scrollingElement.scrollWidth")


def _font_px(browser: WebDriver, element: WebElement) -> float:
    size = browser.execute_script("return getComputedStyle(arguments[0]).fontSize", element)
    return float(size.removesuffix("px"))


def _box(browser: WebDriver, element: WebElement) -> dict:
    return browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", element)


def _press(browser: WebDriver, *keys: str) -> None:
    """Keys typed into whatever has the focus (the page itself when nothing has)."""
    ActionChains(browser).send_keys(*keys).perform()


def _shot(browser: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def test_a_phone_shows_a_draft_that_fits_with_thumb_sized_buttons_that_send_the_reply(
    app, base_url, browser
):
    [(draft_id, token)] = _queue(
        app,
        "My kettle https://kettleandcrane.example/orders/KC-10042/tracking-number-1Z999AA10123456784"
        " whistles off-key. Can I have my money back?",
        citations=[{"doc_id": "art-returns", "title": "Returns", "url": None, "snippet": SNIPPET}],
    )
    _phone(browser)
    _log_in(browser, base_url)
    browser.get(f"{base_url}/operator/drafts/{draft_id}")
    assert _page_width(browser) <= PHONE["width"]
    assert _font_px(browser, browser.find_element(By.TAG_NAME, "body")) >= 16
    assert _font_px(browser, browser.find_element(By.ID, "text")) >= 16
    viewport = browser.execute_script("return window.innerHeight")
    bar = browser.find_element(By.CSS_SELECTOR, "nav.actions")
    controls = {c.text: c for c in bar.find_elements(By.CSS_SELECTOR, "button, a")}
    assert list(controls) == ["Approve and send", "Edit", "Reject"]
    for name, control in controls.items():
        box = _box(browser, control)  # on screen as the page opens, nothing scrolled
        assert box["height"] >= 44, name
        assert box["top"] >= 0 and box["bottom"] <= viewport, name
        assert box["left"] >= 0 and box["right"] <= PHONE["width"], name
    _shot(browser, "phone-draft")

    # Reject wants its reason first: the form is not sent without one.
    controls["Reject"].click()
    assert browser.switch_to.active_element.get_attribute("id") == "reason"
    assert _status(app, draft_id) == DraftStatus.PENDING
    controls["Edit"].click()
    editor = browser.switch_to.active_element
    assert editor.get_attribute("id") == "text"
    editor.send_keys(Keys.CONTROL, Keys.END, Keys.NULL, " Checked on my phone.")
    controls["Approve and send"].click()
    _wait(browser).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), "sent"))

    conversation = app.test_client().get(
        f"/api/v1/conversations/{_conversation_of(app, draft_id)}/messages",
        headers={"Authorization": f"Bearer {token}"},
    )
    last = conversation.json["messages"][-1]
    assert last["author"] == "operator"
    assert last["text"].endswith("it is on its way. Checked on my phone.")


def _conversation_of(app: Flask, draft_id: int) -> str:
    with app.extensions["support"].sessions() as session:
        return session.get(Draft, draft_id).conversation_id


def test_a_phone_shows_the_queue_as_cards_without_sideways_scrolling(app, base_url, browser):
    _queue(
        app,
        "Refund please: https://kettleandcrane.example/orders/KC-10042/tracking-number-1Z999AA10123"
        "456784/details",
        "The gooseneck kettle leaks at the handle after two weeks. Replace it or refund me!",
        "Where is my order KC-10077?",
    )
    _phone(browser)
    _log_in(browser, base_url)
    assert _page_width(browser) <= PHONE["width"]
    assert _font_px(browser, browser.find_element(By.TAG_NAME, "body")) >= 16
    assert not browser.find_element(By.CSS_SELECTOR, ".queue thead").is_displayed()
    cards = browser.find_elements(By.CSS_SELECTOR, ".queue tbody tr")
    assert len(cards) == 3
    for card in cards:
        # The question heads its card, over the card's whole width: one big target.
        question = card.find_element(By.CSS_SELECTOR, "td.asked")
        assert _box(browser, question)["width"] >= _box(browser, card)["width"] - 40
        assert _box(browser, card)["height"] >= 44
        assert _box(browser, card)["right"] <= PHONE["width"]
    _shot(browser, "phone-queue")
    # Anywhere on the card opens its draft (a click on the reasons, not the question's link).
    ActionChains(browser).click(cards[2].find_element(By.CSS_SELECTOR, "td.why")).perform()
    _wait(browser).until(seen.url_contains("/operator/drafts/"))
    assert "Where is my order KC-10077?" in browser.find_element(By.CSS_SELECTOR, ".asked").text


def test_on_a_desktop_j_and_k_choose_a_draft_in_the_queue_and_enter_opens_it(
    app, base_url, browser
):
    ids = [draft_id for draft_id, _ in _queue(app, "First question?", "Second?", "Third?")]
    _log_in(browser, base_url)
    _press(browser, "j", "j", "j", "k")
    rows = browser.find_elements(By.CSS_SELECTOR, ".queue tbody tr")
    assert [row.get_attribute("class").split().count("selected") for row in rows] == [0, 1, 0]
    # The selection holds after the focus has gone elsewhere (a click on the page).
    browser.execute_script("document.activeElement.blur()")
    _press(browser, Keys.ENTER)
    _wait(browser).until(seen.url_to_be(f"{base_url}/operator/drafts/{ids[1]}"))


def test_on_a_desktop_keys_move_to_the_next_draft_and_approve_but_not_while_typing(
    app, base_url, browser
):
    first, second, third = (
        draft_id for draft_id, _ in _queue(app, "Kettle one?", "Kettle two?", "Kettle three?")
    )
    _log_in(browser, base_url)
    browser.get(f"{base_url}/operator/drafts/{first}")
    _press(browser, "?")
    assert browser.find_element(By.CSS_SELECTOR, "details.keys").get_attribute("open")
    assert "approve and send the reply" in browser.find_element(By.CSS_SELECTOR, ".keys dl").text
    _shot(browser, "desktop-draft")
    _press(browser, "n")
    _wait(browser).until(seen.url_to_be(f"{base_url}/operator/drafts/{second}"))

    # Typed into the reply, `a` is a letter; with Ctrl held it is the browser's.
    editor = browser.find_element(By.ID, "text")
    editor.send_keys(Keys.END, " Thanks a lot")
    _press(browser, "a")
    assert editor.get_attribute("value").endswith("Thanks a lota")
    browser.execute_script("document.activeElement.blur()")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
    assert browser.current_url.endswith(f"/drafts/{second}")
    assert _status(app, second) == DraftStatus.PENDING

    # `r` only takes the operator to the reason: nothing is rejected without one.
    _press(browser, "r")
    assert browser.switch_to.active_element.get_attribute("id") == "reason"
    browser.execute_script("document.activeElement.blur()")
    _press(browser, "e")
    assert browser.switch_to.active_element.get_attribute("id") == "text"
    assert editor.get_attribute("value").endswith("Thanks a lota")  # `e` was not typed
    browser.execute_script("document.activeElement.blur()")
    _press(browser, "a")
    _wait(browser).until(seen.url_to_be(base_url + "/operator/"))
    flash = browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert flash == f"Edited and sent: draft {second}."
    assert (_status(app, first), _status(app, second), _status(app, third)) == (
        DraftStatus.PENDING,
        DraftStatus.APPROVED,
        DraftStatus.PENDING,
    )


def test_next_draft_follows_the_queue_round_to_the_top_and_ends_at_the_queue(app):
    first, second = (draft_id for draft_id, _ in _queue(app, "Urgent one?", "Calm one?"))
    client = app.test_client()
    assert log_in(client, "owner", PASSWORD).status_code == 302
    assert client.get(f"/operator/next?after={first}").location == f"/operator/drafts/{second}"
    assert client.get(f"/operator/next?after={second}").location == f"/operator/drafts/{first}"
    assert client.get("/operator/next").location == f"/operator/drafts/{first}"
    _queue(app)
    assert client.get(f"/operator/next?after={first}").location == "/operator/"


def test_citation_snippets_show_as_plain_text_not_markdown(app, base_url, browser):
    citation = {
        "doc_id": "art-returns",
        "title": "Returns",
        "url": "https://kettleandcrane.example/help/returns",
        "snippet": SNIPPET,
    }
    [(draft_id, _)] = _queue(app, "How long do I have to return it?", citations=[citation])
    _log_in(browser, base_url)
    browser.get(f"{base_url}/operator/drafts/{draft_id}")
    assert browser.find_element(By.CSS_SELECTOR, ".citation p").text == PLAIN_SNIPPET
