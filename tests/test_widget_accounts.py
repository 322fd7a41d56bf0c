"""One browser, two signed-in customers: the widget never shows one the other's conversation.

Real headless Chromium on a page that embeds the widget the way a shop's site does,
with the email signed by the shop's server. No LLM runs (no job workers): a sent
message stays waiting, which is all these tests need.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import request
from markupsafe import escape
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser_helpers import needs_chromium, open_chat
from tests.loopback import served
from tests.web_helpers import make_app
from web.signing import sign

pytestmark = needs_chromium

SECRET = "shop-server-secret"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>My account</title>
</head><body><h1>Signed in as {email}</h1>
<script src="/static/widget.js" data-email="{email}" data-expires="{expires}"
 data-signature="{signature}" defer></script></body></html>"""


@pytest.fixture(scope="module")
def base_url(web_data_dir, web_retriever) -> Iterator[str]:
    app = make_app(
        web_data_dir,
        web_retriever,
        "scripted/accounts",
        workers=0,
        widget_secret=SECRET,
        reply_wait_seconds=1,
    )

    def account_page() -> str:
        signed = sign(SECRET, request.args["email"])
        return PAGE.format(**{k: escape(str(v)) for k, v in signed.items()})

    app.add_url_rule("/account", "account", account_page)
    with served(app) as url:
        yield url


def _say(browser: WebDriver, text: str) -> None:
    box = browser.find_element(By.CSS_SELECTOR, ".sw-input")
    box.send_keys(text, Keys.ENTER)
    WebDriverWait(browser, 30).until(
        lambda b: (
            b.execute_script("return localStorage.length") > 0
            and text in b.find_element(By.CSS_SELECTOR, ".sw-log").text
        )
    )


def _log(browser: WebDriver) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".sw-log").text


def test_another_customer_on_the_same_browser_starts_a_new_conversation(browser, base_url):
    open_chat(browser, f"{base_url}/account?email=dana@example.com")
    _say(browser, "Dana's private question about my order")
    first = browser.execute_script("return Object.values(localStorage)[0]")

    open_chat(browser, f"{base_url}/account?email=sam@example.com")
    assert "Dana's private question" not in _log(browser)
    _say(browser, "Sam asks something else")
    second = browser.execute_script("return Object.values(localStorage)[0]")
    assert second != first  # another conversation, with its own token

    # Dana comes back: her old conversation was dropped for Sam's, never shown to him.
    open_chat(browser, f"{base_url}/account?email=dana@example.com")
    assert "Sam asks something else" not in _log(browser)


def test_the_shops_logout_resets_the_widget(browser, base_url):
    open_chat(browser, f"{base_url}/account?email=dana@example.com")
    _say(browser, "A question before I log out")
    browser.execute_script("SupportWidget.reset()")
    assert browser.execute_script("return localStorage.length") == 0
    assert "A question before I log out" not in _log(browser)
    browser.refresh()
    open_chat(browser, f"{base_url}/account?email=dana@example.com")
    assert "A question before I log out" not in _log(browser)
