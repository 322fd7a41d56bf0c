"""Help-centre knowledge to review that no correction points at: documents no question
finds, and documents that contradict each other.

Unretrieved: an article or FAQ in the knowledge base that no draft's retrieval returned
(the doc ids a `draft_made` event records as `retrieved`) in the last UNUSED_DAYS days.
The index keeps no date a document was added, so each is counted from when the desk
first saw it: the first reading of this list with the document indexed, or an earlier
retrieval of it. A document seen for less than UNUSED_DAYS days is not listed; its
silence proves nothing yet. That count is one DeskSetting row, brought up to date from
the events added since it was last read.

Contradiction: two passages of different help-centre documents about the same thing
(cosine similarity of their stored vectors at least NEAR) that both state numbers, not
the same ones, and for which the LLM names one subject and the number each passage gives
for it; the numbers differ, each is found in a sentence of its own passage (the evidence
shown), and those two sentences are about one thing too (their similarity at least
SAME_STATEMENT). The check runs on demand (Desk.check_contradictions, `support-agent
knowledge check`), never while a page renders. Its findings are stored with when they
were checked (a DeskSetting row), with each judged pair under a hash of the two passages'
texts, so a re-run asks the LLM only about new or changed pairs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agent.prompts import render
from ingestion.records import describe
from kb.embeddings import Embedder
from kb.index import ARTICLES, KnowledgeBase
from kb.retrieval import tokens
from llm.client import AllModelsFailed, complete_with_fallbacks
from settings import Settings
from store.models import ConversationEvent, DeskSetting, EventKind, utcnow

UNUSED_DAYS = 60
RETRIEVALS_KEY = "knowledge_retrievals"
# Events are read again this far behind where the last reading stopped: an event is
# stamped before its transaction commits, so it can appear after a later-stamped one.
REREAD = timedelta(minutes=10)

# Cosine similarity (all-MiniLM-L6-v2, the stored vectors) from which two passages are
# about the same thing. On the sample shop an FAQ and the article section saying the same
# score 0.67-0.75 (return window 0.69-0.75, shipping times 0.68, shipping costs 0.69),
# and a planted 14-day FAQ against the 30-day article section 0.69; sections about
# neighbouring topics score 0.45-0.6. At 0.65 its 159 passages give 135 pairs, 85 of
# them with differing numbers; at 0.7 that planted pair and both shipping pairs are lost.
NEAR = 0.65
# Cosine similarity of the two sentences holding the numbers from which they speak of one
# thing. A 1.5B model named a "contradiction" in 19 of the sample shop's 85 candidate pairs,
# all of them two numbers about two things ("tracking can take 24 hours" / "no movement for
# 7 business days"): their sentences scored 0.11-0.76. Planted contradictions of one fact
# (return window 30/14 days, shipping $5.95/$6.95, cut-off 1/3 pm, lock-out 15/30 minutes,
# DHL 5-10/7-14 days) scored 0.81-0.96. Re-run with this bound (and values with units),
# the same model finds none of the 85 pairs contradicting and leaves 41 unjudged.
SAME_STATEMENT = 0.8
CONTRADICTIONS_KEY = "knowledge_contradictions"
ANSWER_TOKENS = 300
_BLOCK = 256  # passages compared with all others at once: 256 x N similarities in memory
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")  # 1:30 pm is one value, 1.5; 1:00 is 1
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
# Markdown emphasis, and the marks that open a line (an FAQ's Q:/A:, a list, a heading).
_MARKUP = re.compile(r"\*\*|__|`|^\s*(?:[QA]:|[-*#>]+)\s*")


@dataclass(frozen=True)
class UnretrievedDocument:
    doc_id: str
    title: str
    kind: str  # faq or article
    last_retrieved: datetime | None  # None: never since `counting_since`
    counting_since: datetime


class Statement(BaseModel):
    """What one passage says about a contradiction's subject, in its own sentence."""

    doc_id: str
    title: str  # the passage's title: the document's, with its section's heading
    kind: str
    quote: str
    value: str  # as the LLM read it from the quote, e.g. "30 days"


class Contradiction(BaseModel):
    subject: str
    first: Statement
    second: Statement
    similarity: float


class Unjudged(BaseModel):
    """A candidate pair the LLM gave no usable answer for, and why."""

    first_doc: str
    second_doc: str
    problem: str


class ContradictionReport(BaseModel):
    checked_at: datetime
    candidates: int  # near pairs whose numbers differ
    asked: int  # pairs judged by the LLM in this check (the others were known)
    waiting: int  # pairs left for the next check by its limit
    findings: list[Contradiction] = []
    unjudged: list[Unjudged] = []


class Answer(BaseModel):
    """The LLM's answer to prompts/contradiction.j2; a value is a number, or a number with
    its unit ("30 days")."""

    subject: Annotated[str, Field(min_length=1)] | None = None
    first_quote: str = ""
    first_value: int | float | str = ""
    second_quote: str = ""
    second_value: int | float | str = ""

    @model_validator(mode="after")
    def _complete(self) -> Answer:
        if self.subject is None:
            return self
        if not (self.first_quote and self.second_quote):
            raise ValueError("a subject needs both quotes")
        if not (_numbers(str(self.first_value)) and _numbers(str(self.second_value))):
            raise ValueError("a subject needs a number from each passage")
        return self


class Verdict(BaseModel):
    """What the LLM's answer says about one pair, as cached: `quotes` and `values` are in
    the order of the pair's texts, sorted."""

    model: str
    subject: str | None = None  # None: the passages give no number for one same thing
    quotes: list[str] = []
    values: list[str] = []
    similarity: float = 0.0  # of the two quoted sentences
    problem: str | None = None  # why the answer could not be used

    @property
    def contradicts(self) -> bool:
        return (
            self.problem is None
            and self.similarity >= SAME_STATEMENT
            and len({_numbers(value) for value in self.values}) == 2
        )


@dataclass(frozen=True)
class _Passage:
    doc_id: str
    title: str
    kind: str
    text: str
    numbers: frozenset[float]


# Documents no draft retrieved ------------------------------------------------------------


def unretrieved_documents(
    sessions: sessionmaker[Session],
    kb: KnowledgeBase,
    *,
    now: datetime,
    days: int = UNUSED_DAYS,
) -> list[UnretrievedDocument]:
    """Indexed articles and FAQs that no draft retrieved in the `days` before `now`, among
    those the desk has known that long: never retrieved first, then the longest unused.
    Stores the count brought up to date."""
    indexed = _documents(kb)
    if not indexed:  # an index being replaced, or none yet: keep the count as it is
        return []
    try:
        with sessions.begin() as session:
            first_seen, last_used = _count_retrievals(session, indexed, now)
    except IntegrityError:  # another reader stored the first count a moment ago: add to it
        with sessions.begin() as session:
            first_seen, last_used = _count_retrievals(session, indexed, now)
    start = now - timedelta(days=days)
    found = [
        UnretrievedDocument(doc_id, title, kind, last_used.get(doc_id), first_seen[doc_id])
        for doc_id, (title, kind) in indexed.items()
        if first_seen[doc_id] <= start and last_used.get(doc_id, datetime.min) <= start
    ]
    return sorted(found, key=lambda d: (d.last_retrieved or datetime.min, d.title, d.doc_id))


def retrievals_counted_at(session: Session) -> datetime | None:
    """When the retrieval count was last brought up to date; None before the first time."""
    row = session.get(DeskSetting, RETRIEVALS_KEY)
    return row.updated_at if row else None


def _count_retrievals(
    session: Session, indexed: dict[str, tuple[str, str]], now: datetime
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """(first seen, last retrieved) of each indexed document, from the stored count and the
    `draft_made` events before `now` it has not read yet; stores the new count."""
    row = session.get(DeskSetting, RETRIEVALS_KEY) or DeskSetting(key=RETRIEVALS_KEY, value={})
    stored = row.value.get("documents", {})
    first_seen = {d: datetime.fromisoformat(v["first_seen"]) for d, v in stored.items()}
    last_used = {
        d: datetime.fromisoformat(v["last_retrieved"])
        for d, v in stored.items()
        if v.get("last_retrieved")
    }
    events = select(ConversationEvent.at, ConversationEvent.data).where(
        ConversationEvent.kind == EventKind.DRAFT_MADE, ConversationEvent.at < now
    )
    read_until = row.value.get("read_until")
    if read_until:
        events = events.where(ConversationEvent.at >= datetime.fromisoformat(read_until) - REREAD)
    for at, data in session.execute(events):
        # Events from before retrievals were recorded have no `retrieved`: they prove nothing.
        for doc_id in data.get("retrieved", []):
            last_used[doc_id] = max(last_used.get(doc_id, at), at)
            # A document a draft retrieved was in the index then.
            first_seen[doc_id] = min(first_seen.get(doc_id, at), at)
    for doc_id in indexed:
        first_seen.setdefault(doc_id, now)
    # Documents gone from the index are forgotten: one added again is counted afresh.
    row.value = {
        "read_until": max(now, datetime.fromisoformat(read_until)).isoformat()
        if read_until
        else now.isoformat(),
        "documents": {
            doc_id: {
                "first_seen": first_seen[doc_id].isoformat(),
                "last_retrieved": last_used[doc_id].isoformat() if doc_id in last_used else None,
            }
            for doc_id in indexed
        },
    }
    session.add(row)
    return first_seen, last_used


def _documents(kb: KnowledgeBase) -> dict[str, tuple[str, str]]:
    """Every indexed article and FAQ: doc id -> (title, kind)."""
    titles: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for page in kb.pages(ARTICLES, ["metadatas"]):  # FAQs and articles share one collection
        for meta in page["metadatas"]:
            titles.setdefault(meta["doc_id"], []).append(meta["title"])
            kinds[meta["doc_id"]] = meta["kind"]
    # A section's title is "Document › Heading"; the shortest is the document's or starts so.
    return {
        doc_id: (min(names, key=len).partition(" › ")[0], kinds[doc_id])
        for doc_id, names in titles.items()
    }


# Passages that contradict each other -----------------------------------------------------


def check_contradictions(
    sessions: sessionmaker[Session],
    settings: Settings,
    kb: KnowledgeBase,
    embedder: Embedder,
    *,
    limit: int | None = None,
) -> ContradictionReport:
    """Judge the candidate pairs not judged before (at most `limit` of them, the most alike
    first), store the findings with the judged pairs, and return them.

    A pair whose answer was unusable is asked again only of another model; a pair no model
    answered is asked again on the next check.
    """
    passages, vectors = _passages(kb)
    pairs = _candidates(passages, vectors)
    with sessions() as session:
        row = session.get(DeskSetting, CONTRADICTIONS_KEY)
        cached = {
            key: Verdict.model_validate(value)
            for key, value in (row.value.get("verdicts", {}) if row else {}).items()
        }
    verdicts: dict[str, Verdict] = {}
    report = ContradictionReport(checked_at=utcnow(), candidates=len(pairs), asked=0, waiting=0)
    failure = None  # once no model answers, the rest would not be answered either
    for similarity, i, j in pairs:
        first, second = sorted((passages[i], passages[j]), key=lambda p: (p.text, p.doc_id))
        key = hashlib.sha256(json.dumps([first.text, second.text]).encode()).hexdigest()
        unjudged = partial(Unjudged, first_doc=first.doc_id, second_doc=second.doc_id)
        verdict = cached.get(key)
        if verdict is None or (verdict.problem and verdict.model != settings.llm_model):
            if failure:
                report.unjudged.append(unjudged(problem=failure))
                continue
            if limit is not None and report.asked >= limit:
                report.waiting += 1
                continue
            report.asked += 1
            try:
                verdict = judge(settings, embedder, first.text, second.text)
            except AllModelsFailed as error:
                failure = f"no model answered: {error}"
                report.unjudged.append(unjudged(problem=failure))
                continue
        verdicts[key] = verdict
        if verdict.problem:
            report.unjudged.append(unjudged(problem=verdict.problem))
        elif verdict.contradicts:
            report.findings.append(
                Contradiction(
                    subject=verdict.subject,
                    first=_statement(first, verdict, 0),
                    second=_statement(second, verdict, 1),
                    similarity=round(similarity, 4),
                )
            )
    # Only the pairs of this index are kept: the cache never outgrows the knowledge base.
    value = {
        "report": report.model_dump(mode="json"),
        "verdicts": {key: verdict.model_dump() for key, verdict in verdicts.items()},
    }
    try:
        _store(sessions, value)
    except IntegrityError:  # another check stored its first findings a moment ago: replace them
        _store(sessions, value)
    return report


def _store(sessions: sessionmaker[Session], value: dict) -> None:
    with sessions.begin() as session:
        row = session.get(DeskSetting, CONTRADICTIONS_KEY) or DeskSetting(key=CONTRADICTIONS_KEY)
        row.value = value
        session.add(row)


def stored_contradictions(session: Session) -> ContradictionReport | None:
    """The last check's findings; None before the first check."""
    row = session.get(DeskSetting, CONTRADICTIONS_KEY)
    return ContradictionReport.model_validate(row.value["report"]) if row else None


def judge(settings: Settings, embedder: Embedder, first: str, second: str) -> Verdict:
    """Ask the configured LLM whether two passages give different numbers for one thing,
    and measure how alike the sentences it found them in are (with the knowledge base's
    embedder); raises AllModelsFailed when no model answers."""
    response, model = complete_with_fallbacks(
        settings,
        messages=[{"role": "user", "content": render("contradiction", first=first, second=second)}],
        max_tokens=ANSWER_TOKENS,
        temperature=0,
    )
    content = response.choices[0].message.content or ""
    # Small models put the object in a Markdown code block: it is what the braces hold.
    start, end = content.find("{"), content.rfind("}")
    try:
        answer = Answer.model_validate_json(content[start : end + 1] if start >= 0 else content)
    except ValidationError as error:
        return Verdict(
            model=model, problem=f"the answer is not the JSON asked for ({describe(error)})"
        )
    if answer.subject is None:
        return Verdict(model=model)
    placed = _placed(
        (first, second),
        [
            (answer.first_quote, str(answer.first_value)),
            (answer.second_quote, str(answer.second_value)),
        ],
    )
    if placed is None:
        return Verdict(
            model=model, problem="the numbers the answer gives are not one in each passage"
        )
    quotes = [sentence for sentence, _ in placed]
    vectors = np.asarray(embedder.embed(quotes), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return Verdict(
        model=model,
        subject=answer.subject,
        quotes=quotes,
        values=[value for _, value in placed],
        similarity=round(float(vectors[0] @ vectors[1]), 4),
    )


def _placed(texts: tuple[str, str], said: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """Each (quote, value) of the answer as the sentence of its passage that states the
    value's numbers and shares most words with the quote, in the passages' order; None
    when the passages' sentences do not state them one each. Small models paraphrase and swap which
    passage said what, so the evidence is always the passage's own sentence."""
    best = None
    for order in (said, said[::-1]):
        found = [
            _sentence(text, quote, value) for text, (quote, value) in zip(texts, order, strict=True)
        ]
        if None in found:
            continue
        score = sum(overlap for overlap, _ in found)
        if best is None or score > best[0]:
            best = (
                score,
                [(sentence, value) for (_, sentence), (_, value) in zip(found, order, strict=True)],
            )
    return None if best is None else best[1]


def _sentence(text: str, quote: str, value: str) -> tuple[int, str] | None:
    """(words shared with `quote`, sentence) for the sentence of `text` that states the
    numbers of `value` and shares most words with the quote; None when none states them."""
    quoted, numbers = set(tokens(quote)), _numbers(value)
    stating = [
        (len(quoted & set(tokens(sentence))), _MARKUP.sub("", sentence).strip())
        for sentence in _SENTENCE.split(text)
        if numbers <= _numbers(sentence)
    ]
    return max(stating, key=lambda found: found[0], default=None)


def _statement(passage: _Passage, verdict: Verdict, index: int) -> Statement:
    return Statement(
        doc_id=passage.doc_id,
        title=passage.title,
        kind=passage.kind,
        quote=verdict.quotes[index],
        value=verdict.values[index],
    )


def _passages(kb: KnowledgeBase) -> tuple[list[_Passage], np.ndarray]:
    """The help centre's passages that drafts may use, with their stored vectors."""
    passages, vectors = [], []
    for page in kb.pages(ARTICLES, ["documents", "metadatas", "embeddings"]):
        for text, meta, vector in zip(
            page["documents"], page["metadatas"], page["embeddings"], strict=True
        ):
            # An FAQ's question entry repeats its text; untrusted passages never reach a draft.
            if "match" in meta or meta.get("untrusted"):
                continue
            passages.append(
                _Passage(meta["doc_id"], meta["title"], meta["kind"], text, _numbers(text))
            )
            vectors.append(vector)
    if not passages:  # no help centre yet
        return [], np.empty((0, 0), dtype=np.float32)
    return passages, np.asarray(vectors, dtype=np.float32).reshape(len(passages), -1)


def _candidates(passages: list[_Passage], vectors: np.ndarray) -> list[tuple[float, int, int]]:
    """(similarity, i, j) for passages i < j of different documents that are at least NEAR
    and both state numbers, not the same ones; the most alike first."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    found = []
    for start in range(0, len(unit), _BLOCK):
        block = unit[start : start + _BLOCK] @ unit.T
        for row, j in zip(*np.nonzero(block >= NEAR), strict=True):
            i, j = start + int(row), int(j)
            first, second = passages[i], passages[j]
            if (
                i < j
                and first.doc_id != second.doc_id
                and first.numbers
                and second.numbers
                and first.numbers != second.numbers
            ):
                found.append((float(block[row, j]), i, j))
    return sorted(found, key=lambda pair: -pair[0])


def _numbers(text: str) -> frozenset[float]:
    """The numbers a text states: "1,200" is 1200, "4,95" is 4.95, "5-10" is 5 and 10,
    "1:30" is 1.5 (so "1:00 pm" and "1 pm" agree)."""
    found = set()
    text = _CLOCK.sub(lambda m: f"{int(m[1]) + int(m[2]) / 60:g}", text)
    for number in _NUMBER.findall(text):
        plain = (
            number.replace(",", "") if _THOUSANDS.fullmatch(number) else number.replace(",", ".")
        )
        try:
            found.add(float(plain))
        except ValueError:
            continue  # a version or a date such as 1.2.3: not a value
    return frozenset(found)
