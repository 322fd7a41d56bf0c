"""Knowledge gaps clustered by meaning with the real local embedder, their FAQ drafts
published into the knowledge base in one click, and the help centre that misled drafts
the owner edited or rejected; the operator page behind a login and CSRF tokens."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select

from desk.gaps import knowledge_gaps, publish_gap, stale_knowledge
from kb.retrieval import Retriever
from store.conversations import add_message, start_conversation
from store.db import session_factory
from store.models import AuditEntry, DeskSetting, DraftStatus, Operator, Review, utcnow
from store.models import Draft as DraftRow
from store.operators import set_operator
from tests.web_helpers import csrf_token, log_in, make_app

NOW = datetime(2026, 3, 10, 12, 0)
SINCE = NOW - timedelta(days=30)
ICELAND = [
    "Do you ship to Iceland?",
    "Can I get my order delivered to Reykjavik, Iceland?",
    "Is shipping to Iceland possible?",
]
KETTLE = ["Is the kettle dishwasher safe?", "Can I put the kettle in the dishwasher?"]
NORWAY = "Do you ship to Norway?"
WHOLESALE = "What is your phone number for wholesale enquiries?"
GAP = {"code": "nothing_relevant", "text": "Nothing relevant in the knowledge base."}
ICELAND_ANSWER = "Yes, we ship to Iceland with DHL Express; it takes 4 to 6 working days."
PASSWORD = "long enough secret"


@pytest.fixture
def sessions(settings):
    return session_factory(settings.db_url)


@pytest.fixture
def owner(sessions) -> int:
    with sessions() as session:
        operator = set_operator(session, "owner", PASSWORD)
        session.commit()
        return operator.id


def seed(
    session,
    question: str,
    *,
    at: datetime,
    reasons: list[dict] | None = None,
    status: str = DraftStatus.PENDING,
    citations: list[dict] | None = None,
    reply: str = "Let me find out for you.",
) -> DraftRow:
    """A customer's question and the draft it got, as of `at` (committed)."""
    conversation, _ = start_conversation(session)
    message = add_message(session, conversation.id, "customer", question)
    draft = DraftRow(
        conversation_id=conversation.id,
        message_id=message.id,
        decision="send" if status == DraftStatus.SENT else "review",
        status=status,
        reply=reply,
        confidence=0.3,
        priority=40.0,
        language="en",
        reasons=[GAP] if reasons is None else reasons,
        citations=citations or [],
        created_at=at,
    )
    session.add(draft)
    session.commit()
    return draft


def decide(session, draft: DraftRow, operator_id: int, action: str, **fields) -> None:
    """An operator's decision on `draft`, as store.queue records it."""
    draft.status = DraftStatus.REJECTED if action == "reject" else DraftStatus.APPROVED
    review = Review(draft_id=draft.id, operator_id=operator_id, action=action, **fields)
    review.created_at = draft.created_at + timedelta(minutes=5)
    session.add(review)
    session.commit()


def seed_gaps(session) -> dict[str, list[int]]:
    """The test set, asked over the last days, oldest first; draft ids by topic."""
    ids: dict[str, list[int]] = {"iceland": [], "kettle": [], "norway": [], "wholesale": []}
    asked = [
        ("iceland", ICELAND[0]),
        ("kettle", KETTLE[0]),
        ("wholesale", WHOLESALE),
        ("iceland", ICELAND[1]),
        ("norway", NORWAY),
        ("kettle", KETTLE[1]),
        ("iceland", ICELAND[2]),
    ]
    for hours, (topic, question) in enumerate(asked):
        at = NOW - timedelta(days=3) + timedelta(hours=hours)
        ids[topic].append(seed(session, question, at=at).id)
    return ids


def test_gap_questions_are_clustered_by_meaning_and_ranked_by_how_often_they_come(
    sessions, embedder
):
    with sessions() as session:
        ids = seed_gaps(session)
        clusters = knowledge_gaps(session, embedder, since=SINCE, until=NOW)
    found = [sorted(q.draft_id for q in c.questions) for c in clusters]
    assert found[:2] == [ids["iceland"], ids["kettle"]]
    # Asking the same about another country is another gap, however alike the words.
    assert sorted(found[2:]) == sorted([ids["norway"], ids["wholesale"]])
    assert [c.count for c in clusters] == [3, 2, 1, 1]
    assert clusters[0].representative.text in ICELAND
    assert clusters[0].key == str(clusters[0].representative.draft_id)
    assert all(c.faq is None and not c.resolved for c in clusters)


def test_questions_that_went_to_review_for_other_reasons_or_outside_the_period_are_no_gap(
    sessions, embedder
):
    with sessions() as session:
        seed(session, ICELAND[0], at=NOW - timedelta(days=1))
        seed(session, ICELAND[1], at=NOW - timedelta(days=1), status=DraftStatus.SENT)
        refund = {"code": "policy_flag", "text": "Refund.", "detail": "refund"}
        seed(session, ICELAND[2], at=NOW - timedelta(days=1), reasons=[refund])
        seed(session, "Do you ship to Iceland in winter?", at=NOW - timedelta(days=40))
        clusters = knowledge_gaps(session, embedder, since=SINCE, until=NOW)
    assert [[q.text for q in c.questions] for c in clusters] == [[ICELAND[0]]]


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, embedder) -> None:
        self.model, self.embedder, self.embedded = embedder.model, embedder, []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts
        return self.embedder.embed(texts)


def test_a_second_look_embeds_only_the_questions_asked_since_the_first(sessions, embedder):
    counting = CountingEmbedder(embedder)
    question = "Do you gift wrap orders for birthdays?"
    with sessions() as session:
        seed(session, question, at=NOW - timedelta(days=2))
        knowledge_gaps(session, counting, since=SINCE, until=NOW)
        seed(session, "Can you wrap my order as a birthday present?", at=NOW - timedelta(days=1))
        (cluster,) = knowledge_gaps(session, counting, since=SINCE, until=NOW)
    assert counting.embedded == [question, "Can you wrap my order as a birthday present?"]
    assert cluster.count == 2


def test_a_clusters_faq_draft_is_the_newest_answer_the_owner_approved_for_it(
    sessions, embedder, owner
):
    with sessions() as session:
        ids = seed_gaps(session)
        first, second, _ = (session.get(DraftRow, i) for i in ids["iceland"])
        decide(session, first, owner, "approve")  # unchanged: the draft's own reply
        decide(session, second, owner, "edit", text=ICELAND_ANSWER)
        kettle = session.get(DraftRow, ids["kettle"][0])
        decide(session, kettle, owner, "reject", reason="we do not know yet")
        clusters = knowledge_gaps(session, embedder, since=SINCE, until=NOW)
    iceland, kettle_gap = clusters[0], clusters[1]
    assert iceland.faq.answer == ICELAND_ANSWER and iceland.faq.draft_id == second.id
    assert iceland.faq.question == iceland.representative.text
    # A rejected draft has no answer to offer.
    assert kettle_gap.faq is None


def test_an_unchanged_approval_offers_the_drafts_own_reply_as_the_faq_answer(
    sessions, embedder, owner
):
    with sessions() as session:
        draft = seed(session, KETTLE[0], at=NOW - timedelta(days=1), reply="Yes, top rack only.")
        decide(session, draft, owner, "approve")
        (cluster,) = knowledge_gaps(session, embedder, since=SINCE, until=NOW)
    assert cluster.faq.answer == "Yes, top rack only."


def test_publishing_a_gap_makes_its_faq_retrievable_redacted_and_the_cluster_resolved(
    settings, sessions, embedder, owner
):
    with sessions() as session:
        ids = seed_gaps(session)
        decide(session, session.get(DraftRow, ids["iceland"][1]), owner, "edit", text="x")
        iceland = knowledge_gaps(session, embedder, since=SINCE, until=NOW)[0]
        report = publish_gap(
            session,
            settings,
            embedder,
            cluster=iceland,
            question="Do you ship to Iceland? Asked by dana.whitfield@gmail.com",
            answer=ICELAND_ANSWER,
            actor="owner",
        )
        session.commit()
        assert report.added == 1 and report.problems == []
        clusters = knowledge_gaps(session, embedder, since=SINCE, until=NOW)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "publish_faq"))
    hit = Retriever(settings, embedder=embedder).search("delivery to Iceland", k=1)[0]
    assert hit.doc_id == f"gap-{iceland.key}"
    assert "DHL Express" in hit.text and "dana.whitfield" not in hit.text
    # Resolved clusters go last: the open ones are what is left to do.
    assert [c.resolved for c in clusters] == [False, False, False, True]
    assert clusters[-1].key == iceland.key
    assert entry.actor == "owner" and entry.subject == f"faq:gap-{iceland.key}"
    assert sorted(entry.detail["drafts"]) == ids["iceland"]


def test_publishing_a_gap_again_replaces_its_faq(settings, sessions, embedder, owner):
    with sessions() as session:
        seed(session, ICELAND[0], at=NOW - timedelta(days=1))
        (cluster,) = knowledge_gaps(session, embedder, since=SINCE, until=NOW)
        for answer in ("We ship to Iceland by post.", ICELAND_ANSWER):
            publish_gap(
                session,
                settings,
                embedder,
                cluster=cluster,
                question=ICELAND[0],
                answer=answer,
                actor="owner",
            )
            session.commit()
        settings_rows = session.scalars(select(DeskSetting.key)).all()
    hits = Retriever(settings, embedder=embedder).search("ship to Iceland", k=5)
    assert [h.doc_id for h in hits] == [f"gap-{cluster.key}"]
    assert "DHL Express" in hits[0].text and "by post" not in hits[0].text
    assert settings_rows == [f"knowledge_gap:{cluster.key}"]


def citation(doc_id: str, kind: str = "article") -> dict:
    return {"doc_id": doc_id, "title": doc_id.replace("-", " "), "snippet": "…", "kind": kind}


def test_stale_knowledge_names_the_articles_cited_by_edited_or_rejected_drafts_with_why(
    sessions, owner
):
    shipping, returns, ticket = (
        citation("shipping-times"),
        citation("faq-return-window", "faq"),
        citation("ticket-88", "ticket"),
    )
    with sessions() as session:
        edited = seed(
            session,
            "How long to Canada?",
            at=NOW - timedelta(days=2),
            citations=[shipping, shipping, ticket],
        )
        decide(session, edited, owner, "edit", text="Canada takes 10 days now, not 5.")
        rejected = seed(
            session,
            "Can I return a used kettle?",
            at=NOW - timedelta(days=1),
            citations=[shipping, returns],
        )
        decide(session, rejected, owner, "reject", reason="returns are 14 days since March")
        approved = seed(session, "And to Mexico?", at=NOW - timedelta(days=1), citations=[returns])
        decide(session, approved, owner, "approve")
        stale = stale_knowledge(session, since=SINCE, until=NOW)
    assert [(d.doc_id, d.count) for d in stale] == [("shipping-times", 2), ("faq-return-window", 1)]
    newest, oldest = stale[0].evidence
    assert (oldest.draft_id, oldest.action) == (edited.id, "edit")
    assert oldest.text == "Canada takes 10 days now, not 5."
    assert oldest.question == "How long to Canada?"
    assert (newest.action, newest.text) == ("reject", "returns are 14 days since March")
    assert stale[1].kind == "faq"


# The page --------------------------------------------------------------------------------


@pytest.fixture
def app(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, "scripted/knowledge", workers=0)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
        # The shop copy carries drafts of earlier modules: this page starts from none.
        session.execute(delete(Review))
        session.execute(delete(DraftRow))
        session.execute(delete(DeskSetting).where(DeskSetting.key.startswith("knowledge_gap:")))
        session.commit()
    return app


def _seed_answered_gap(app) -> list[int]:
    with app.extensions["support"].sessions() as session:
        owner_id = session.scalar(select(Operator.id).where(Operator.name == "owner"))
        drafts = [seed(session, q, at=utcnow() - timedelta(hours=2)) for q in ICELAND]
        decide(session, drafts[0], owner_id, "edit", text=ICELAND_ANSWER)
        return [d.id for d in drafts]


def test_the_knowledge_page_needs_a_login_and_publishing_a_csrf_token(app):
    _seed_answered_gap(app)
    (cluster,) = app.extensions["support"].desk.knowledge_gaps(30)
    data = {"key": cluster.key, "question": ICELAND[0], "answer": ICELAND_ANSWER}
    client = app.test_client()
    assert "/operator/login" in client.get("/operator/knowledge").headers["Location"]
    # A valid token without a login is sent to log in; a login without a token is refused.
    token = csrf_token(client.get("/operator/login").get_data(as_text=True))
    anonymous = client.post("/operator/knowledge/publish", data={**data, "csrf_token": token})
    assert "/operator/login" in anonymous.headers["Location"]
    log_in(client, "owner", PASSWORD)
    assert client.post("/operator/knowledge/publish", data=data).status_code == 400
    with app.extensions["support"].sessions() as session:
        published = select(DeskSetting).where(DeskSetting.key.startswith("knowledge_gap:"))
        assert session.scalar(published) is None


def test_the_owner_publishes_a_gaps_faq_from_the_knowledge_page_in_one_click(app, web_retriever):
    ids = _seed_answered_gap(app)
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    page = client.get("/operator/knowledge").get_data(as_text=True)
    assert "asked 3×" in page and ICELAND_ANSWER in page
    for draft_id in ids:
        assert f'href="/operator/drafts/{draft_id}"' in page
    key = re.search(r'name="key" value="(\d+)"', page).group(1)
    published = client.post(
        "/operator/knowledge/publish",
        data={
            "csrf_token": csrf_token(page),
            "key": key,
            "days": "30",
            "question": "Do you deliver to Iceland?",
            "answer": ICELAND_ANSWER,
        },
    )
    assert published.status_code == 302
    after = client.get(published.headers["Location"]).get_data(as_text=True)
    assert "Published as an FAQ: Do you deliver to Iceland?" in after
    assert "FAQ published" in after and 'name="key"' not in after
    hits = web_retriever.search("Do you deliver to Iceland?", k=3)
    assert hits[0].doc_id == f"gap-{key}"


def test_a_published_gap_asked_again_is_open_again_with_how_often_since(app):
    _seed_answered_gap(app)
    desk = app.extensions["support"].desk
    (cluster,) = desk.knowledge_gaps(30)
    desk.publish_gap(cluster.key, question=ICELAND[0], answer=ICELAND_ANSWER, actor="owner")
    (published,) = desk.knowledge_gaps(30)
    assert published.resolved and published.asked_since_published == 0
    # The FAQ did not stop the question: it comes again after publishing.
    with app.extensions["support"].sessions() as session:
        seed(session, "Is delivery to Iceland possible?", at=utcnow())
    (again,) = desk.knowledge_gaps(30)
    assert not again.resolved and again.asked_since_published == 1
    assert again.published_at == published.published_at
    client = app.test_client()
    log_in(client, "owner", PASSWORD)
    page = client.get("/operator/knowledge").get_data(as_text=True)
    assert f"FAQ published {again.published_at:%Y-%m-%d}, asked 1× since" in page
    assert 'name="key"' in page  # its FAQ can be published again, corrected
