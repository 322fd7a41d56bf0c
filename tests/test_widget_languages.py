"""The widget speaks the page's language, and reads right to left in Arabic.

Real headless Chromium on pages that embed the widget the way a shop's site does; the
agent's replies are scripted. The Arabic widget's screenshot goes to
test-artifacts/browser/ for a person to look at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from flask import request
from markupsafe import escape
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser_helpers import needs_chromium, open_chat
from tests.conftest import ROOT
from tests.loopback import served
from tests.scripted_llm import call, script
from tests.web_helpers import RETURN_ANSWER, make_app
from web.signing import sign

pytestmark = needs_chromium

MODEL = "scripted/widget-languages"
SECRET = "shop-server-secret"
SHOTS = ROOT / "test-artifacts" / "browser"
WIDGET = ROOT / "web" / "static" / "widget.js"
# A shop's page in some language; the widget tag as the shop writes it.
PAGE = """<!doctype html><html lang="{html}"><head><meta charset="utf-8"><title>A shop</title>
</head><body><h1>A shop page</h1>
<script src="/static/widget.js" {attributes} defer></script></body></html>"""
REFUND = [call("create_ticket", subject="Refund", summary="wants money back"), "Sorry."]


@pytest.fixture(scope="module")
def base_url(web_data_dir, web_retriever) -> Iterator[str]:
    app = make_app(web_data_dir, web_retriever, MODEL, widget_secret=SECRET)

    def shop_page() -> str:
        attributes = {"data-lang": request.args.get("lang")}
        if "expired" in request.args:  # a signed-in customer whose page was left open too long
            signed = sign(SECRET, request.args["expired"], ttl_seconds=-60)
            attributes.update({f"data-{k}": str(v) for k, v in signed.items()})
        tag = " ".join(f'{k}="{escape(v)}"' for k, v in attributes.items() if v is not None)
        return PAGE.format(html=escape(request.args.get("html", "")), attributes=tag)

    app.add_url_rule("/page", "page", shop_page)
    with served(app) as url:
        yield url


def _ask(browser: WebDriver, text: str) -> None:
    browser.find_element(By.CSS_SELECTOR, ".sw-input").send_keys(text, Keys.ENTER)


def _notice(browser: WebDriver, seconds: float = 60) -> str:
    return (
        WebDriverWait(browser, seconds)
        .until(seen.visibility_of_element_located((By.CSS_SELECTOR, ".sw-notice")))
        .text
    )


def _direction(browser: WebDriver, element: WebElement) -> str:
    return browser.execute_script("return getComputedStyle(arguments[0]).direction", element)


def _find(browser: WebDriver, selector: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, selector)


@pytest.mark.parametrize(
    ("html", "send"),
    [
        ("zh-CN", "发送"),
        ("zh-Hans", "发送"),
        ("de-AT", "Senden"),
        ("fr-CA", "Envoyer"),
        ("es-MX", "Enviar"),
        ("ja-JP", "送信"),
        ("ar-EG", "إرسال"),
        ("en", "Send"),
        ("pt-BR", "Send"),  # a language the widget does not know: English
        ("", "Send"),
    ],
)
def test_the_send_button_speaks_the_pages_language(browser, base_url, html, send):
    open_chat(browser, f"{base_url}/page?html={html}")
    assert _find(browser, ".sw-send").text == send


def test_a_chinese_page_gets_the_whole_widget_in_chinese(browser, base_url):
    open_chat(browser, f"{base_url}/page?html=zh-CN")
    assert _find(browser, ".sw-input").get_attribute("placeholder") == "咨询配送、退货或订单…"
    assert _find(browser, ".sw-head h2").text == "客服"
    assert _find(browser, ".sw-hello").text.startswith("您好！")
    assert _find(browser, ".sw-bubble").get_attribute("aria-label") == "打开聊天：客服"
    assert _find(browser, ".sw-close").get_attribute("aria-label") == "关闭聊天"

    script(MODEL, REFUND)
    _ask(browser, "这个水壶漏水了，我要全额退款。")
    # How long a person takes, in Chinese words: "约4小时", not "about 4 hours".
    wait = r"\d+(小时|分钟)"
    assert re.fullmatch(f"工作人员会查看并在这里回复您，一般需要约{wait}。", _notice(browser))


def test_data_lang_on_the_widget_tag_wins_over_the_pages_language(browser, base_url):
    open_chat(browser, f"{base_url}/?lang=de")  # the demo shop; its page is in English
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert _find(browser, ".sw-send").text == "Senden"
    assert (
        _find(browser, ".sw-input").get_attribute("placeholder")
        == "Fragen zu Versand, Rücksendung oder Bestellung…"
    )
    assert _find(browser, ".sw-head h2").text == "Kettle & Crane"  # the shop's data-title


def test_an_unknown_language_gets_the_english_widget_declared_english(browser, base_url):
    open_chat(browser, f"{base_url}/page?html=de&lang=pt-BR")
    box = _find(browser, ".sw-input")
    assert box.get_attribute("placeholder") == "Ask about shipping, returns or an order…"
    assert _find(browser, ".sw-head h2").text == "Support"
    # On this German page a screen reader still reads the widget's texts as English.
    assert browser.execute_script("return arguments[0].matches(':lang(en)')", box)


def test_a_refusal_is_explained_in_the_widgets_language(browser, base_url):
    open_chat(browser, f"{base_url}/page?html=de&expired=dana@example.com")
    _ask(browser, "Wo ist meine Bestellung?")
    assert _notice(browser) == "Dieser Chat ist abgelaufen. Bitte laden Sie die Seite neu."


def test_an_arabic_widget_reads_right_to_left_and_is_mirrored(browser, base_url):
    # The page says only lang="ar": the widget turns itself right to left.
    open_chat(browser, f"{base_url}/page?html=ar")
    root, bubble = _find(browser, ".sw-root"), _find(browser, ".sw-bubble")
    assert root.get_attribute("dir") == "rtl" and _direction(browser, root) == "rtl"
    width = browser.execute_script("return window.innerWidth")
    assert bubble.rect["x"] < width / 2  # bottom left, where an Arabic reader looks for it
    box, send = _find(browser, ".sw-input"), _find(browser, ".sw-send")
    assert box.get_attribute("placeholder") == "اسأل عن الشحن أو الإرجاع أو طلبك…"
    assert send.rect["x"] < box.rect["x"]  # the button after the box, reading right to left
    close, heading = _find(browser, ".sw-close"), _find(browser, ".sw-head h2")
    assert heading.text == "الدعم" and close.rect["x"] < heading.rect["x"]

    # An English question and its English answer still read left to right.
    script(MODEL, [RETURN_ANSWER, "YES"])
    _ask(browser, "How long do I have to send something back?")
    answer = WebDriverWait(browser, 60).until(
        seen.visibility_of_element_located((By.CSS_SELECTOR, ".sw-agent:not(.sw-provisional)"))
    )
    question = _find(browser, ".sw-customer")
    assert "30 days" in answer.text
    assert _direction(browser, question) == "ltr" and _direction(browser, answer) == "ltr"
    assert question.rect["x"] < answer.rect["x"]  # the customer's own message on the left
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "7-widget-arabic.png"))


def test_an_arabic_message_reads_right_to_left_in_an_english_widget(browser, base_url):
    open_chat(browser, f"{base_url}/page?html=en")
    script(MODEL, REFUND)
    _ask(browser, "الغلاية تسرّب الماء. أريد استرداد المبلغ كاملًا.")
    assert _notice(browser).startswith("A person will check this and reply here")
    message = _find(browser, ".sw-customer")
    assert _direction(browser, message) == "rtl"
    assert _direction(browser, _find(browser, ".sw-root")) == "ltr"


def test_every_language_has_every_text_with_the_same_placeholders():
    source = WIDGET.read_text(encoding="utf-8")
    texts, _ = json.JSONDecoder().raw_decode(source, source.index("{", source.index("var TEXTS")))
    assert {"en", "zh", "de", "fr", "es", "ja", "ar"} <= texts.keys()

    def placeholders(text: str) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", text))

    for lang, table in texts.items():
        assert table.keys() == texts["en"].keys(), lang
        for key, text in table.items():
            assert text.strip(), (lang, key)
            assert placeholders(text) == placeholders(texts["en"][key]), (lang, key)
