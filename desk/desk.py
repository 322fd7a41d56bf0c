"""The desk: the use cases, and the only caller of the store for them.

    desk = Desk(settings)
    receipt = desk.receive(conversation_id, "Where is my order?", channel=Channel.WIDGET)
    ...                                   # a worker runs desk.draft(receipt.turn_id)
    outcome = desk.outcome(receipt.turn_id)

Channels (the widget API, the CLI, the evals) hand messages in; the agent decides;
the desk stores, in that order, and tells the live events what changed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent.draft import Decision, Draft
from agent.turn import Agent
from desk import (
    alerts,
    delivery,
    drafting,
    email_intake,
    events_log,
    gaps,
    insights,
    intake,
    knowledge_review,
    outbox,
    summaries,
    transcripts,
)
from desk.away import Estimate, estimate
from desk.delivery import DeliveryFailed
from desk.digest import Digest, build_digest, digest_due, queue_digest
from desk.email_intake import MailReceipt
from desk.events import Events, conversation_key, events_for, turn_key
from desk.jobs import JobQueue
from desk.lookups import FailedLookups
from desk.orders import order_source
from desk.review import Action, review, translate_draft, translate_reply
from kb.retrieval import Retriever
from settings import Settings
from store.conversations import authorized, start_conversation
from store.db import session_factory
from store.models import (
    Channel,
    Conversation,
    DraftStatus,
    MailStatus,
    Message,
    Outbox,
    OutboxStatus,
    Review,
    Turn,
    TurnStatus,
    utcnow,
)
from store.models import Draft as DraftRow
from store.queue import expected_wait_minutes

log = logging.getLogger(__name__)


class Reply(BaseModel):
    message_id: int
    text: str
    citations: list[dict]


class Outcome(BaseModel):
    """What the customer gets for one message: the reply, or the promise of one."""

    message_id: int
    status: DraftStatus
    reply: Reply | None = None
    expected_wait_minutes: int | None = None
    # When it waits for a person: when they open, and when the reply is expected.
    estimate: Estimate | None = None


class Desk:
    def __init__(
        self,
        settings: Settings,
        *,
        retriever: Retriever | None = None,
        events: Events | None = None,
    ) -> None:
        self.settings = settings
        self.sessions: sessionmaker[Session] = session_factory(settings.db_url)
        self.events = events or events_for(settings.redis_url)
        self.jobs = JobQueue(
            settings,
            draft_turn=self._job,
            deliver=self._deliver_job,
            summarise=self.summarise,
            recover=self.recover,
        )
        self.on_drafted: list[Callable[[Draft], None]] = []
        self._retriever = retriever
        # Built now, so a wrong connector setting stops `serve` at start, not a turn later.
        self._orders = order_source(settings, self.sessions)
        self._agent: Agent | None = None
        self._agent_lock = threading.Lock()

    @property
    def agent(self) -> Agent:
        # Loading the models takes seconds: once, on the first turn, not at start-up.
        with self._agent_lock:
            if self._agent is None:
                self._agent = Agent(
                    self.settings,
                    orders=self._orders,
                    guard=FailedLookups(self.settings),
                    retriever=self._retriever or Retriever(self.settings),
                )
            return self._agent

    # A conversation starts -------------------------------------------------------------

    def start_conversation(
        self, *, verified_email: str | None = None, channel: Channel = Channel.WIDGET
    ) -> tuple[str, str]:
        """(conversation id, the bearer token that alone opens it)."""
        with self.sessions() as session:
            conversation, token = start_conversation(
                session, verified_email=verified_email, channel=channel
            )
            return conversation.id, token

    def opens(self, conversation_id: str, token: str) -> bool:
        """Whether `token` is the bearer token of that conversation (and it exists)."""
        with self.sessions() as session:
            return authorized(session, conversation_id, token) is not None

    def transcript(self, conversation_id: str, *, after: int = 0) -> transcripts.Transcript:
        with self.sessions() as session:
            return transcripts.transcript(session, conversation_id, after)

    def rate(self, conversation_id: str, *, score: int, comment: str | None) -> None:
        with self.sessions.begin() as session:
            conversation = session.get(Conversation, conversation_id)
            conversation.csat_score, conversation.csat_comment = score, comment
            events_log.rated(session, conversation, score)

    # A customer message arrives --------------------------------------------------------

    def receive(
        self,
        conversation_id: str,
        text: str,
        *,
        channel: Channel,
        contact_email: str | None = None,
        client_address: str | None = None,
        enqueue: bool = True,
        stream: bool = False,
    ) -> intake.Receipt:
        """Store the message and its turn, then queue the turn (unless the desk is full).

        With `stream`, the worker publishes the reply word by word once the gate sent it.
        """
        with self.sessions.begin() as session:
            receipt = intake.store_message(
                session,
                self.settings,
                conversation_id=conversation_id,
                text=text,
                channel=channel,
                contact_email=contact_email,
                client_address=client_address,
            )
        self.events.append(conversation_key(conversation_id), {"message_id": receipt.message_id})
        if not receipt.queued:
            self.events.append(turn_key(receipt.turn_id), {"kind": "done"})
        elif enqueue:
            try:
                self.jobs.enqueue(receipt.turn_id, stream=stream)
            except Exception:  # the turn row is stored: the recovery sweep will queue it
                log.exception("could not queue turn %s", receipt.turn_id)
        return receipt

    # A turn is drafted -----------------------------------------------------------------

    def draft(self, turn_id: int, *, stream: bool = False) -> Draft | None:
        """Draft turn `turn_id` if it is still owed; None when it is done or held elsewhere.

        Raises when this attempt failed (or outlived SUPPORT_TURN_TIMEOUT_SECONDS) and
        another is due; the attempt that uses the last try stores a pending draft with
        the reason instead.
        """
        claim = drafting.claim(self.sessions, turn_id, self.settings.turn_lease_seconds)
        if claim is None:
            return None
        key = turn_key(turn_id)
        try:
            if claim.attempts > self.settings.turn_attempts:
                raise TurnGaveUp(f"gave up after {claim.attempts - 1} attempts")
            with drafting.renewing(self.sessions, claim, self.settings.turn_lease_seconds):
                draft = self._decide_in_time(claim)
            stored = self._store(claim, draft)
        except Exception as error:
            timed_out = isinstance(error, TurnTimedOut)
            reason = str(error) if timed_out else _one_line(error)
            log.error(
                "turn %s failed (attempt %d): %s",
                turn_id,
                claim.attempts,
                reason,
                exc_info=not timed_out,  # a timeout's stack says nothing: it is the wait
            )
            if claim.attempts < self.settings.turn_attempts and not isinstance(error, TurnGaveUp):
                drafting.release(self.sessions, turn_id, reason)
                raise
            stored = self._store(
                claim,
                drafting.failed(
                    claim.input.text,
                    reason,
                    claim.attempts,
                    shop_language=self.settings.shop_language,
                ),
            )
        # Streamed only once the gate sent it, as stored: a draft for review is never shown.
        if stream and stored.decision == Decision.SEND:
            for piece in re.findall(r"\S+\s*", stored.reply):
                self.events.append(key, {"kind": "token", "text": piece})
        self.events.append(key, {"kind": "done"})
        self.events.append(conversation_key(claim.conversation_id), {"draft_id": stored.draft_id})
        self._send_mails_of(stored.draft_id)
        for observe in self.on_drafted:
            observe(stored)
        return stored

    def _decide_in_time(self, claim: drafting.Claim) -> Draft:
        """The agent's decision on a claimed turn; TurnTimedOut once the deadline passed.

        A model call that never returns must not hold its turn, its lease and its job
        thread for good, so the decision runs in a daemon thread that this thread waits
        for only `SUPPORT_TURN_TIMEOUT_SECONDS`. Past that the attempt is abandoned: it
        fails like any other (the caller stops renewing the lease, then releases the turn
        for a retry or stores its pending draft), and whatever the abandoned thread
        returns later is dropped. Python cannot stop a thread: it ends when its call
        does. The web process keeps serving all the while, as job threads are not what
        gunicorn's heartbeat watches.
        """
        agent = self.agent  # loading the models is not part of the decision
        timeout = self.settings.turn_timeout_seconds
        decided: Future[Draft] = Future()

        def decide() -> None:
            try:
                decided.set_result(agent.decide(claim.input))
            except Exception as error:  # for the job thread, if it is still waiting
                decided.set_exception(error)

        threading.Thread(target=decide, name=f"decide-{claim.turn_id}", daemon=True).start()
        if not wait([decided], timeout=timeout).done:
            raise TurnTimedOut(f"the assistant took longer than {timeout:g} s")
        return decided.result()

    def _job(self, turn_id: int, stream: bool = False) -> None:
        self.draft(turn_id, stream=stream)

    def _store(self, claim: drafting.Claim, draft: Draft) -> Draft:
        with self.sessions.begin() as session:
            turn = session.get(Turn, claim.turn_id)
            if turn.status == TurnStatus.DONE:  # another worker finished it first
                return draft
            return drafting.record(session, turn, draft, settings=self.settings)

    def _send_mails_of(self, draft_id: int | None) -> None:
        """Queue the jobs that send a draft's mails, stored with it; the sweep covers a loss."""
        try:
            for outbox_id in self._outbox_of(draft_id):
                self.jobs.deliver(outbox_id)
        except Exception:
            log.exception("could not queue the mails of draft %s", draft_id)

    def recover(self) -> int:
        """Queue every turn and outgoing mail nobody is working on; returns how many."""
        owed = drafting.stale(
            self.sessions, received_before_seconds=self.settings.turn_retry_seconds * 4 + 30
        )
        # Streamed: its customer may still be waiting on the turn's events, for instance
        # when a slow turn outlived its lease and this drafting overtakes the first one.
        for turn_id in owed:
            self.jobs.enqueue(turn_id, stream=True)
        unsent = outbox.owed(self.sessions, queued_before_seconds=30)
        for outbox_id in unsent + self.run_schedules():
            self.jobs.deliver(outbox_id)
        self.jobs.summarise()
        if owed or unsent:
            log.info("re-queued %d unfinished turns and %d unsent mails", len(owed), len(unsent))
        return len(owed) + len(unsent)

    def ask(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        email: str | None = None,
        channel: Channel = Channel.CLI,
    ) -> Draft:
        """One turn drafted right here, for `ask`, the evals and tests: no queue, no workers."""
        if conversation_id is None:
            conversation_id, _ = self.start_conversation(verified_email=email, channel=channel)
        receipt = self.receive(conversation_id, text, channel=channel, enqueue=False)
        return self._draft_here(receipt.turn_id, queued=receipt.queued)

    def _draft_here(self, turn_id: int, *, queued: bool) -> Draft:
        if not queued:
            return self.stored_draft(turn_id)
        # Each failed attempt is retried at once; the one past the last stores a pending draft.
        for _ in range(self.settings.turn_attempts):
            try:
                drafted = self.draft(turn_id)
            except Exception:
                continue
            return drafted or self.stored_draft(turn_id)
        return self.draft(turn_id) or self.stored_draft(turn_id)

    # A mail arrives --------------------------------------------------------------------

    def receive_mail(self, raw: bytes, *, draft_now: bool = False) -> MailReceipt:
        """Store one RFC 5322 mail and queue its turn; with `draft_now` (the `mail` commands,
        which may run with no workers) draft it and send its mails right here."""
        receipt = email_intake.receive_mail(self.sessions, self.settings, raw)
        if receipt.turn_id is None:
            return receipt
        self.events.append(conversation_key(receipt.conversation_id), {"turn_id": receipt.turn_id})
        if not draft_now:
            if receipt.queued:
                try:
                    self.jobs.enqueue(receipt.turn_id)
                except Exception:  # the turn row is stored: the recovery sweep will queue it
                    log.exception("could not queue turn %s", receipt.turn_id)
            return receipt
        draft = self._draft_here(receipt.turn_id, queued=receipt.queued)
        for outbox_id in self._outbox_of(draft.draft_id):
            # A failed send is queued again with its next try; the workers' sweep sends it.
            with contextlib.suppress(DeliveryFailed):
                self.deliver_now(outbox_id)
        status = MailStatus.SENT if draft.decision == Decision.SEND else MailStatus.PENDING
        return receipt.model_copy(update={"status": status})

    def mail_cursor(self, mailbox: str, uidvalidity: int) -> int | None:
        return email_intake.cursor(self.sessions, mailbox, uidvalidity)

    def advance_mail_cursor(self, mailbox: str, uidvalidity: int, uid: int) -> None:
        email_intake.advance(self.sessions, mailbox, uidvalidity, uid)

    # The owner is kept informed -------------------------------------------------------

    def digest(self, *, now: datetime | None = None) -> Digest:
        with self.sessions() as session:
            return build_digest(session, self.settings, now=now or utcnow())

    def queue_digest(self, *, now: datetime | None = None) -> Outbox | None:
        """Today's digest to the owner, queued once a day (None when mail is not set up)."""
        with self.sessions.begin() as session:
            return queue_digest(session, self.settings, now=now or utcnow())

    def run_schedules(self, *, now: datetime | None = None) -> list[int]:
        """Queue what is due by the clock: SLA alerts, and the morning digest; returns the
        outbox rows to send. Run by the workers' sweep; every row is keyed, so several
        workers running it at once still queue each mail once."""
        now = now or utcnow()
        with self.sessions.begin() as session:
            rows = alerts.sla_sweep(session, self.settings, now=now)
            last = session.scalar(
                select(Outbox.key).where(Outbox.kind == "digest").order_by(Outbox.id.desc())
            )
            last_day = date.fromisoformat(last.removeprefix("digest:")) if last else None
            if digest_due(self.settings, now=now, last_sent_date=last_day):
                rows += [row for row in [queue_digest(session, self.settings, now=now)] if row]
            return [row.id for row in rows]

    # Mail and webhooks go out ----------------------------------------------------------

    def deliver_now(self, outbox_id: int) -> bool:
        """Send one outbox row in this process; raises DeliveryFailed (its next try is queued
        in the row, for the workers)."""
        return delivery.deliver(self.sessions, self.settings, outbox_id)

    def outbox_row(self, outbox_id: int) -> Outbox | None:
        with self.sessions() as session:
            return session.get(Outbox, outbox_id)

    def _deliver_job(self, outbox_id: int) -> None:
        try:
            self.deliver_now(outbox_id)
        except DeliveryFailed as failed:
            if failed.retry_in is not None:
                self.jobs.deliver(outbox_id, delay=failed.retry_in)

    def _outbox_of(self, draft_id: int | None) -> list[int]:
        if draft_id is None:  # another worker stored this turn's draft, and its mails
            return []
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Outbox.id).where(
                        Outbox.draft_id == draft_id, Outbox.status == OutboxStatus.QUEUED
                    )
                )
            )

    # What the customer gets ------------------------------------------------------------

    def outcome(self, turn_id: int) -> Outcome | None:
        """The stored answer to a turn, or None while it is still being drafted."""
        with self.sessions() as session:
            row = session.scalar(select(DraftRow).where(DraftRow.turn_id == turn_id))
            if row is None:
                return None
            if row.status == DraftStatus.SENT:
                reply = session.scalar(select(Message).where(Message.draft_id == row.id))
                return Outcome(
                    message_id=row.message_id,
                    status=DraftStatus.SENT,
                    reply=Reply(
                        message_id=reply.id,
                        text=reply.text,
                        citations=transcripts.shown_to_customers(row.citations),
                    ),
                )
            wait = expected_wait_minutes(session, self.settings.review_sla_minutes)
            return Outcome(
                message_id=row.message_id,
                status=DraftStatus.PENDING,
                expected_wait_minutes=wait,
                estimate=estimate(session, self.settings),
            )

    def stored_draft(self, turn_id: int) -> Draft:
        with self.sessions() as session:
            row = session.scalar(select(DraftRow).where(DraftRow.turn_id == turn_id))
            return Draft(
                decision=row.decision,
                reply=row.reply,
                answer_type=row.answer_type,
                confidence=row.confidence,
                reasons=row.reasons,
                citations=row.citations,
                tool_calls=row.tool_calls,
                ticket_id=row.ticket_id,
                priority=row.priority,
                language=row.language,
                translation=row.translation,
                usage=row.usage,
                latency_ms=row.latency_ms,
                signals=row.signals,
                conversation_id=row.conversation_id,
                draft_id=row.id,
            )

    # An operator decides ---------------------------------------------------------------

    def decide(
        self,
        draft_id: int,
        *,
        operator_id: int,
        action: Action,
        text: str | None = None,
        reason: str | None = None,
        original: str | None = None,
    ) -> Review:
        """Approve `text` (edited or not) or reject with `reason`; `original` is the operator's
        own words in the shop's language when `text` is their translation."""
        decided = review(
            self.sessions,
            self.settings,
            draft_id=draft_id,
            operator_id=operator_id,
            action=action,
            text=text,
            reason=reason,
            original=original,
            embedder=lambda: self.agent.retriever.embedder,
        )
        self.events.append(conversation_key(decided.conversation_id), {"draft_id": draft_id})
        self._send_mails_of(draft_id)
        return decided.review

    def translate_draft(self, draft_id: int) -> str:
        """The draft's reply in the shop's language, stored with it (for older drafts, and
        drafts whose translation failed); raises TranslationFailed or NoSuchDraft."""
        return translate_draft(self.sessions, self.settings, draft_id)

    def translate_reply(self, draft_id: int, text: str) -> str:
        """An operator's reply in the shop's language, translated for the draft's customer."""
        return translate_reply(self.sessions, self.settings, draft_id, text)

    # How support is going -------------------------------------------------------------

    def report(self, period: str = "30d", *, now: datetime | None = None) -> insights.Report:
        """The insights for `period` ("7d", "30d", "90d") ending now, from the event log."""
        with self.sessions() as session:
            return insights.build_report(session, self.settings, period=period, now=now or utcnow())

    def report_rows(
        self, period: str = "30d", *, now: datetime | None = None
    ) -> list[insights.ConversationRow]:
        """The period's conversations one by one, as `report --csv` exports them."""
        with self.sessions() as session:
            return insights.conversation_rows(
                session, self.settings, period=period, now=now or utcnow()
            )

    def summarise(self, *, now: datetime | None = None) -> int:
        """Bring what the insights and the knowledge page read up to date: the
        per-conversation summaries (returns how many conversations were folded) and, once a
        day, which documents drafts retrieved. A job queued by the workers' sweep."""
        folded = summaries.refresh(self.sessions, self.settings, now=now)
        # Only where the knowledge base is open already: a worker that drafts.
        if self._agent is not None:
            with self.sessions() as session:
                counted = knowledge_review.retrievals_counted_at(session)
            if counted is None or counted < utcnow() - timedelta(days=1):
                try:
                    self.unretrieved_knowledge()
                except Exception:  # an index being rebuilt: the next sweep counts
                    log.exception("could not count which documents drafts retrieved")
        return folded

    # What the knowledge base lacks ------------------------------------------------------

    def knowledge_gaps(
        self, days: int = 30, *, now: datetime | None = None
    ) -> list[gaps.GapCluster]:
        """The last `days` days' questions that went to review for weak or missing
        knowledge, clustered by meaning with the knowledge base's embedder."""
        embedder = self.agent.retriever.embedder
        until = now or utcnow()
        with self.sessions() as session:
            return gaps.knowledge_gaps(
                session, embedder, since=until - timedelta(days=days), until=until
            )

    def publish_gap(
        self, key: str, *, question: str, answer: str, actor: str, days: int = 30
    ) -> gaps.GapCluster:
        """Publish the FAQ of the gap cluster `key` (of the last `days` days) into the
        knowledge base and mark the cluster resolved; raises gaps.UnknownGap."""
        cluster = next((c for c in self.knowledge_gaps(days) if c.key == key), None)
        if cluster is None:
            raise gaps.UnknownGap(f"no knowledge gap {key} in the last {days} days")
        with self.sessions.begin() as session:
            gaps.publish_gap(
                session,
                self.settings,
                self.agent.retriever.embedder,
                cluster=cluster,
                question=question,
                answer=answer,
                actor=actor,
            )
        return cluster

    def stale_knowledge(
        self, days: int = 30, *, now: datetime | None = None
    ) -> list[gaps.StaleDocument]:
        """Articles and FAQs cited by drafts the owner edited or rejected in the last `days`."""
        until = now or utcnow()
        with self.sessions() as session:
            return gaps.stale_knowledge(session, since=until - timedelta(days=days), until=until)

    def unretrieved_knowledge(
        self, *, now: datetime | None = None
    ) -> list[knowledge_review.UnretrievedDocument]:
        """Articles and FAQs no draft retrieved in the last 60 days, among those the desk
        has known that long (knowledge_review.UNUSED_DAYS); brings the count up to date."""
        return knowledge_review.unretrieved_documents(
            self.sessions, self.agent.retriever.current_kb(), now=now or utcnow()
        )

    def check_contradictions(
        self, *, limit: int | None = None
    ) -> knowledge_review.ContradictionReport:
        """Ask the LLM about the help centre's near-duplicate passages whose numbers differ
        (at most `limit` pairs not judged before) and store what contradicts; slow with a
        local model, so run on demand, never while a page renders."""
        retriever = self.agent.retriever
        return knowledge_review.check_contradictions(
            self.sessions, self.settings, retriever.current_kb(), retriever.embedder, limit=limit
        )

    def contradictions(self) -> knowledge_review.ContradictionReport | None:
        """The last contradiction check's findings; None before the first check."""
        with self.sessions() as session:
            return knowledge_review.stored_contradictions(session)


class TurnGaveUp(RuntimeError):
    pass


class TurnTimedOut(RuntimeError):
    """An attempt abandoned at its deadline; its text is the reason a person reads."""


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__
