"""The operator pages speak the shop's language: Chinese for a Chinese shop, else English."""

from __future__ import annotations

import html
import re
from string import Formatter

import pytest
from sqlalchemy import select

from store.conversations import add_message, start_conversation
from store.models import Author, Draft, DraftStatus
from store.operators import set_operator
from tests.web_helpers import csrf_token, empty_queue, log_in, make_app
from web.locale import TEXTS

MODEL = "scripted/locale"
PASSWORD = "ni hao, owner"
REASON = "Asks for the money back."  # the agent's words: data, shown as they are
CHINESE_TRANSLATION = "您的订单 KC-10042 正在路上，周三送达。"


@pytest.fixture
def shop(web_data_dir, web_retriever):
    def make(language: str):
        app = make_app(web_data_dir, web_retriever, MODEL, workers=0, shop_language=language)
        with app.extensions["support"].sessions() as session:
            set_operator(session, "owner", PASSWORD)
            empty_queue(session)  # the page is checked for English words: only our draft
            session.commit()
        return app

    return make


def _german_draft(app, translation: str | None = None) -> int:
    with app.extensions["support"].sessions() as session:
        conversation, _ = start_conversation(session)
        message = add_message(
            session, conversation.id, Author.CUSTOMER, "Ich möchte mein Geld zurück für KC-10042."
        )
        draft = Draft(
            conversation_id=conversation.id,
            message_id=message.id,
            decision="review",
            status=DraftStatus.PENDING,
            reply="Ihre Bestellung KC-10042 ist unterwegs.",
            confidence=0.3,
            priority=99.0,
            language="de",
            translation=translation,
            reasons=[{"code": "policy_flag", "text": REASON, "detail": "refund"}],
        )
        session.add(draft)
        session.commit()
        return draft.id


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.get_data(as_text=True))


def _visible_text(page: str) -> str:
    """What a reader sees: no tags, no attribute values, no scripts."""
    return re.sub(r"<[^>]+>", " ", page)


ENGLISH_ONLY = [
    text
    for key, text in TEXTS["en"].items()
    if "{" not in text and len(text) >= 4 and text != TEXTS["zh"][key]
]


def test_both_languages_have_every_text_with_the_same_placeholders():
    assert TEXTS["en"].keys() == TEXTS["zh"].keys()
    for key, english in TEXTS["en"].items():
        fields = {name for _, name, _, _ in Formatter().parse(english) if name}
        chinese = {name for _, name, _, _ in Formatter().parse(TEXTS["zh"][key]) if name}
        assert fields == chinese, key


def test_a_chinese_shop_gets_every_operator_page_in_chinese(shop):
    app = shop("zh")
    draft_id = _german_draft(app, translation=CHINESE_TRANSLATION)
    client = app.test_client()
    login = _page(client, "/operator/login")
    assert '<html lang="zh-Hans">' in login and "登录" in login
    refused = log_in(client, "owner", "not the password")
    assert refused.status_code == 401 and "用户名或密码错误。" in refused.get_data(as_text=True)
    assert log_in(client, "owner", PASSWORD).status_code == 302

    queue = _page(client, "/operator/")
    assert "审核队列" in queue and "条等待中" in queue and "剩余" in queue
    assert "中文译文（原文为德语）" in queue and CHINESE_TRANSLATION in queue
    draft = _page(client, f"/operator/drafts/{draft_id}")
    assert "批准并发送" in draft and "为顾客翻译" in draft and "用中文回复" in draft
    assert "等待原因" in draft and REASON in draft  # a localised heading over the agent's text
    assert "中文译文（原文为德语）" in draft
    pages = {
        "login": login,
        "queue": queue,
        "draft": draft,
        # Ticket and audit rows are stored records (subjects, action codes, details), and a
        # module's shop copy holds earlier modules' tickets: only the page around them.
        "tickets": re.sub(r"<tbody>.*</tbody>", "", _page(client, "/operator/tickets"), flags=re.S),
        "audit": re.sub(r"<tbody>.*</tbody>", "", _page(client, "/operator/audit"), flags=re.S),
    }
    assert "工单" in pages["tickets"] and "审计日志" in pages["audit"]
    for name, page in pages.items():
        assert '<html lang="zh-Hans">' in page, name
        english = [text for text in ENGLISH_ONLY if text in _visible_text(page)]
        assert english == [], f"the {name} page still says {english}"


def test_chinese_pages_still_refuse_forms_without_their_csrf_token_and_explain_errors(shop):
    app = shop("zh")
    draft_id = _german_draft(app)
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    page = _page(client, f"/operator/drafts/{draft_id}")
    assert "还没有翻译成中文。" in page and ">翻译</button>" in page
    for action in ("approve", "reject", "translate", "translate-reply"):
        forged = client.post(f"/operator/drafts/{draft_id}/{action}", data={"text": "好的"})
        assert forged.status_code == 400, action
    no_reason = client.post(
        f"/operator/drafts/{draft_id}/reject", data={"csrf_token": csrf_token(page)}
    )
    assert "理由：必须填写。" in _page(client, no_reason.location)
    approved = client.post(
        f"/operator/drafts/{draft_id}/approve",
        data={"text": "Ihre Bestellung ist unterwegs.", "csrf_token": csrf_token(page)},
    )
    assert f"已修改并发送：草稿 {draft_id}。" in _page(client, approved.location)
    with app.extensions["support"].sessions() as session:
        status = session.scalar(select(Draft.status).where(Draft.id == draft_id))
    assert status == DraftStatus.APPROVED
    twice = client.post(
        f"/operator/drafts/{draft_id}/approve",
        data={"text": "Noch einmal.", "csrf_token": csrf_token(page)},
    )
    assert f"草稿 {draft_id} 已处理过（已批准）。" in _page(client, twice.location)


def test_a_shop_in_a_language_without_page_texts_gets_english_pages(shop):
    app = shop("fr")
    draft_id = _german_draft(app)
    client = app.test_client()
    login = _page(client, "/operator/login")
    assert '<html lang="en">' in login and "Log in" in login
    log_in(client, "owner", PASSWORD)
    draft = _page(client, f"/operator/drafts/{draft_id}")
    # The translations still go into the shop's language, named in English.
    assert "Not translated into French yet." in draft and "Reply in French" in draft
