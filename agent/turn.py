"""One agent turn as a decision: given the message, history, identity and knowledge, a draft.

    agent = Agent(settings, orders=OrderBook(sessions), guard=FailedLookups(settings))
    draft = agent.decide(TurnInput(text="Where is my order KC-10042?", verified_email=...))

The agent opens no database sessions and stores nothing: the desk stores the
message before the turn and the draft after it. The loop is bounded: at most
MAX_STEPS model calls, the last one without tools.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple
from urllib.parse import urlsplit

import litellm
from pydantic import BaseModel

from agent.calibration import load_calibration
from agent.draft import AnswerType, Citation, Draft, Latency, ToolCallRecord, Usage
from agent.gate import assess, customer_value, grounding, order_numbers, priority
from agent.language import NAMES, detect_language
from agent.owner_answers import owner_answer, status_question
from agent.policy import INSTRUCTIONS, raised_flags
from agent.prompts import render
from agent.tools import (
    LookupGuard,
    Orders,
    TurnContext,
    requester_emails,
    run_tool,
    tool_schemas,
    tools_for,
)
from agent.translation import TranslationFailed, for_owner, searchable_question, translate
from kb.retrieval import RELEVANT, Hit, Retriever, tokens
from llm.client import AllModelsFailed, complete_with_fallbacks, explain
from settings import Settings

MAX_STEPS = 3
HISTORY = 6
PASSAGES = 4
PASSAGE_CHARS = 700
# A passage this far below the best one rarely answers; it only lengthens the prompt,
# and reading the prompt is most of a small local model's time to the first word.
PASSAGE_FLOOR = 0.15
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
CITATION = re.compile(r"\s*\[([a-z0-9][\w./:#-]*)\]")


class Prompts(NamedTuple):
    """The conversations a turn sends to the model, built from the same passages."""

    history: list[dict]
    drafting: Callable[[list[ToolCallRecord]], list[dict]]  # tool results → messages
    checking: Callable[[list[ToolCallRecord], str], list[dict]]  # + the reply → messages


class Said(BaseModel):
    """One earlier message of the conversation, as the agent sees it."""

    by_customer: bool
    text: str


class TurnInput(BaseModel):
    """Everything one turn decides from; the desk loads it before the turn starts."""

    text: str
    history: list[Said] = []
    # Signed by the shop's server: proof of who the customer is.
    verified_email: str | None = None
    # Given alongside the message, as trusted as an address typed into it.
    contact_email: str | None = None
    # Where the message came from, for the limit on failed order lookups.
    client_address: str | None = None


class Agent:
    def __init__(
        self,
        settings: Settings,
        *,
        orders: Orders,
        guard: LookupGuard,
        retriever: Retriever | None = None,
    ) -> None:
        self.settings = settings
        self.orders = orders
        self.guard = guard
        self.retriever = retriever or Retriever(settings)

    def decide(self, turn: TurnInput, *, on_token: Callable[[str], None] | None = None) -> Draft:
        """Draft a reply to `turn.text` and decide whether it may be sent unreviewed.

        With `on_token`, the reply is streamed as the model writes it, but only for
        turns that may be sent: flagged messages and weak retrieval always go to a
        person, so their draft is never shown early. The gate still has the last word.
        LLM failures do not raise: they become a draft for review with the reason.
        """
        started = time.perf_counter()
        text = turn.text
        language = detect_language(text)
        usage = Usage()

        question, asked_in = searchable_question(
            self.settings, text, language=language, readable=self.retriever.languages, usage=usage
        )
        found = self.retriever.search(question, k=PASSAGES, language=asked_in)
        hits = [hit for hit in found if not hit.untrusted]
        retrieval_ms = (time.perf_counter() - started) * 1000
        context = TurnContext(
            orders=self.orders,
            guard=self.guard,
            retriever=self.retriever,
            verified_email=turn.verified_email,
            customer_text=text,
            hits=hits,
            contact_email=turn.contact_email,
            client_address=turn.client_address,
        )
        prompts = self._messages(turn, hits, language)

        flags = raised_flags(text)
        weak = max((hit.score for hit in hits), default=0.0) < RELEVANT
        tools = tools_for(text, weak_retrieval=weak, flagged=bool(flags))
        if flags or weak:
            on_token = None
        # A message that needs no tool and matches one FAQ clearly gets the owner's answer,
        # and one that only asks where an order is gets its facts in a fixed template.
        faq = None if flags or tools else owner_answer(hits, language=language)
        asked_order = None if flags or faq or language != "en" else status_question(text)
        answer_type = AnswerType.FAQ if faq else AnswerType.GENERATED
        records: list[ToolCallRecord] = []
        reply, llm_error, model = "", None, None
        llm_started = time.perf_counter()
        try:
            if INSTRUCTIONS in flags:
                reply = render("instructions_reply", language=language)
            elif faq:
                reply = render("faq_reply", answer=faq.answer, language=language)
            elif asked_order and (status := _order_status(asked_order, context, records)):
                reply, answer_type = status, AnswerType.ORDER_STATUS
            else:
                direct = tools == ["lookup_order"] and not records
                if direct and (order_ids := _order_ids(text)) is not None:
                    # The message holds the lookup's arguments: making it ourselves saves a
                    # tool-phase call, and the reply's prompt is then read from its start.
                    _lookup(order_ids, context, records)
                # A lookup that already failed is shown to the model, not tried again; with
                # the shop's system down there is nothing true to write about the order.
                offered = [name for name in tools if not (records and name == "lookup_order")]
                if not context.orders_unavailable:
                    reply, model = self._draft(prompts, offered, context, records, usage, on_token)
        except AllModelsFailed as error:
            llm_error = str(error)
        llm_ms = (time.perf_counter() - llm_started) * 1000

        templated = answer_type != AnswerType.GENERATED
        reply, cited_ids = (reply, [faq.doc_id]) if faq else _strip_citations(reply)
        # The owner reads the reply in their language, and so does the gate: its grounding
        # compares words with passages written in the shop's language.
        translation = None
        if INSTRUCTIONS in flags:
            translation = for_owner("instructions_reply", language, self.settings.shop_language)
        elif reply and not llm_error and not context.orders_unavailable:
            translation = self._translated(reply, language, usage)
        by_id = {hit.doc_id: hit for hit in context.hits}
        invalid = [doc_id for doc_id in cited_ids if doc_id not in by_id]
        cited = [by_id[doc_id] for doc_id in cited_ids if doc_id in by_id]
        judge = partial(
            assess,
            message=text,
            reply=reply,
            translation=translation,
            hits=context.hits,
            cited=cited,
            invalid_citations=invalid,
            tool_calls=records,
            flags=flags,
            threshold=self.settings.auto_send_threshold,
            # Read for every generated draft (milliseconds beside the model's seconds), so
            # a running server uses a calibration as soon as `calibrate` has stored it.
            calibration=load_calibration(self.settings.data_dir, model) if model else None,
            model=model,
            link_hosts=self._link_hosts(context.hits),
            guest=turn.verified_email is None,
            handoff_reason=context.handoff_reason,
            orders_unavailable=context.orders_unavailable,
            templated=templated,
        )
        assessment = judge(llm_error=llm_error)
        # The owner's words and the order's facts leave a second look nothing to find; a
        # draft held back anyway is not worth one. The check sees what the model saw but
        # not the customer's message, whose words could argue with it; sharing the
        # drafting prompt's beginning, it costs a local model little more than the reply.
        if assessment.only_unsure and model is not None:
            checking = prompts.checking(records, translation or reply)
            assessment = judge(self_check=self._self_check(checking, usage))
        if llm_error or context.orders_unavailable:
            reply = render("fallback_reply", language=language)
            translation = for_owner("fallback_reply", language, self.settings.shop_language)

        history = self.orders.history(requester_emails(context))
        value = customer_value(history, datetime.now(UTC).replace(tzinfo=None))
        return Draft(
            decision=assessment.decision,
            reply=reply,
            answer_type=answer_type,
            confidence=assessment.confidence,
            reasons=assessment.reasons,
            citations=[_citation(hit) for hit in cited or _implied(reply, context.hits)],
            tool_calls=records,
            ticket=context.ticket,
            # What the first search found, and what the model's own searches added.
            retrieved=list(dict.fromkeys(hit.doc_id for hit in [*found, *context.hits])),
            priority=priority(text, flags, assessment.confidence, value),
            language=language,
            translation=translation,
            usage=usage,
            latency_ms=Latency(
                retrieval=round(retrieval_ms, 1),
                llm=round(llm_ms, 1),
                total=round((time.perf_counter() - started) * 1000, 1),
            ),
            model=model,
            signals=assessment.signals,
        )

    def _translated(self, reply: str, language: str, usage: Usage) -> str | None:
        """The reply in the shop's language; None when it is in it already or the
        translation failed (the owner can ask again from the queue)."""
        if language == self.settings.shop_language:
            return None
        try:
            return translate(
                self.settings,
                reply,
                source=language,
                target=self.settings.shop_language,
                usage=usage,
            )
        except TranslationFailed:
            return None

    def _link_hosts(self, hits: list[Hit]) -> frozenset[str]:
        """Hosts an unreviewed reply may link to: configured, our own, the help centre's."""
        urls = [self.settings.public_url, *(h.url for h in hits if h.kind != "ticket")]
        hosts = {urlsplit(url).hostname for url in urls if url}
        return frozenset({h.lower() for h in hosts if h} | set(self.settings.allowed_link_hosts))

    def _messages(self, turn: TurnInput, hits: list[Hit], language: str) -> Prompts:
        history = [
            {"role": "user" if said.by_customer else "assistant", "content": said.text}
            for said in turn.history[-HISTORY:]
        ]
        passages = _prompt_passages(hits, turn.text)
        system = {"role": "system", "content": render("system", shop_name=self.settings.shop_name)}

        def drafting(records: list[ToolCallRecord]) -> list[dict]:
            user = render(
                "draft",
                hits=passages,
                tool_results=records,
                message=turn.text,
                language_name=NAMES.get(language, "English"),
            )
            return [system, *history, {"role": "user", "content": user}]

        def checking(records: list[ToolCallRecord], reply: str) -> list[dict]:
            user = render("self_check", hits=passages, tool_results=records, reply=reply)
            return [system, {"role": "user", "content": user}]

        return Prompts(history, drafting, checking)

    def _draft(
        self, prompts, tools: list[str], context, records, usage, on_token
    ) -> tuple[str, str | None]:
        """Tool phase on the bare conversation, then the reply with knowledge and tool results.

        Small models pick tools far more reliably from the customer's words alone, with
        no system prompt competing with the tool descriptions. The reply is drafted from
        one user message holding passages and tool results as data: with tool-call turns
        in its history, a small model answers with more tool-call JSON.
        """
        history = prompts.history
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
            usage.add(response)
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
            if context.orders_unavailable:
                # Nothing true can be written about the order: the holding reply is used.
                return "", None
        response, model = complete_with_fallbacks(
            self.settings,
            messages=prompts.drafting(records),
            max_tokens=300,
            temperature=0,
            stream=on_token is not None,
        )
        if on_token is not None:
            response = _relay(response, on_token, model)
        usage.add(response)
        return response.choices[0].message.content or "", model

    def _self_check(self, messages: list[dict], usage: Usage) -> float:
        """A second look at the reply before it may go out: the probability of YES."""
        try:
            response, _ = complete_with_fallbacks(
                self.settings,
                messages=messages,
                max_tokens=3,
                temperature=0,
                logprobs=True,
                top_logprobs=5,
                drop_params=True,  # a provider without logprobs still answers YES or NO
            )
        except AllModelsFailed:
            return 0.0
        usage.add(response)
        return yes_probability(response.choices[0])


def yes_probability(choice) -> float:
    """P(YES) from the first token's log probabilities, else 1 or 0 from the text."""
    said = (choice.message.content or "").strip().upper().startswith("YES")
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs else None
    if not content:
        return 1.0 if said else 0.0
    first = content[0]
    top = getattr(first, "top_logprobs", None) or [first]
    mass = {"YES": 0.0, "NO": 0.0}
    for candidate in top:
        word = candidate.token.strip().upper()
        if word in mass:
            mass[word] += math.exp(candidate.logprob)
    total = mass["YES"] + mass["NO"]
    return round(mass["YES"] / total, 4) if total else (1.0 if said else 0.0)


def _prompt_passages(hits: list[Hit], question: str) -> list[Hit]:
    """The passages worth reading: near the best one, each cut to its relevant sentences."""
    top = max((hit.score for hit in hits), default=0.0)
    kept = [hit for hit in hits if hit.score >= top - PASSAGE_FLOOR]
    return [hit.model_copy(update={"text": _focus(hit.text, question)}) for hit in kept]


def _focus(text: str, question: str) -> str:
    """At most PASSAGE_CHARS: the first sentence, then those sharing most words with the
    question, in their order."""
    if len(text) <= PASSAGE_CHARS:
        return text
    sentences = [part for part in _SENTENCE.split(text) if part.strip()]
    asked = set(tokens(question))
    ranked = sorted(range(1, len(sentences)), key=lambda i: -len(asked & set(tokens(sentences[i]))))
    chosen, used = {0}, len(sentences[0])
    for index in ranked:
        if used + len(sentences[index]) + 1 > PASSAGE_CHARS:
            continue
        chosen.add(index)
        used += len(sentences[index]) + 1
    return " ".join(sentences[i] for i in sorted(chosen))[:PASSAGE_CHARS]


def _order_ids(text: str) -> list[str] | None:
    """The order numbers a lookup is for: none (the customer's recent orders) or one; None
    when the message names several, for the model to choose."""
    numbers = order_numbers(text)
    return numbers if len(numbers) <= 1 else None


def _lookup(order_ids: list[str], context: TurnContext, records: list) -> object | None:
    """Look up as the model would, recording the call; the order's facts, or None."""
    arguments = {"order_id": order_ids[0]} if order_ids else {}
    outcome = run_tool("lookup_order", json.dumps(arguments), context, ["lookup_order"])
    records.append(
        ToolCallRecord(
            name="lookup_order", arguments=arguments, ok=outcome.ok, result=outcome.result
        )
    )
    return outcome.result if outcome.ok else None


def _order_status(order_id: str, context: TurnContext, records: list) -> str | None:
    """One order's status in the template, or None."""
    order = _lookup([order_id], context, records)
    return render("order_status", order=order) if isinstance(order, dict) else None


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
    return Citation(doc_id=hit.doc_id, title=hit.title, url=hit.url, snippet=snippet, kind=hit.kind)
