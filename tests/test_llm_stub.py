"""The stub LLM server (tests/llm_stub.py), driven through litellm as the agent drives a model."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import litellm
import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tests.llm_stub import POLITE, LLMStub

ROOT = Path(__file__).resolve().parent.parent
PASSAGES = [
    SimpleNamespace(
        doc_id="faq-return-policy",
        title="What is your return policy?",
        text="You can return unused items within 30 days of delivery. Start a return from "
        "your order page. Refunds reach your card in 5-10 business days.",
    ),
    SimpleNamespace(doc_id="faq-shipping-times", title="Shipping", text="We ship daily."),
]


def _prompt(name: str, **values) -> str:
    """prompts/<name>.j2 rendered as the agent renders it."""
    environment = Environment(
        loader=FileSystemLoader(ROOT / "prompts"), undefined=StrictUndefined, autoescape=False
    )
    return environment.get_template(f"{name}.j2").render(**values).strip()


def _ask(stub: LLMStub, content: str, **kwargs):
    return litellm.completion(
        model="openai/stub",
        api_base=stub.url,
        api_key="x",
        messages=[{"role": "user", "content": content}],
        max_retries=0,
        **kwargs,
    )


def test_answers_in_the_openai_shape_and_counts_requests():
    with LLMStub() as stub:
        response = _ask(stub, "Hello there")
        assert stub.requests == 1
        assert stub.url.startswith("http://127.0.0.1:") and stub.url.endswith("/v1")
        with urllib.request.urlopen(f"{stub.url}/models", timeout=10) as answer:
            models = json.load(answer)
        with urllib.request.urlopen(f"{stub.base}/stats", timeout=10) as answer:
            assert json.load(answer) == {"requests": 1, "failures": 0, "hanging": 0}
    assert response.choices[0].message.content == POLITE
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert [m["id"] for m in models["data"]] == ["stub"]


def test_streams_word_by_word():
    with LLMStub() as stub:
        whole = _ask(stub, "Hello there").choices[0].message.content
        chunks = list(_ask(stub, "Hello there", stream=True))
        assert stub.requests == 2
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) == len(whole.split())
    assert "".join(pieces) == whole
    built = litellm.stream_chunk_builder(chunks)
    assert built.choices[0].message.content == whole


def test_concurrent_calls_wait_side_by_side():
    delay = 1.5
    with LLMStub() as warm:
        _ask(warm, "warm up the client")  # litellm's first call sets itself up
    with LLMStub(delay=delay) as stub:
        started = time.perf_counter()
        _ask(stub, "one alone")
        alone = time.perf_counter() - started

        results = []
        threads = [
            threading.Thread(target=lambda: results.append(_ask(stub, "two at once")))
            for _ in range(2)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        both = time.perf_counter() - started
        assert stub.requests == 3
    assert len(results) == 2
    assert alone >= delay
    # One after the other would take two delays; side by side about one.
    assert delay <= both < 1.6 * delay


def test_drafting_prompt_gets_a_grounded_cited_reply():
    prompt = _prompt(
        "draft",
        hits=PASSAGES,
        tool_results=[],
        message="How long do I have to return something?",
        language_name="English",
    )
    with LLMStub() as stub:
        reply = _ask(stub, prompt).choices[0].message.content
        streamed = "".join(
            c.choices[0].delta.content or "" for c in _ask(stub, prompt, stream=True) if c.choices
        )
    assert reply == (
        "You can return unused items within 30 days of delivery. Start a return from "
        "your order page. [faq-return-policy]"
    )
    assert streamed == reply


def test_self_check_says_yes_and_tools_get_plain_text():
    check = _prompt("self_check", hits=PASSAGES, tool_results=[], reply="Within 30 days.")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Look up an order.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            },
        }
    ]
    with LLMStub() as stub:
        assert _ask(stub, check, max_tokens=3).choices[0].message.content == "YES"
        plain = _ask(stub, "Where is my order KC-10042?", tools=tools).choices[0].message
        assert not plain.tool_calls and plain.content == POLITE
    arguments = {"order_id": "KC-10042"}
    with LLMStub(tool_call="lookup_order", tool_arguments=arguments) as stub:
        called = _ask(stub, "Where is my order KC-10042?", tools=tools).choices[0].message
    assert called.tool_calls[0].function.name == "lookup_order"
    assert json.loads(called.tool_calls[0].function.arguments) == arguments


def test_fail_rate_answers_500():
    with LLMStub(fail_rate=1.0) as stub:
        with pytest.raises(litellm.InternalServerError):
            _ask(stub, "Hello there")
        assert (stub.requests, stub.failures) == (1, 1)


def test_a_request_with_the_hang_marker_gets_no_answer_until_the_stub_stops():
    outcome = {}

    def ask(content: str) -> None:
        try:
            outcome[content] = _ask(stub, content, timeout=60).choices[0].message.content
        except Exception as error:
            outcome[content] = error

    with LLMStub(hang_on="HANG") as stub:
        held = threading.Thread(target=ask, args=("HANG on, where is my parcel?",))
        held.start()
        deadline = time.monotonic() + 10
        while stub.hanging == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stub.hanging == 1
        assert _ask(stub, "Hello there").choices[0].message.content == POLITE
        assert held.is_alive()
    held.join(timeout=10)  # stopping the stub ends the held request, unanswered
    assert not held.is_alive()
    assert isinstance(outcome["HANG on, where is my parcel?"], Exception)
    assert stub.hanging == 0


def test_command_line_prints_its_address():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.llm_stub", "--port", "0", "--delay", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        with urllib.request.urlopen(f"{line.split()[-1]}/v1/models", timeout=10) as answer:
            assert json.load(answer)["object"] == "list"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
