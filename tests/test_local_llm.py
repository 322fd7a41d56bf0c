"""The local model through litellm: OpenAI-shaped replies, tool calls, streaming, threads,
and the log probabilities the self-check reads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import litellm
import pytest

from agent.prompts import render
from agent.turn import yes_probability
from doctor import PROBE_TOOL
from llm.client import completion
from tests.conftest import TEST_LLM
from tests.test_gate import FAQ

pytestmark = pytest.mark.model

LOOKUP_ORDER = PROBE_TOOL


def ask(text: str, **kwargs):
    return completion(
        model=TEST_LLM, messages=[{"role": "user", "content": text}], max_tokens=64, **kwargs
    )


def test_tool_worthy_prompt_returns_a_parsed_tool_call():
    response = ask("Where is my order KC-10042?", tools=[LOOKUP_ORDER])
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "lookup_order"
    assert json.loads(call.function.arguments) == {"order_id": "KC-10042"}
    assert call.id
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0


def test_other_prompt_returns_plain_text_even_with_tools_offered():
    response = ask("Thanks, that's all I needed!", tools=[LOOKUP_ORDER])
    message = response.choices[0].message
    assert not message.tool_calls
    assert message.content and "{" not in message.content
    assert response.choices[0].finish_reason == "stop"


def test_streaming_yields_text_as_it_is_generated():
    stream = ask("Count from 1 to 10, separated by commas.", stream=True)
    chunks = list(stream)
    pieces = [chunk.choices[0].delta.content or "" for chunk in chunks]
    assert sum(1 for piece in pieces if piece) >= 5
    assert "1, 2, 3" in "".join(pieces)


def test_streaming_a_tool_call_assembles_into_a_standard_call():
    chunks = list(ask("Where is my order KC-10042?", tools=[LOOKUP_ORDER], stream=True))
    message = litellm.stream_chunk_builder(chunks).choices[0].message
    (call,) = message.tool_calls
    assert call.function.name == "lookup_order"
    assert json.loads(call.function.arguments)["order_id"] == "KC-10042"


def test_concurrent_requests_share_one_model_safely():
    questions = [f"What is {n} plus {n}? Answer with the number only." for n in (2, 3, 4, 5)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda q: ask(q).choices[0].message.content, questions))
    for n, reply in zip((2, 3, 4, 5), replies, strict=True):
        assert str(2 * n) in reply


def test_the_self_check_is_surer_of_a_reply_its_passage_backs_than_of_one_it_contradicts():
    passage = FAQ.model_copy(
        update={
            "text": "Q: What is your return policy?\nA: You can return unused items in their "
            "original packaging within 30 days of delivery for a full refund. Return shipping "
            "is paid by the customer."
        }
    )

    def probability_of_yes(reply: str) -> float:
        prompt = render("self_check", reply=reply, hits=[passage], tool_results=[])
        response = ask(prompt, logprobs=True, top_logprobs=5, temperature=0)
        (first, *_) = response.choices[0].logprobs.content
        assert len(first.top_logprobs) == 5 and first.logprob <= 0
        return yes_probability(response.choices[0])

    backed = probability_of_yes("You can return unused items within 30 days for a full refund.")
    contradicted = probability_of_yes("You can return any item within 90 days; we pay shipping.")
    assert 0 < contradicted < backed < 1


def test_the_model_decodes_on_every_cpu_it_may_use_unless_told_otherwise():
    import os

    from llm.local import load_model

    llama = load_model(TEST_LLM.removeprefix("local/")).llama
    assert llama.n_threads == len(os.sched_getaffinity(0))
