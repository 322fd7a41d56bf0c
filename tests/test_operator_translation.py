"""An English-speaking owner and a German customer: the owner reads every draft in English,
and may answer in English and send the German translation, seeing both first."""

from __future__ import annotations

import html
import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from agent.language import detect_language
from store.models import AuditEntry, Draft, DraftStatus, Message, Review
from store.operators import set_operator
from tests import scripted_llm
from tests.browser_helpers import chromium, needs_chromium
from tests.conftest import TEST_LLM
from tests.loopback import served
from tests.scripted_llm import script, server_error
from tests.web_helpers import csrf_token, log_in, make_app, queue_pending_draft

MODEL = "scripted/translation"
PASSWORD = "guten tag, owner"
QUESTION = "Wo ist meine Bestellung KC-10042? Sie sollte am Montag ankommen."
REPLY = "Ihre Bestellung KC-10042 ist unterwegs und kommt am Mittwoch bei Ihnen an."
TRANSLATION = "Your order KC-10042 is on its way and will reach you on Wednesday."


@pytest.fixture
def app(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    return app


@pytest.fixture
def owner(app):
    client = app.test_client()
    assert log_in(client, "owner", PASSWORD).status_code == 302
    return client


def _german_draft(
    app, *, reply: str = REPLY, translation: str | None = None
) -> tuple[int, str, str]:
    """A German customer's question waiting with a German draft: (draft id, conversation, token)."""
    with app.extensions["support"].sessions() as session:
        draft, token = queue_pending_draft(
            session,
            QUESTION,
            reply=reply,
            priority=99.0,  # first in the queue
            language="de",
            translation=translation,
            reasons=[{"code": "low_confidence", "text": "Not sure enough.", "detail": None}],
        )
        session.commit()
        return draft.id, draft.conversation_id, token


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.get_data(as_text=True))


def _stored(app, draft_id: int) -> Draft:
    with app.extensions["support"].sessions() as session:
        return session.get(Draft, draft_id)


def _customer_sees(client, conversation: str, token: str) -> list[tuple[str, str]]:
    seen = client.get(
        f"/api/v1/conversations/{conversation}/messages",
        headers={"Authorization": f"Bearer {token}"},
    ).json
    return [(m["author"], m["text"]) for m in seen["messages"]]


def test_a_german_draft_is_shown_beside_its_english_translation_in_the_queue_and_page(app, owner):
    draft_id, _, _ = _german_draft(app, translation=TRANSLATION)
    queue = _page(owner, "/operator/")
    assert "In English, translated from German" in queue
    assert TRANSLATION in queue
    page = _page(owner, f"/operator/drafts/{draft_id}")
    assert "In English, translated from German" in page
    assert REPLY in page and TRANSLATION in page
    assert "Reply to send in German" in page
    # Already translated: no button asks for it again.
    assert f'/operator/drafts/{draft_id}/translate"' not in page


def test_a_draft_without_a_translation_is_translated_on_demand_and_kept(app, owner):
    draft_id, _, _ = _german_draft(app)
    page = _page(owner, f"/operator/drafts/{draft_id}")
    assert "Not translated into English yet." in page
    assert f'action="/operator/drafts/{draft_id}/translate"' in page
    script(MODEL, [TRANSLATION])
    response = owner.post(
        f"/operator/drafts/{draft_id}/translate", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    prompt = scripted_llm.seen_messages["translation"][0][0]["content"]
    assert REPLY in prompt and "German text into English" in prompt
    assert _stored(app, draft_id).translation == TRANSLATION
    again = _page(owner, f"/operator/drafts/{draft_id}")
    assert TRANSLATION in again and "Not translated into English yet." not in again
    assert TRANSLATION in _page(owner, "/operator/")
    assert scripted_llm.calls["translation"] == 1  # stored, not translated on every view


def test_a_reply_written_in_english_is_approved_in_german_and_audited_with_both(app, owner):
    draft_id, conversation, token = _german_draft(app, translation=TRANSLATION)
    page = _page(owner, f"/operator/drafts/{draft_id}")
    # The English editor starts from the draft's translation.
    assert f'name="original" rows="6" required>{TRANSLATION}</textarea>' in page
    mine = "Your order KC-10042 ships today and reaches you on Thursday."
    german = "Ihre Bestellung KC-10042 wird heute versandt und kommt am Donnerstag an."
    script(MODEL, [german])
    shown = owner.post(
        f"/operator/drafts/{draft_id}/translate-reply",
        data={"original": mine, "csrf_token": csrf_token(page)},
    )
    assert shown.status_code == 200
    both = html.unescape(shown.get_data(as_text=True))
    assert f">{mine}</textarea>" in both and f">{german}</textarea>" in both
    assert "Approve and send in German" in both
    prompt = scripted_llm.seen_messages["translation"][0][0]["content"]
    assert mine in prompt and "English text into German" in prompt
    # Nothing is sent until the operator approves what they saw.
    assert _stored(app, draft_id).status == DraftStatus.PENDING
    assert _customer_sees(owner, conversation, token) == [("customer", QUESTION)]

    polished = german.replace("heute", "noch heute")  # the operator's own touch
    approved = owner.post(
        f"/operator/drafts/{draft_id}/approve",
        data={"text": polished, "original": mine, "csrf_token": csrf_token(both)},
    )
    assert approved.status_code == 302
    assert f"Translated and sent: draft {draft_id}." in _page(owner, approved.location)
    assert _customer_sees(owner, conversation, token)[-1] == ("operator", polished)
    with app.extensions["support"].sessions() as session:
        review = session.scalar(select(Review).where(Review.draft_id == draft_id))
        assert (review.action, review.text, review.original) == ("edit", polished, mine)
        entries = {
            entry.action: entry.detail
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.subject == f"draft:{draft_id}")
            )
        }
    assert entries["translate"] == {
        "conversation": conversation,
        "source": "en",
        "target": "de",
        "original": mine,
        "translation": polished,
    }
    assert entries["edit"]["edited"] is True
    decided = _page(owner, f"/operator/drafts/{draft_id}")
    assert polished in decided and "Written in English:" in decided and mine in decided
    audit_page = _page(owner, "/operator/audit")
    assert mine in audit_page and polished in audit_page  # legible, not \\u-escaped
    # The same form sent twice sends one reply and audits one translation.
    again = owner.post(
        f"/operator/drafts/{draft_id}/approve",
        data={"text": polished, "original": mine, "csrf_token": csrf_token(both)},
    )
    assert f"Draft {draft_id} was already approved." in _page(owner, again.location)
    assert _customer_sees(owner, conversation, token).count(("operator", polished)) == 1
    with app.extensions["support"].sessions() as session:
        translations = session.scalars(
            select(AuditEntry).where(
                AuditEntry.subject == f"draft:{draft_id}", AuditEntry.action == "translate"
            )
        ).all()
    assert len(translations) == 1


def test_what_is_learned_from_a_translated_reply_is_the_german_text_the_customer_got(
    app, owner, web_data_dir
):
    draft_id, _, _ = _german_draft(app, translation=TRANSLATION)
    page = _page(owner, f"/operator/drafts/{draft_id}")
    german = "Ihr Paket kommt am Freitag an."
    owner.post(
        f"/operator/drafts/{draft_id}/approve",
        data={
            "text": german,
            "original": "Your parcel arrives on Friday.",
            "csrf_token": csrf_token(page),
        },
    )
    # Learning runs in the background, as after any edit.
    learned = web_data_dir / "learned" / "eval_candidates.jsonl"
    cases = _wait_for_case(learned, f"approved-{draft_id}")
    assert cases["reference_answer"] == german and cases["language"] == "de"
    assert "Friday" not in cases["reference_answer"]


def _wait_for_case(path, case_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for case in map(json.loads, lines):
            if case["id"] == case_id:
                return case
        time.sleep(0.5)
    pytest.fail(f"{case_id} was never learned")


def test_a_plain_edit_in_german_is_approved_as_before_without_the_model(app, owner):
    script(MODEL, [])
    draft_id, conversation, token = _german_draft(app, translation=TRANSLATION)
    page = _page(owner, f"/operator/drafts/{draft_id}")
    edited = REPLY.replace("Mittwoch", "Donnerstag")
    form = {"text": edited, "csrf_token": csrf_token(page)}
    response = owner.post(f"/operator/drafts/{draft_id}/approve", data=form)
    assert f"Edited and sent: draft {draft_id}." in _page(owner, response.location)
    assert _customer_sees(owner, conversation, token)[-1] == ("operator", edited)
    with app.extensions["support"].sessions() as session:
        review = session.scalar(select(Review).where(Review.draft_id == draft_id))
        assert (review.action, review.original) == ("edit", None)
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == f"draft:{draft_id}")
        ).all()
    assert actions == ["edit"]
    # A page left open from before the approval cannot start a second reply.
    late = owner.post(
        f"/operator/drafts/{draft_id}/translate-reply",
        data={"original": "One more thing.", "csrf_token": csrf_token(page)},
    )
    assert f"Draft {draft_id} was already approved." in _page(owner, late.location)
    assert scripted_llm.calls["translation"] == 0


def test_a_failing_model_shows_its_error_and_loses_nothing(app, owner):
    draft_id, conversation, token = _german_draft(app)
    page = _page(owner, f"/operator/drafts/{draft_id}")
    script(MODEL, [server_error()] * 3)
    failed = owner.post(
        f"/operator/drafts/{draft_id}/translate", data={"csrf_token": csrf_token(page)}
    )
    assert failed.status_code == 302
    shown = _page(owner, failed.location)
    assert "the translation failed: scripted/translation" in shown
    assert "Nothing was lost" in shown
    assert _stored(app, draft_id).translation is None
    assert "Not translated into English yet." in shown  # the button is still there

    mine = "Your parcel KC-10042 left our warehouse this morning."
    script(MODEL, [server_error()] * 3)
    response = owner.post(
        f"/operator/drafts/{draft_id}/translate-reply",
        data={"original": mine, "csrf_token": csrf_token(shown)},
    )
    assert response.status_code == 200
    again = html.unescape(response.get_data(as_text=True))
    assert "the translation failed: scripted/translation" in again
    assert f">{mine}</textarea>" in again  # the operator's words are still in the editor
    assert "Approve and send in German" not in again
    assert _stored(app, draft_id).status == DraftStatus.PENDING
    assert _customer_sees(owner, conversation, token) == [("customer", QUESTION)]


def test_translation_forms_need_their_csrf_token(app, owner):
    draft_id, _, _ = _german_draft(app)
    script(MODEL, [TRANSLATION])
    forged = owner.post(f"/operator/drafts/{draft_id}/translate")
    assert forged.status_code == 400
    forged_reply = owner.post(
        f"/operator/drafts/{draft_id}/translate-reply", data={"original": "Hello"}
    )
    assert forged_reply.status_code == 400
    assert scripted_llm.calls["translation"] == 0
    assert _stored(app, draft_id).translation is None
    anonymous = app.test_client()
    page = anonymous.get("/operator/login").get_data(as_text=True)
    refused = anonymous.post(
        f"/operator/drafts/{draft_id}/translate", data={"csrf_token": csrf_token(page)}
    )
    assert refused.status_code == 302 and "/operator/login" in refused.location


@needs_chromium
def test_in_a_browser_the_owner_translates_their_reply_sees_both_and_sends_it(app):
    draft_id, conversation, token = _german_draft(app, translation=TRANSLATION)
    german = "Ihre Bestellung KC-10042 wird heute versandt."
    script(MODEL, [german])
    browser = chromium(console=True)
    try:
        with served(app) as base:
            browser.get(f"{base}/operator/drafts/{draft_id}")
            browser.find_element(By.NAME, "name").send_keys("owner")
            browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
            mine = WebDriverWait(browser, 15).until(
                seen.presence_of_element_located((By.ID, "original"))
            )
            assert mine.get_attribute("value") == TRANSLATION
            mine.clear()
            mine.send_keys("Your order KC-10042 ships today.")
            browser.find_element(By.CSS_SELECTOR, "form.compose button").click()
            sent = WebDriverWait(browser, 15).until(
                seen.presence_of_element_located((By.CSS_SELECTOR, "section.compose #text"))
            )
            assert sent.get_attribute("value") == german
            own = browser.find_element(By.CSS_SELECTOR, "section.compose #original")
            assert own.get_attribute("value") == "Your order KC-10042 ships today."
            browser.find_element(By.CSS_SELECTOR, "section.compose button.approve").click()
            WebDriverWait(browser, 15).until(
                seen.text_to_be_present_in_element(
                    (By.CSS_SELECTOR, ".flash.ok"), f"Translated and sent: draft {draft_id}."
                )
            )
            refused = [
                e["message"] for e in browser.get_log("browser") if "Refused" in e["message"]
            ]
            assert refused == []  # the Content-Security-Policy lets every part work
    finally:
        browser.quit()
    assert _customer_sees(app.test_client(), conversation, token)[-1] == ("operator", german)
    with app.extensions["support"].sessions() as session:
        review = session.scalar(select(Review).where(Review.draft_id == draft_id))
    assert review.original == "Your order KC-10042 ships today."


@pytest.mark.model
def test_the_local_model_translates_a_german_draft_into_english(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, TEST_LLM, workers=0)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    shipped = (
        "Ihre Bestellung KC-10042 wurde versandt. Die Sendungsnummer ist 1Z999. "
        "Sie kommt voraussichtlich am Freitag an."
    )
    draft_id, _, _ = _german_draft(app, reply=shipped)
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    page = _page(client, f"/operator/drafts/{draft_id}")
    response = client.post(
        f"/operator/drafts/{draft_id}/translate", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    translation = _stored(app, draft_id).translation
    assert translation, _page(client, response.location)
    assert detect_language(translation) == "en", translation
    assert "KC-10042" in translation and "1Z999" in translation
    assert "Bestellung" not in translation and "versandt" not in translation
    assert translation in _page(client, f"/operator/drafts/{draft_id}")
    with app.extensions["support"].sessions() as session:
        # Translating is not deciding: the draft still waits, and nothing was sent.
        assert session.get(Draft, draft_id).status == DraftStatus.PENDING
        assert session.scalars(select(Message).where(Message.draft_id == draft_id)).all() == []
