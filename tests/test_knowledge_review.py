"""Knowledge to review beyond the owner's corrections: help-centre documents no draft's
retrieval returned in 60 days (counted from real drafts' event log), and passages of two
documents that give different numbers for one thing (judged by a scripted and by the real
local LLM, cached by the passages' text); both on the operator's knowledge page."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from pathlib import Path

import chromadb
import pytest
from sqlalchemy import delete, select

from desk import Desk
from desk.events_log import record_event
from desk.knowledge_review import CONTRADICTIONS_KEY, RETRIEVALS_KEY, retrievals_counted_at
from ingestion.records import Article, Faq
from ingestion.sync import sync
from kb.retrieval import Retriever
from settings import Settings
from store.models import Conversation, ConversationEvent, DeskSetting, EventKind, utcnow
from store.operators import set_operator
from tests import scripted_llm
from tests.conftest import MODELS_DIR, run_cli, shop_settings
from tests.scripted_llm import script
from tests.web_helpers import RETURN_ANSWER, log_in, make_app

scripted_llm.register()

PASSWORD = "long enough secret"
DAY = timedelta(days=1)
RETURNS_FAQ = Faq(
    id="faq-returns",
    question="How long do I have to return an item?",
    answer="You can return any unused item within 30 days of delivery for a full refund.",
)
RETURNS_ARTICLE = Article(
    id="art-returns",
    title="Returns policy",
    body="## Return window\n\nUnused items can be returned within 14 days of delivery for a "
    "full refund. Start a return from your account page.",
)
# Near duplicates whose numbers differ (the article adds delivery days) but agree.
SHIPPING_FAQ = Faq(
    id="faq-us-shipping",
    question="How much is US shipping?",
    answer="US Standard shipping costs $5.95 and is free on orders of $60 or more.",
)
SHIPPING_ARTICLE = Article(
    id="art-shipping",
    title="Shipping costs",
    body="## US Standard\n\nUS Standard shipping is $5.95, and free from $60. It arrives in "
    "3-5 business days.",
)
GIFT_CARDS = Faq(
    id="faq-gift-cards",
    question="Do gift cards expire?",
    answer="Our gift cards never expire and can be used on anything in the shop.",
)


def write_help_centre(folder: Path, *records: Faq | Article) -> list[Path]:
    """The records as an FAQ file and an article file, as a shop hands them over."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, name in ((Faq, "faqs.jsonl"), (Article, "articles.jsonl")):
        lines = [r.model_dump_json(exclude_none=True) for r in records if isinstance(r, kind)]
        (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        paths.append(folder / name)
    return paths


def judged(prompt: str) -> str:
    """The scripted judge: the returns passages contradict each other, the shipping ones
    agree (in a Markdown block, as small models write), the rest share no number."""
    if "within 30 days" in prompt and ("14 days" in prompt or "21 days" in prompt):
        other = 14 if "14 days" in prompt else 21
        return json.dumps(
            {
                "subject": "return window",
                # Paraphrased and in the wrong order, as small models quote.
                "first_quote": f"Unused items can be returned within {other} days",
                "first_value": other,
                "second_quote": "You can return any unused item within 30 days",
                "second_value": 30,
            }
        )
    if "US Standard shipping costs" in prompt:
        agreeing = {
            "subject": "US Standard shipping price",
            "first_quote": "US Standard shipping costs $5.95",
            "first_value": 5.95,
            "second_quote": "US Standard shipping is $5.95",
            "second_value": 5.95,
        }
        return f"```json\n{json.dumps(agreeing)}\n```"
    return '{"subject": null}'


def judge_by_prompt(model: str, answer=judged):
    """Script `model` to answer each prompt it is sent with `answer(prompt)`."""
    name = model.removeprefix("scripted/")

    def step() -> str:
        return answer(scripted_llm.seen_messages[name][-1][-1]["content"])

    script(model, [step] * 500)


@pytest.fixture
def review_settings(tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        models_dir=MODELS_DIR,
        llm_model="scripted/review",
        llm_backoff=0,
    )


@pytest.fixture
def help_desk(review_settings, embedder, tmp_path) -> Desk:
    """A desk over a small help centre: one contradicting pair, one agreeing pair."""
    records = (RETURNS_FAQ, RETURNS_ARTICLE, SHIPPING_FAQ, SHIPPING_ARTICLE, GIFT_CARDS)
    paths = write_help_centre(tmp_path / "shop", *records)
    report = sync(paths, review_settings, embedder=embedder, progress=False)
    assert report.added == 5 and report.problems == []
    return Desk(review_settings, retriever=Retriever(review_settings, embedder=embedder))


# Contradicting passages --------------------------------------------------------------------


def test_two_documents_giving_different_numbers_are_found_with_both_statements(help_desk):
    judge_by_prompt("scripted/review")
    report = help_desk.check_contradictions()
    # The returns pair and the shipping pair are near and state different numbers.
    assert (report.candidates, report.asked, report.waiting, report.unjudged) == (2, 2, 0, [])
    (found,) = report.findings
    assert found.subject == "return window"
    assert (found.first.doc_id, found.second.doc_id) == ("faq-returns", "art-returns")
    # The passages' own sentences, not the model's paraphrase.
    assert found.first.quote == RETURNS_FAQ.answer and found.first.value == "30"
    assert found.second.quote == (
        "Unused items can be returned within 14 days of delivery for a full refund."
    )
    assert (found.second.value, found.second.kind) == ("14", "article")
    assert found.second.title == "Returns policy › Return window"
    assert help_desk.contradictions() == report


def test_a_second_check_asks_the_model_only_about_pairs_that_changed(
    help_desk, review_settings, embedder, tmp_path
):
    judge_by_prompt("scripted/review")
    first = help_desk.check_contradictions()
    assert scripted_llm.calls["review"] == 2
    again = help_desk.check_contradictions()
    assert scripted_llm.calls["review"] == 2 and again.asked == 0
    assert again.findings == first.findings and again.checked_at > first.checked_at
    changed = RETURNS_ARTICLE.model_copy(update={"body": RETURNS_ARTICLE.body.replace("14", "21")})
    records = (RETURNS_FAQ, changed, SHIPPING_FAQ, SHIPPING_ARTICLE, GIFT_CARDS)
    paths = write_help_centre(tmp_path / "shop", *records)
    assert sync(paths, review_settings, embedder=embedder, progress=False).updated == 1
    after = help_desk.check_contradictions()
    assert scripted_llm.calls["review"] == 3 and after.asked == 1
    (found,) = after.findings
    assert (found.second.doc_id, found.second.value) == ("art-returns", "21")


def test_a_limit_leaves_the_least_alike_pairs_for_the_next_check(help_desk):
    judge_by_prompt("scripted/review")
    first = help_desk.check_contradictions(limit=1)
    assert (first.asked, first.waiting) == (1, 1)
    rest = help_desk.check_contradictions(limit=1)
    assert (rest.asked, rest.waiting, len(rest.findings)) == (1, 0, 1)


def test_an_answer_that_is_not_the_json_asked_for_leaves_the_pair_unjudged(help_desk):
    judge_by_prompt("scripted/review", lambda prompt: "They look different to me.")
    report = help_desk.check_contradictions()
    assert report.findings == [] and len(report.unjudged) == 2
    pairs = {(u.first_doc, u.second_doc) for u in report.unjudged}
    assert pairs == {("faq-returns", "art-returns"), ("faq-us-shipping", "art-shipping")}
    assert all("not the JSON asked for" in u.problem for u in report.unjudged)
    # Numbers the passages do not state are no evidence either.
    wrong = json.dumps(
        {
            "subject": "return window",
            "first_quote": "within 90 days",
            "first_value": 90,
            "second_quote": "within 30 days",
            "second_value": 30,
        }
    )
    other_model = help_desk.settings.model_copy(update={"llm_model": "scripted/review-2"})
    fresh = Desk(other_model, retriever=help_desk.agent.retriever)
    judge_by_prompt("scripted/review-2", lambda prompt: wrong)
    retried = fresh.check_contradictions()
    assert retried.asked == 2 and retried.findings == []
    assert all("not one in each passage" in u.problem for u in retried.unjudged)


def test_numbers_of_two_different_things_are_no_contradiction(help_desk):
    # The price and the delivery time of one option: the model calls it a subject, but
    # the sentences holding the numbers are about different things.
    price_and_days = {
        "subject": "US Standard shipping",
        "first_quote": "US Standard shipping costs $5.95",
        "first_value": "$5.95",
        "second_quote": "It arrives in 3-5 business days.",
        "second_value": "3-5 business days",
    }
    judge_by_prompt(
        "scripted/review",
        lambda prompt: (
            json.dumps(price_and_days) if "US Standard shipping costs" in prompt else judged(prompt)
        ),
    )
    report = help_desk.check_contradictions()
    assert [f.subject for f in report.findings] == ["return window"]
    assert report.unjudged == []


def test_the_same_time_written_two_ways_is_no_candidate(review_settings, embedder, tmp_path):
    cut_off = Faq(
        id="faq-cut-off",
        question="When do orders ship?",
        answer="Orders placed before 1 pm ship the same day.",
    )
    written_out = Article(
        id="art-dispatch",
        title="Dispatch",
        body="## Same-day dispatch\n\nOrders placed before 1:00 pm ship the same day.",
    )
    paths = write_help_centre(tmp_path / "shop", cut_off, written_out)
    sync(paths, review_settings, embedder=embedder, progress=False)
    desk = Desk(review_settings, retriever=Retriever(review_settings, embedder=embedder))
    judge_by_prompt("scripted/review")
    report = desk.check_contradictions()
    assert (report.candidates, report.asked, report.findings) == (0, 0, [])


def test_a_desk_without_a_help_centre_checks_nothing(review_settings, embedder):
    desk = Desk(review_settings, retriever=Retriever(review_settings, embedder=embedder))
    report = desk.check_contradictions()
    assert (report.candidates, report.findings, report.unjudged) == (0, [], [])


def test_the_command_line_prints_no_terminal_escapes_from_the_help_centre():
    from cli import _printable

    assert _printable("30 days\x1b[2J\x1b]0;owned\x07 or 14") == "30 days [2J ]0;owned  or 14"


@pytest.mark.model
def test_the_local_model_finds_an_obvious_contradiction_through_the_command_line(
    settings, embedder, tmp_path
):
    other = Faq(
        id="faq-return-window",
        question="What is the return window?",
        answer="Unused items can be returned within 14 days of delivery for a full refund.",
    )
    paths = write_help_centre(tmp_path / "shop", RETURNS_FAQ, other)
    assert sync(paths, settings, embedder=embedder, progress=False).added == 2
    result = run_cli("knowledge", "check", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["candidates"], report["asked"], report["unjudged"]) == (1, 1, [])
    (found,) = report["findings"]
    said = {found["first"]["doc_id"]: found["first"], found["second"]["doc_id"]: found["second"]}
    assert "30" in said["faq-returns"]["value"] and "30 days" in said["faq-returns"]["quote"]
    assert "14" in said["faq-return-window"]["value"]
    assert "14 days" in said["faq-return-window"]["quote"]
    again = run_cli("knowledge", "check")
    assert again.returncode == 0, again.stderr
    assert "0 judged now" in again.stdout
    assert "contradiction: " in again.stdout


# Documents no draft retrieved ----------------------------------------------------------------


@pytest.fixture
def shop_desk(web_data_dir, web_retriever) -> Desk:
    """A desk over the sample shop copy, from no draft events and no count."""
    values = {"llm_model": "scripted/unused", "llm_backoff": 0, "auto_send_threshold": 0.6}
    desk = Desk(shop_settings(web_data_dir, **values), retriever=web_retriever)
    _forget(desk)
    return desk


def _forget(desk: Desk) -> None:
    with desk.sessions.begin() as session:
        session.execute(
            delete(ConversationEvent).where(ConversationEvent.kind == EventKind.DRAFT_MADE)
        )
        session.execute(
            delete(DeskSetting).where(DeskSetting.key.in_((RETRIEVALS_KEY, CONTRADICTIONS_KEY)))
        )


def seed_retrievals(desk: Desk, *retrievals: tuple) -> None:
    """`draft_made` events, each (when, [doc ids]), as drafts of that time logged them."""
    conversation_id, _ = desk.start_conversation()
    with desk.sessions.begin() as session:
        conversation = session.get(Conversation, conversation_id)
        for at, doc_ids in retrievals:
            record_event(
                session, conversation, EventKind.DRAFT_MADE, at=at, data={"retrieved": doc_ids}
            )


def test_documents_no_draft_retrieved_in_60_days_are_listed_with_their_evidence(shop_desk):
    now = utcnow()
    # The desk first looked at the knowledge base 90 days ago.
    assert shop_desk.unretrieved_knowledge(now=now - 90 * DAY) == []
    seed_retrievals(
        shop_desk,
        (now - 70 * DAY, ["faq-kettle-voltage"]),
        (now - 20 * DAY, ["faq-grinder-stopped"]),
    )
    script("scripted/unused", [RETURN_ANSWER, "YES"])
    draft = shop_desk.ask("How long do I have to return an item?")
    assert "retrieved" not in draft.model_dump_json()  # the draft's JSON is unchanged
    with shop_desk.sessions() as session:
        made = session.scalar(
            select(ConversationEvent).where(
                ConversationEvent.kind == EventKind.DRAFT_MADE,
                ConversationEvent.draft_id == draft.draft_id,
            )
        )
    retrieved = made.data["retrieved"]
    # Every passage the search returned is logged, the cited one and the others.
    assert "faq-return-window" in retrieved and len(retrieved) == 4

    listed = {doc.doc_id: doc for doc in shop_desk.unretrieved_knowledge()}
    assert not listed.keys() & {*retrieved, "faq-grinder-stopped"}
    voltage = listed["faq-kettle-voltage"]
    assert voltage.last_retrieved == now - 70 * DAY and voltage.counting_since == now - 90 * DAY
    assert voltage.kind == "faq" and voltage.title.startswith("Can I use a Heron kettle")
    assert listed["art-warranty-policy"].last_retrieved is None
    assert listed["art-warranty-policy"].title == "Warranty Policy"
    # Only the help centre: past tickets are evidence, not knowledge to maintain.
    assert {doc.kind for doc in listed.values()} == {"faq", "article"}
    # Never retrieved first, then the longest unused.
    assert list(listed)[-1] == "faq-kettle-voltage"


def test_a_document_the_desk_has_known_less_than_60_days_is_not_listed(
    shop_desk, web_data_dir, embedder, tmp_path
):
    now = utcnow()
    shop_desk.unretrieved_knowledge(now=now - 90 * DAY)
    added = GIFT_CARDS.model_copy(update={"id": "faq-gift-cards-new"})
    paths = write_help_centre(tmp_path / "new", added)
    assert sync(paths, shop_desk.settings, embedder=embedder, progress=False).added == 1
    listed = {doc.doc_id for doc in shop_desk.unretrieved_knowledge(now=now)}
    assert "faq-kettle-voltage" in listed and "faq-gift-cards-new" not in listed
    # Sixty days after the desk first saw it, unretrieved, it is.
    later = {doc.doc_id: doc for doc in shop_desk.unretrieved_knowledge(now=now + 61 * DAY)}
    assert later["faq-gift-cards-new"].counting_since == now


def test_nothing_is_listed_before_the_desk_has_counted_for_60_days(shop_desk):
    assert shop_desk.unretrieved_knowledge() == []


def test_a_drafting_workers_upkeep_starts_the_count_once_a_day(shop_desk):
    def counted():
        with shop_desk.sessions() as session:
            return retrievals_counted_at(session)

    shop_desk.summarise()
    assert counted() is None  # this process has not opened the knowledge base
    script("scripted/unused", [RETURN_ANSWER, "YES"])
    shop_desk.ask("How long do I have to return an item?")  # a worker that drafted has
    shop_desk.summarise()
    first = counted()
    assert first is not None
    shop_desk.summarise()
    assert counted() == first  # not again the same day


# The page ------------------------------------------------------------------------------------


@pytest.fixture
def app(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, "scripted/review-page", workers=0)
    _forget(app.extensions["support"].desk)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
        session.commit()
    return app


def _section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


def test_the_knowledge_page_still_shows_when_the_knowledge_base_cannot_be_read(app, monkeypatch):
    desk = app.extensions["support"].desk

    def rebuilding(**_):
        raise chromadb.errors.NotFoundError("Collection [kb_articles] does not exist")

    monkeypatch.setattr(desk, "unretrieved_knowledge", rebuilding)
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    response = client.get("/operator/knowledge")
    assert response.status_code == 200
    assert "cannot be read just now" in _section(response.get_data(as_text=True), "unretrieved")


def test_the_knowledge_page_lists_the_documents_no_question_found(app):
    desk = app.extensions["support"].desk
    now = utcnow()
    desk.unretrieved_knowledge(now=now - 90 * DAY)
    seed_retrievals(
        desk, (now - DAY, ["faq-return-window"]), (now - 70 * DAY, ["faq-gift-wrapping"])
    )
    client = app.test_client()
    assert "/operator/login" in client.get("/operator/knowledge").headers["Location"]
    log_in(client, "owner", PASSWORD)
    page = client.get("/operator/knowledge").get_data(as_text=True)
    unused = _section(page, "unretrieved")
    assert "Found by no question in 60 days" in unused
    assert "faq · faq-kettle-voltage</div>" in unused
    assert "faq · faq-return-window</div>" not in unused
    row = unused.split("faq-gift-wrapping", 1)[1].split("</tr>", 1)[0]
    assert (now - 70 * DAY).strftime("%Y-%m-%d") in row
    assert (now - 90 * DAY).strftime("%Y-%m-%d") in row
    assert "<td>never</td>" in unused


def test_the_knowledge_page_shows_the_last_checks_contradictions_with_both_quotes(
    app, web_data_dir, embedder, tmp_path
):
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    before = _section(client.get("/operator/knowledge").get_data(as_text=True), "contradictions")
    assert "Not checked yet: run support-agent knowledge check" in before
    planted = Faq(
        id="faq-returns-planted",
        question="Can I still return my order after two weeks?",
        answer="Unused items can be returned within 14 days of delivery.",
    )
    paths = write_help_centre(tmp_path / "planted", planted)
    settings = app.extensions["support"].desk.settings
    assert sync(paths, settings, embedder=embedder, progress=False).added == 1

    def answer(prompt: str) -> str:
        if "within 14 days of delivery." in prompt and "within 30 days of delivery" in prompt:
            return judged("within 30 days, 14 days")
        return "I cannot tell." if "Warranty Policy" in prompt else '{"subject": null}'

    judge_by_prompt("scripted/review-page", answer)
    report = app.extensions["support"].desk.check_contradictions()
    # The planted FAQ against the returns article, whose section says 30 days.
    (found,) = report.findings
    assert {found.first.doc_id, found.second.doc_id} == {
        "faq-returns-planted",
        "art-returns-and-refunds-policy",
    }
    page = client.get("/operator/knowledge").get_data(as_text=True)
    shown = _section(page, "contradictions")
    assert "return window" in shown and "faq-returns-planted" in shown
    assert "art-returns-and-refunds-policy" in shown
    for said in (found.first, found.second):
        assert f"<q>{said.quote}</q>" in html.unescape(shown)
    assert "Unused items can be returned within 14 days of delivery." in shown
    assert report.checked_at.strftime("%Y-%m-%d %H:%M") in shown
    assert f"Pairs the model could not judge: {len(report.unjudged)}" in shown
    assert report.unjudged and "art-warranty-policy" in shown


def test_the_knowledge_review_lists_are_in_chinese_for_a_chinese_shop(web_data_dir, web_retriever):
    app = make_app(
        web_data_dir, web_retriever, "scripted/review-page", workers=0, shop_language="zh"
    )
    _forget(app.extensions["support"].desk)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
        session.commit()
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    page = client.get("/operator/knowledge").get_data(as_text=True)
    assert "60 天内没有被任何问题找到" in _section(page, "unretrieved")
    assert "尚未检查" in _section(page, "contradictions")
