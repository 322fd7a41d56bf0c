"""One agent turn: store the message, retrieve, draft with tools, gate, record the draft.

    agent = Agent(load_settings())
    draft = agent.answer("Where is my order KC-10042?", email="dana@example.com")

The loop is bounded: at most MAX_STEPS model calls, the last one without tools.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

import litellm
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agent.draft import Citation, Draft, Latency, ToolCallRecord, Usage
from agent.gate import (
    CustomerHistory,
    assess,
    customer_value,
    grounding,
    priority,
)
from agent.language import NAMES, detect_language
from agent.llm import AllModelsFailed, complete_with_fallbacks, explain
from agent.policy import INSTRUCTIONS, raised_flags
from agent.prompts import render
from agent.tools import TurnContext, requester_emails, run_tool, tool_schemas, tools_for
from kb.retrieval import RELEVANT, Hit, Retriever
from settings import Settings
from store.conversations import add_message, recent_messages, start_conversation
from store.db import session_factory
from store.models import Conversation, Customer, Order, utcnow
from store.models import Draft as DraftRow

MAX_STEPS = 3
HISTORY = 6
PASSAGES = 4
PASSAGE_CHARS = 700
CITATION = re.compile(r"\s*\[([a-z0-9][\w./:#-]*)\]")


class MessageTooLong(ValueError):
    pass


class Agent:
    def __init__(self, settings: Settings, retriever: Retriever | None = None) -> None:
        self.settings = settings
        self.sessions: sessionmaker[Session] = session_factory(settings.db_url)
        self.retriever = retriever or Retriever(settings)

    def answer(
        self,
        text: str,
        conversation_id: str | None = None,
        email: str | None = None,
        on_token: Callable[[str], None] | None = None,
        contact_email: str | None = None,
    ) -> Draft:
        """Run one turn for a customer message and return its draft.

        `email` verifies a new conversation's customer; `contact_email` is one the customer
        merely gave, as trusted as an address typed into the message. With `on_token`, the
        reply is streamed as the model writes it, but only for turns that may be sent:
        flagged messages and weak retrieval always go to a person, so their draft is never
        shown early. The gate still has the last word on streamed drafts.
        """
        if len(text) > self.settings.max_message_chars:
            raise MessageTooLong(
                f"message is {len(text)} characters; the limit is {self.settings.max_message_chars}"
            )
        with self.sessions() as session:
            if conversation_id is None:
                conversation_id = start_conversation(session, verified_email=email)[0].id
            elif session.get(Conversation, conversation_id) is None:
                raise LookupError(f"no conversation {conversation_id}")
            message = add_message(session, conversation_id, "customer", text)
            return self._turn(session, conversation_id, message.id, text, on_token, contact_email)

    def _turn(
        self,
        session: Session,
        conversation_id: str,
        message_id: int,
        text: str,
        on_token: Callable[[str], None] | None,
        contact_email: str | None,
    ) -> Draft:
        started = time.perf_counter()
        verified_email = session.get(Conversation, conversation_id).verified_email
        language = detect_language(text)

        hits = [hit for hit in self.retriever.search(text, k=PASSAGES) if not hit.untrusted]
        retrieval_ms = (time.perf_counter() - started) * 1000
        context = TurnContext(
            session, self.retriever, conversation_id, verified_email, text, hits, contact_email
        )
        prompts = self._messages(session, conversation_id, message_id, text, hits, language)

        flags = raised_flags(text)
        weak = max((hit.score for hit in hits), default=0.0) < RELEVANT
        tools = tools_for(text, weak_retrieval=weak, flagged=bool(flags))
        if flags or weak:
            on_token = None
        usage = Usage()
        records: list[ToolCallRecord] = []
        reply, llm_error, model = "", None, None
        llm_started = time.perf_counter()
        try:
            if INSTRUCTIONS in flags:
                reply = render("instructions_reply")
            else:
                reply, model = self._draft(prompts, tools, context, records, usage, on_token)
        except AllModelsFailed as error:
            llm_error = str(error)
        llm_ms = (time.perf_counter() - llm_started) * 1000

        reply, cited_ids = _strip_citations(reply)
        by_id = {hit.doc_id: hit for hit in context.hits}
        invalid = [doc_id for doc_id in cited_ids if doc_id not in by_id]
        cited = [by_id[doc_id] for doc_id in cited_ids if doc_id in by_id]
        judge = partial(
            assess,
            text,
            reply,
            context.hits,
            cited,
            invalid,
            records,
            flags,
            self.settings.auto_send_threshold,
            context.handoff_reason,
        )
        assessment = judge(llm_error=llm_error)
        if assessment.decision == "send" and not self._self_check(
            reply, cited or context.hits[:2], records, usage
        ):
            assessment = judge(self_check=False)
        if llm_error:
            reply = render("fallback_reply")

        value = customer_value(_history(session, requester_emails(context)), utcnow())
        draft = Draft(
            decision=assessment.decision,
            reply=reply,
            confidence=assessment.confidence,
            reasons=assessment.reasons,
            citations=[_citation(hit) for hit in cited or _implied(reply, context.hits)],
            tool_calls=records,
            ticket_id=context.ticket_id,
            priority=priority(text, flags, assessment.confidence, value),
            language=language,
            usage=usage,
            latency_ms=Latency(
                retrieval=round(retrieval_ms, 1),
                llm=round(llm_ms, 1),
                total=round((time.perf_counter() - started) * 1000, 1),
            ),
            conversation_id=conversation_id,
            model=model,
        )
        draft.draft_id = self._record(session, draft, message_id)
        return draft

    def _messages(self, session, conversation_id, message_id, text, hits, language):
        """(history, drafting prompt) for the two phases of a turn."""
        history = [
            {"role": "user" if m.author == "customer" else "assistant", "content": m.text}
            for m in recent_messages(session, conversation_id, message_id, HISTORY)
        ]
        passages = [hit.model_copy(update={"text": hit.text[:PASSAGE_CHARS]}) for hit in hits]

        def drafting(records: list[ToolCallRecord]) -> list[dict]:
            system = render("system", shop_name=self.settings.shop_name)
            user = render(
                "draft",
                hits=passages,
                tool_results=records,
                message=text,
                language_name=NAMES.get(language, "English"),
            )
            return [
                {"role": "system", "content": system},
                *history,
                {"role": "user", "content": user},
            ]

        return history, drafting

    def _draft(
        self, prompts, tools: list[str], context, records, usage, on_token
    ) -> tuple[str, str]:
        """Tool phase on the bare conversation, then the reply with knowledge and tool results.

        Small models pick tools far more reliably from the customer's words alone, with
        no system prompt competing with the tool descriptions. The reply is drafted from
        one user message holding passages and tool results as data: with tool-call turns
        in its history, a small model answers with more tool-call JSON.
        """
        history, drafting = prompts
        asked = {"role": "user", "content": context.customer_text}
        exchanged: list[dict] = []
        seen_calls: set[tuple[str, str]] = set()
        for _ in range(MAX_STEPS - 1 if tools else 0):
            response, _ = complete_with_fallbacks(
                self.settings,
                messages=[*history, asked, *exchanged],
                tools=tool_schemas(tools),
                max_tokens=200,
                temperature=0,
            )
            _add_usage(usage, response)
            message = response.choices[0].message
            calls = []
            for c in message.tool_calls or []:
                if (c.function.name, c.function.arguments) not in seen_calls:
                    seen_calls.add((c.function.name, c.function.arguments))
                    calls.append(c)
            if not calls:
                break
            exchanged.append(
                {
                    "role": "assistant",
                    "content": message.content or "",
                    "tool_calls": [c.model_dump() for c in calls],
                }
            )
            for call in calls:
                outcome = run_tool(call.function.name, call.function.arguments, context, tools)
                try:
                    arguments = json.loads(call.function.arguments or "{}")
                except json.JSONDecodeError:
                    arguments = {"raw": call.function.arguments}
                records.append(
                    ToolCallRecord(
                        name=call.function.name,
                        arguments=arguments,
                        ok=outcome.ok,
                        result=outcome.result,
                    )
                )
                exchanged.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "name": call.function.name,
                        "content": json.dumps(outcome.result, default=str),
                    }
                )
        response, model = complete_with_fallbacks(
            self.settings,
            messages=drafting(records),
            max_tokens=300,
            temperature=0,
            stream=on_token is not None,
        )
        if on_token is not None:
            response = _relay(response, on_token, model)
        _add_usage(usage, response)
        return response.choices[0].message.content or "", model

    def _self_check(self, reply, hits, records, usage) -> bool:
        """A second look before a draft goes out unreviewed; any doubt means review."""
        prompt = render(
            "self_check",
            reply=reply,
            hits=hits,
            tool_results=[json.dumps(r.result, default=str) for r in records if r.ok],
        )
        try:
            response, _ = complete_with_fallbacks(
                self.settings,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=3,
                temperature=0,
            )
        except AllModelsFailed:
            return False
        _add_usage(usage, response)
        return (response.choices[0].message.content or "").strip().upper().startswith("YES")

    def _record(self, session: Session, draft: Draft, message_id: int) -> int:
        row = DraftRow(
            conversation_id=draft.conversation_id,
            message_id=message_id,
            decision=draft.decision,
            status="sent" if draft.decision == "send" else "pending",
            reply=draft.reply,
            confidence=draft.confidence,
            priority=draft.priority,
            language=draft.language,
            reasons=draft.reasons,
            citations=[c.model_dump() for c in draft.citations],
            tool_calls=[t.model_dump(mode="json") for t in draft.tool_calls],
            usage=draft.usage.model_dump(),
            latency_ms=draft.latency_ms.model_dump(),
            ticket_id=draft.ticket_id,
        )
        session.add(row)
        session.flush()
        if draft.decision == "send":
            add_message(session, draft.conversation_id, "agent", draft.reply, draft_id=row.id)
        session.commit()
        return row.id


def _relay(stream, on_token: Callable[[str], None], model: str):
    """Pass streamed text on as it arrives; return the whole response."""
    chunks = []
    try:
        for chunk in stream:
            chunks.append(chunk)
            piece = chunk.choices[0].delta.content if chunk.choices else None
            if piece:
                on_token(piece)
    except Exception as error:
        raise AllModelsFailed([explain(error, model)]) from error
    return litellm.stream_chunk_builder(chunks)


def _strip_citations(reply: str) -> tuple[str, list[str]]:
    cited = list(dict.fromkeys(CITATION.findall(reply)))
    return CITATION.sub("", reply).strip(), cited


def _implied(reply: str, hits: list[Hit]) -> list[Hit]:
    """When the model cites nothing, credit the passages its reply visibly draws on."""
    return [hit for hit in hits[:2] if reply and grounding(reply, hit.text) >= 0.5]


def _citation(hit: Hit) -> Citation:
    snippet = hit.text if len(hit.text) <= 240 else hit.text[:240].rsplit(" ", 1)[0] + " …"
    return Citation(doc_id=hit.doc_id, title=hit.title, url=hit.url, snippet=snippet)


def _add_usage(usage: Usage, response) -> None:
    if response.usage:
        usage.prompt_tokens += response.usage.prompt_tokens or 0
        usage.completion_tokens += response.usage.completion_tokens or 0
    # Local and unknown models have no price: they cost nothing here.
    with contextlib.suppress(Exception):
        usage.cost_usd += float(litellm.completion_cost(completion_response=response) or 0.0)


def _history(session: Session, emails: set[str]) -> CustomerHistory | None:
    if not emails:
        return None
    row = session.execute(
        select(
            func.count(Order.id),
            func.coalesce(func.sum(Order.total), 0),
            func.min(Order.created_at),
        )
        .join(Customer)
        .where(Customer.email.in_(emails))
    ).one()
    first: datetime | None = row[2]
    return CustomerHistory(orders=row[0], total_spent=float(row[1]), first_order=first)
