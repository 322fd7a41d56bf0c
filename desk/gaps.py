"""Knowledge gaps and stale knowledge, from what went to review and what the owner changed.

A gap is a question that went to review because the knowledge base had nothing, or
nothing solid, to answer it with (the digest's GAP_REASONS). The period's gap questions
are embedded with the knowledge base's own model and clustered by meaning:
average-linkage agglomeration, merging the two most similar clusters while the mean
cosine similarity of all their pairs is at least SIMILARITY. Clusters are ranked by how
many questions they hold. When the owner approved an answer (edited or unchanged) for
one of a cluster's drafts, the newest such answer with the cluster's representative
question is a ready FAQ draft; publishing it writes a redacted FAQ record and syncs it
into the knowledge base, and marks the cluster resolved (a DeskSetting row per published
FAQ, naming the cluster's drafts: a cluster holding one of them counts as resolved, until
the question is asked again after the FAQ was published, which opens the cluster again).

Stale knowledge is the help centre (articles and FAQs, not past tickets) cited by
drafts the owner edited or rejected, each with that evidence, ranked by count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from desk.digest import GAP_REASONS
from ingestion.records import Faq
from ingestion.redact import redact_all
from ingestion.sync import SyncReport, sync
from kb.embeddings import Embedder
from settings import Settings
from store.models import DeskSetting, Draft, DraftStatus, Message, Review, utcnow
from store.operators import audit

# Mean cosine similarity (all-MiniLM-L6-v2) at which two groups of questions are one gap:
# rephrasings of one question score 0.8-0.9, the same question about another thing
# ("ship to Iceland" / "ship to Norway") 0.55-0.8, unrelated questions below 0.35.
SIMILARITY = 0.75
# The newest gap questions clustered at most: the pairwise matrix grows with the square
# (1000 cluster in a quarter second), and embedding 1000 takes 5-25 s on a small CPU.
MAX_QUESTIONS = 1000
# Questions embedded before are not embedded again: a page view after the first embeds
# only what was asked since. The cache starts over when it holds this many.
CACHED_VECTORS = 20_000
# The part of a message that is embedded: the question, not a long email's quoted tail.
EMBED_CHARS = 500
SETTING_PREFIX = "knowledge_gap:"
FAQ_FILE = "published_faqs.jsonl"
HELP_CENTRE = ("faq", "article")

_write_lock = threading.Lock()
_vectors: dict[tuple[str, str], list[float]] = {}  # (model, text): its vector
_vectors_lock = threading.Lock()


@dataclass(frozen=True)
class GapQuestion:
    draft_id: int
    text: str
    asked_at: datetime
    status: str  # the draft's DraftStatus


@dataclass(frozen=True)
class FaqDraft:
    question: str
    answer: str
    draft_id: int  # the draft whose approved answer it is


@dataclass(frozen=True)
class GapCluster:
    key: str  # the representative's draft id: stable while the cluster is shown
    questions: list[GapQuestion]
    representative: GapQuestion
    faq: FaqDraft | None
    resolved: bool
    # When one of its drafts' clusters was published as an FAQ, and the questions asked
    # since: an FAQ that did not stop the question leaves the cluster open again.
    published_at: datetime | None = None
    asked_since_published: int = 0

    @property
    def count(self) -> int:
        return len(self.questions)


@dataclass(frozen=True)
class Evidence:
    draft_id: int
    question: str
    action: str  # edit or reject
    text: str  # the operator's edited reply, or the reason for rejecting
    at: datetime


@dataclass
class StaleDocument:
    doc_id: str
    title: str
    kind: str
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.evidence)


class UnknownGap(LookupError):
    """No cluster of the period has that key (the period moved, or the key is made up)."""


def knowledge_gaps(
    session: Session, embedder: Embedder, *, since: datetime, until: datetime | None = None
) -> list[GapCluster]:
    """The period's gap questions clustered by meaning, the most asked first; resolved
    clusters after the open ones."""
    questions = _gap_questions(session, since, until or utcnow())
    if not questions:
        return []
    vectors = _embed(embedder, [q.text[:EMBED_CHARS] for q in questions])
    # Hosted models need not normalize: cosine similarity is then a plain dot product.
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = vectors @ vectors.T
    answers = _approved_answers(session, [q.draft_id for q in questions])
    published = _published_drafts(session)
    clusters = []
    for members in _cluster(similarity):
        own = similarity[np.ix_(members, members)]
        # The medoid: the question closest on average to all the others (the earliest on ties).
        representative = questions[members[int(np.argmax(own.mean(axis=1)))]]
        chosen = [questions[i] for i in members]
        answered = [q for q in chosen if q.draft_id in answers]
        newest = max(answered, key=lambda q: (q.asked_at, q.draft_id), default=None)
        faq = (
            FaqDraft(representative.text, answers[newest.draft_id], newest.draft_id)
            if newest
            else None
        )
        published_at = max(
            (published[q.draft_id] for q in chosen if q.draft_id in published), default=None
        )
        asked_since = sum(1 for q in chosen if published_at and q.asked_at > published_at)
        clusters.append(
            GapCluster(
                key=str(representative.draft_id),
                questions=chosen,
                representative=representative,
                faq=faq,
                resolved=published_at is not None and not asked_since,
                published_at=published_at,
                asked_since_published=asked_since,
            )
        )
    clusters.sort(
        key=lambda c: (c.resolved, -c.count, -max(q.asked_at for q in c.questions).timestamp())
    )
    return clusters


def publish_gap(
    session: Session,
    settings: Settings,
    embedder: Embedder,
    *,
    cluster: GapCluster,
    question: str,
    answer: str,
    actor: str,
) -> SyncReport:
    """Publish an FAQ for `cluster` into the knowledge base, mark it resolved and audit it.

    The FAQ is redacted like a learned edit and synced at once, so the next turn finds
    it; publishing the same cluster again replaces its FAQ. The caller commits.
    """
    faq_id = f"gap-{cluster.key}"
    # Together, so a name the answer greets is removed from the question too.
    safe_question, safe_answer = redact_all([question, answer])
    record = Faq(
        id=faq_id,
        question=safe_question,
        answer=safe_answer,
        tags=["knowledge-gap"],
        updated_at=utcnow(),
    )
    report = _write_and_sync(settings, embedder, record)
    key = SETTING_PREFIX + cluster.key
    row = session.get(DeskSetting, key) or DeskSetting(key=key)
    row.value = {
        "faq_id": faq_id,
        "draft_ids": [q.draft_id for q in cluster.questions],
        "published_at": utcnow().isoformat(),
        "by": actor,
    }
    session.add(row)
    audit(
        session,
        actor,
        "publish_faq",
        f"faq:{faq_id}",
        question=safe_question,
        answer=safe_answer,
        drafts=[q.draft_id for q in cluster.questions],
    )
    return report


def stale_knowledge(
    session: Session, *, since: datetime, until: datetime | None = None
) -> list[StaleDocument]:
    """Articles and FAQs cited by drafts the owner edited or rejected in the period, each
    with the edits and reasons, the most often corrected first."""
    rows = session.execute(
        select(Draft, Review)
        .join(Review, Review.draft_id == Draft.id)
        .where(
            Review.action.in_(("edit", "reject")),
            Review.created_at >= since,
            Review.created_at < (until or utcnow()),
        )
        .order_by(Review.created_at.desc(), Review.id.desc())
    ).all()
    questions = _message_texts(session, [draft.message_id for draft, _ in rows])
    found: dict[str, StaleDocument] = {}
    for draft, decision in rows:
        evidence = Evidence(
            draft_id=draft.id,
            question=questions.get(draft.message_id, ""),
            action=decision.action,
            text=(decision.text if decision.action == "edit" else decision.reason) or "",
            at=decision.created_at,
        )
        # A document cited twice by one draft is one piece of evidence.
        cited = {c["doc_id"]: c for c in draft.citations or [] if c.get("kind") in HELP_CENTRE}
        for doc_id, citation in cited.items():
            document = found.setdefault(
                doc_id, StaleDocument(doc_id, citation.get("title") or doc_id, citation["kind"])
            )
            document.evidence.append(evidence)
    return sorted(found.values(), key=lambda d: (-d.count, d.doc_id))


def _cluster(similarity: np.ndarray) -> list[list[int]]:
    """Average-linkage agglomeration: merge the closest pair of clusters while their mean
    pairwise similarity is at least SIMILARITY; members in their original order."""
    count = len(similarity)
    members = [[i] for i in range(count)]
    sums = similarity.astype(float).copy()  # sums[a, b]: similarities between a's and b's
    sizes = np.ones(count)
    mean = sums.copy()
    np.fill_diagonal(mean, -np.inf)
    alive = np.ones(count, dtype=bool)
    while alive.sum() > 1:
        a, b = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if mean[a, b] < SIMILARITY:
            break
        a, b = min(a, b), max(a, b)
        sums[a, :] += sums[b, :]
        sums[:, a] = sums[a, :]
        sizes[a] += sizes[b]
        alive[b] = False
        members[a] = sorted(members[a] + members[b])
        # Only the merged cluster's means change: one row and column, not the whole matrix.
        mean[a, :] = np.where(alive, sums[a, :] / (sizes[a] * sizes), -np.inf)
        mean[:, a] = mean[a, :]
        mean[a, a] = mean[b, :] = mean[:, b] = -np.inf
    return [members[i] for i in range(count) if alive[i]]


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """The texts' vectors, embedding only those not embedded before with this model."""
    with _vectors_lock:
        known = {t: _vectors[(embedder.model, t)] for t in texts if (embedder.model, t) in _vectors}
    missing = sorted(set(texts) - known.keys())
    if missing:
        fresh = dict(zip(missing, embedder.embed(missing), strict=True))
        known |= fresh
        with _vectors_lock:
            if len(_vectors) + len(fresh) > CACHED_VECTORS:
                _vectors.clear()
            _vectors.update(((embedder.model, t), v) for t, v in fresh.items())
    return np.asarray([known[t] for t in texts], dtype=float)


def _gap_questions(session: Session, since: datetime, until: datetime) -> list[GapQuestion]:
    drafts = session.scalars(
        select(Draft)
        .where(
            Draft.status != DraftStatus.SENT,
            Draft.created_at >= since,
            Draft.created_at < until,
        )
        .order_by(Draft.created_at.desc(), Draft.id.desc())
    )
    # Reasons are JSON: filtered here, not in SQL, the same on SQLite and PostgreSQL.
    gaps = [d for d in drafts if any(r.get("code") in GAP_REASONS for r in d.reasons or [])]
    gaps = gaps[:MAX_QUESTIONS][::-1]
    texts = _message_texts(session, [d.message_id for d in gaps])
    return [
        GapQuestion(d.id, texts.get(d.message_id, ""), d.created_at, d.status)
        for d in gaps
        if texts.get(d.message_id, "")
    ]


def _message_texts(session: Session, message_ids: list[int]) -> dict[int, str]:
    if not message_ids:
        return {}
    rows = session.execute(
        select(Message.id, Message.text).where(Message.id.in_(set(message_ids)))
    ).all()
    return {message_id: " ".join(text.split()) for message_id, text in rows}


def _approved_answers(session: Session, draft_ids: list[int]) -> dict[int, str]:
    """The reply the owner approved for each approved draft: the edit, else the draft."""
    rows = session.execute(
        select(Draft.id, Draft.reply, Review.action, Review.text)
        .join(Review, Review.draft_id == Draft.id)
        .where(
            Draft.id.in_(draft_ids),
            Draft.status == DraftStatus.APPROVED,
            Review.action.in_(("approve", "edit")),
        )
        .order_by(Review.id)
    ).all()
    return {
        draft_id: (text if action == "edit" and text else reply)
        for draft_id, reply, action, text in rows
    }


def _published_drafts(session: Session) -> dict[int, datetime]:
    """The drafts of every published gap cluster, with when their FAQ was published."""
    rows = session.scalars(
        select(DeskSetting.value).where(DeskSetting.key.startswith(SETTING_PREFIX))
    )
    return {
        draft_id: datetime.fromisoformat(value["published_at"])
        for value in rows
        for draft_id in value.get("draft_ids", [])
    }


def _write_and_sync(settings: Settings, embedder: Embedder, record: Faq) -> SyncReport:
    """Add (or replace) the FAQ in the published file and sync the file into the index."""
    folder = settings.data_dir / "learned"
    path = folder / FAQ_FILE
    with _write_lock:
        folder.mkdir(parents=True, exist_ok=True)
        kept = []
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if line.strip() and not _is(line, record.id)]
        scratch = path.with_suffix(".jsonl.tmp")
        scratch.write_text(
            "".join(line + "\n" for line in [*kept, record.model_dump_json(exclude_none=True)]),
            encoding="utf-8",
        )
        scratch.replace(path)
        return sync([path], settings, kind="faq", embedder=embedder, progress=False)


def _is(line: str, faq_id: str) -> bool:
    try:
        return Faq.model_validate_json(line).id == faq_id
    except ValueError:
        return False  # a damaged line is kept for the sync to report
