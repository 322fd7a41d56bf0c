"""An OpenAI-compatible chat-completions server for tests and benchmarks: no model, set latency.

    python -m tests.llm_stub --port 0 --delay 1.5     # prints: listening on http://127.0.0.1:PORT

    with LLMStub(delay=1.5) as stub:
        litellm.completion(model="openai/stub", api_base=stub.url, api_key="x", messages=[...])
        stub.requests                                   # chat completions served so far

Standard library only, bound to 127.0.0.1. `POST /v1/chat/completions` (also
`/chat/completions`) sleeps `delay` seconds in its own thread, so concurrent
requests wait side by side, then answers in the usual OpenAI shape with `usage`,
or as SSE `data:` chunks word by word and `data: [DONE]` when `"stream": true`.
`GET /v1/models` lists the one model; `GET /stats` counts the requests served
(`{"requests", "failures", "hanging"}`) for a stub in another process.

What it says, checked in this order:

- the self-check question ("Is every fact" … "YES or NO"): `YES`;
- a request that offers `tools`: plain text, no tool call, unless `tool_call` names an
  offered tool (or `tool_choice` forces one) and no tool result is in the messages yet;
- a drafting prompt with knowledge passages (prompts/draft.j2, `<passage id="…">`):
  the first passage's first two sentences followed by ` [<its doc id>]`, so the draft
  is grounded in and cites what it was given;
- anything else: one short polite sentence.

`fail_rate` (`--fail-rate`) answers that share of requests with HTTP 500, after the delay.

`hang_on` (`--hang-on`) is a model that never returns: a request whose last user message
contains that text gets no answer until the stub stops (then its connection just
closes); `hanging` counts those held right now.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
MODEL = "stub"
POLITE = "Thanks for your message! A person from our team will get back to you shortly."
PASSAGE = re.compile(r'<passage id="(?P<id>[^"]+)"[^\n]*>\n(?P<text>.*?)\n</passage>', re.S)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"\S+\s*")


def _text(content: object) -> str:
    """A message's content as text: a string or a list of OpenAI content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_user(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def is_self_check(prompt: str) -> bool:
    return "Is every fact" in prompt and "YES or NO" in prompt


def grounded_reply(prompt: str) -> str | None:
    """The first passage's first two sentences and its citation, or None without passages."""
    match = PASSAGE.search(prompt)
    if match is None:
        return None
    # Brackets inside the passage would read as citations of unknown ids.
    text = " ".join(match["text"].split()).replace("[", "(").replace("]", ")")
    sentences = SENTENCE_END.split(text)
    return f"{' '.join(sentences[:2]).strip()} [{match['id']}]"


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # do not wait for handlers still sleeping when stopped
    request_queue_size = 256  # many clients connect at once under load

    def __init__(self, port: int, stub: LLMStub) -> None:
        super().__init__((HOST, port), _Handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "llm-stub/1"
    # HTTP/1.0: one request per connection, so a stream simply ends when the socket closes.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        if self.server.stub.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        stub = self.server.stub
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [{"id": MODEL, "object": "model", "created": 0, "owned_by": "llm-stub"}]
            self._json(200, {"object": "list", "data": data})
        elif self.path.rstrip("/") == "/stats":
            counts = {"requests": stub.requests, "failures": stub.failures}
            self._json(200, {**counts, "hanging": stub.hanging})
        else:
            self._json(404, _error("not_found", f"no route GET {self.path}"))

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._json(404, _error("not_found", f"no route POST {self.path}"))
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("expected a JSON object with messages")
        except ValueError as error:
            self._json(400, _error("invalid_request_error", str(error)))
            return
        stub = self.server.stub
        if stub.hang_on and stub.hang_on in _last_user(body["messages"]):
            stub._hang()
            return
        if stub.delay > 0:
            time.sleep(stub.delay)  # this request's thread only
        failed = stub._count(body)
        try:
            if failed:
                self._json(500, _error("server_error", "llm-stub: simulated failure"))
            elif body.get("stream"):
                self._stream(body, *stub.answer(body))
            else:
                self._complete(body, *stub.answer(body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up; nothing to tell it

    def _complete(self, body: dict, content: str | None, calls: list[dict]) -> None:
        message: dict = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        self._json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if calls else "stop",
                        "logprobs": None,
                    }
                ],
                "usage": _usage(body, content, calls),
            },
        )

    def _stream(self, body: dict, content: str | None, calls: list[dict]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        head = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or MODEL,
        }

        def send(delta: dict, finish: str | None = None, **extra: object) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            chunk = {**head, "choices": [choice], **extra}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        send({"role": "assistant", "content": ""})
        for piece in WORD.findall(content or ""):
            send({"content": piece})
        for index, call in enumerate(calls):
            send({"tool_calls": [{"index": index, **call}]})
        send({}, "tool_calls" if calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk = {**head, "choices": [], "usage": _usage(body, content, calls)}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error(kind: str, message: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _usage(body: dict, content: str | None, calls: list[dict]) -> dict:
    prompt = sum(_tokens(_text(m.get("content"))) for m in body["messages"])
    completion = _tokens(content or "") + sum(_tokens(json.dumps(c)) for c in calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class LLMStub:
    """The stub server in a background thread of this process; a context manager.

    `tool_call` names a tool to call (with `tool_arguments`) whenever a request offers
    it and holds no tool result yet; by default requests with tools get plain text.
    `hang_on` holds every request whose last user message contains it until `stop()`.
    """

    def __init__(
        self,
        delay: float = 0.0,
        *,
        port: int = 0,
        fail_rate: float = 0.0,
        tool_call: str | None = None,
        tool_arguments: dict | None = None,
        hang_on: str | None = None,
        seed: int | None = None,
        verbose: bool = False,
    ) -> None:
        if delay < 0 or not 0 <= fail_rate <= 1:
            raise ValueError("delay must be >= 0 and fail_rate within 0..1")
        self.delay = delay
        self.fail_rate = fail_rate
        self.tool_call = tool_call
        self.tool_arguments = tool_arguments or {}
        self.hang_on = hang_on
        self.verbose = verbose
        self.requests = 0  # chat completions answered, failures included
        self.failures = 0  # of which answered with HTTP 500
        self.hanging = 0  # requests held unanswered right now (hang_on)
        self._stopping = threading.Event()
        self.recent: deque[dict] = deque(maxlen=100)  # the last request bodies
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        return self._server.server_address[1]

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The api_base to give litellm or an OpenAI client."""
        return f"{self.base}/v1"

    def bind(self) -> LLMStub:
        """Listen on the port (a free one for 0) without serving yet."""
        self._stopping.clear()
        self._server = _Server(self._port, self)
        return self

    def start(self) -> LLMStub:
        """Serve from a background thread of this process."""
        self.bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # the held requests end, unanswered
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        if self._server is not None:
            self._server.server_close()

    def __enter__(self) -> LLMStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _hang(self) -> None:
        with self._lock:
            self.hanging += 1
        self._stopping.wait()
        with self._lock:
            self.hanging -= 1

    def _count(self, body: dict) -> bool:
        """Count one answered request; True when this one is to fail."""
        with self._lock:
            self.requests += 1
            self.recent.append(body)
            failed = self.fail_rate > 0 and self._random.random() < self.fail_rate
            self.failures += failed
            return failed

    def answer(self, body: dict) -> tuple[str | None, list[dict]]:
        """(content, tool calls) for a chat-completions request body."""
        messages = body["messages"]
        prompt = _last_user(messages)
        if is_self_check(prompt):
            return "YES", []
        tools = body.get("tools") or []
        if tools:
            call = self._tool_to_call(body, tools)
            if call is not None and not any(m.get("role") == "tool" for m in messages):
                arguments = self.tool_arguments if call == self.tool_call else {}
                with self._lock:
                    call_id = f"call_{next(self._ids)}"
                function = {"name": call, "arguments": json.dumps(arguments)}
                return None, [{"id": call_id, "type": "function", "function": function}]
            return POLITE, []
        reply = grounded_reply(prompt) or POLITE
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and limit > 0:
            reply = "".join(WORD.findall(reply)[:limit]).rstrip()
        return reply, []

    def _tool_to_call(self, body: dict, tools: list[dict]) -> str | None:
        offered = [t.get("function", {}).get("name") for t in tools if isinstance(t, dict)]
        choice = body.get("tool_choice")
        if choice == "none":
            return None
        if isinstance(choice, dict) and choice.get("function", {}).get("name") in offered:
            return choice["function"]["name"]
        if self.tool_call in offered:
            return self.tool_call
        if choice == "required" and offered:
            return offered[0]
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share answered with 500")
    parser.add_argument("--tool-call", help="call this tool whenever a request offers it")
    parser.add_argument("--tool-arguments", type=json.loads, default={}, help="its JSON args")
    parser.add_argument("--hang-on", help="never answer a request whose last user message has it")
    parser.add_argument("--seed", type=int, help="seed for --fail-rate")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    stub = LLMStub(
        args.delay,
        port=args.port,
        fail_rate=args.fail_rate,
        tool_call=args.tool_call,
        tool_arguments=args.tool_arguments,
        hang_on=args.hang_on,
        seed=args.seed,
        verbose=args.verbose,
    )
    stub.bind()
    print(f"listening on {stub.base}", flush=True)
    try:
        stub._server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        stub._stopping.set()
        stub._server.server_close()


if __name__ == "__main__":
    main()
