"""A litellm provider that replays scripted replies, for testing the agent's branches.

    script("scripted/a", [call("lookup_order", order_id="KC-10001"), "Your order shipped."])

Each completion pops the next step: a string becomes a text reply (`truncated(...)` one
cut off by the token limit), a `call(...)` a tool call, an exception is raised (to
simulate a failing provider), and a function is called for the reply (to act while the
model "thinks").
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict, deque

import litellm
from litellm import CustomLLM
from litellm.types.utils import Message, Usage

_scripts: dict[str, deque] = defaultdict(deque)
calls: dict[str, int] = defaultdict(int)
seen_messages: dict[str, list] = defaultdict(list)
seen_tools: dict[str, list] = defaultdict(list)


def call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


class truncated(str):  # noqa: N801 (a step, written like call(...))
    """A text reply the model stopped at its token limit (finish_reason "length")."""


def script(model: str, steps: list) -> None:
    name = model.removeprefix("scripted/")
    _scripts[name] = deque(steps)
    calls[name] = 0
    seen_messages[name] = []
    seen_tools[name] = []


class ScriptedLLM(CustomLLM):
    def completion(self, model, messages, optional_params, model_response, **kwargs):
        calls[model] += 1
        seen_messages[model].append(messages)
        seen_tools[model].append(
            [t["function"]["name"] for t in optional_params.get("tools") or []]
        )
        step = _scripts[model].popleft() if _scripts[model] else "OK"
        if callable(step):
            step = step()
        if isinstance(step, Exception):
            raise step
        if isinstance(step, dict):
            message = Message(
                content=None,
                tool_calls=[
                    {
                        "id": f"call_{uuid.uuid4().hex[:6]}",
                        "type": "function",
                        "function": {
                            "name": step["name"],
                            "arguments": json.dumps(step["arguments"]),
                        },
                    }
                ],
            )
            finish = "tool_calls"
        else:
            finish = "length" if isinstance(step, truncated) else "stop"
            message = Message(content=str(step))
        model_response.choices[0].message = message
        model_response.choices[0].finish_reason = finish
        model_response.model = f"scripted/{model}"
        model_response.usage = Usage(prompt_tokens=100, completion_tokens=10, total_tokens=110)
        return model_response

    def streaming(self, model, messages, optional_params, model_response, **kwargs):
        """Text steps streamed word by word, as a real model would."""
        text = (
            self.completion(model, messages, optional_params, model_response, **kwargs)
            .choices[0]
            .message.content
        )
        words = (text or "").split(" ")
        for number, word in enumerate(words):
            last = number == len(words) - 1
            yield {
                "text": word if last else word + " ",
                "tool_use": None,
                "is_finished": last,
                "finish_reason": "stop" if last else "",
                "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
                if last
                else None,
                "index": 0,
            }


def register() -> None:
    if not any(entry["provider"] == "scripted" for entry in litellm.custom_provider_map):
        litellm.custom_provider_map.append(
            {"provider": "scripted", "custom_handler": ScriptedLLM()}
        )
        litellm.utils.custom_llm_setup()


def rate_limited() -> litellm.RateLimitError:
    return litellm.RateLimitError("rate limited", llm_provider="scripted", model="scripted")


def server_error() -> litellm.InternalServerError:
    return litellm.InternalServerError("upstream 503", llm_provider="scripted", model="scripted")
