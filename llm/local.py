"""The in-process LLM: a GGUF model run by llama-cpp-python, as a litellm provider.

After `register()`, `litellm.completion(model="local/qwen2.5-0.5b", ...)` returns the
same OpenAI-shaped responses as any hosted model, tool calls and streaming included,
so the rest of the application never knows which kind of model answers.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import litellm
import numpy as np
from litellm import CustomLLM
from litellm.types.utils import (
    ChoiceLogprobs,
    GenericStreamingChunk,
    Message,
    ModelResponse,
    Usage,
)

from llm.model_files import resolve_model_file
from llm.tool_call_parsing import ParsedReply, parse_tool_calls
from settings import load_settings

PROVIDER = "local"
# Our own reply prefixes that mean "a tool call may be coming": hold the stream back.
_CALL_STARTS = ("{", "[", "```", "<tool_call>")


@dataclass
class LoadedModel:
    llama: object
    path: Path
    load_seconds: float
    lock: threading.Lock


_loaded: dict[Path, LoadedModel] = {}
_loading = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Free llama.cpp memory while the interpreter is still whole, not in __del__ at teardown.
    for loaded in _loaded.values():
        loaded.llama.close()
    _loaded.clear()


def load_model(name: str) -> LoadedModel:
    """Load `local/<name>` once per process; later calls share it."""
    settings = load_settings()
    path = resolve_model_file(
        name, settings.model_cache, settings.local_model_path, settings.local_model_sha256
    )
    with _loading:
        if path not in _loaded:
            from llama_cpp import Llama

            started = time.perf_counter()
            llama = Llama(
                model_path=str(path),
                n_ctx=settings.local_n_ctx,
                # llama.cpp's default is half the CPUs, for hyper-threads; on 2 real cores
                # that left one idle and decoded at 19 tokens/s instead of 28.
                n_threads=settings.local_threads or len(os.sched_getaffinity(0)),
                verbose=False,
            )
            _loaded[path] = LoadedModel(
                llama, path, time.perf_counter() - started, threading.Lock()
            )
    return _loaded[path]


def _template_messages(messages: list[dict]) -> list[dict]:
    """Messages as the GGUF chat template expects them (dict arguments, no None content)."""
    prepared = []
    for message in messages:
        message = dict(message)
        message["content"] = message.get("content") or ""
        if message.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "type": "function",
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": json.loads(call["function"]["arguments"] or "{}")
                        if isinstance(call["function"]["arguments"], str)
                        else call["function"]["arguments"],
                    },
                }
                for call in (
                    c if isinstance(c, dict) else c.model_dump() for c in message["tool_calls"]
                )
            ]
        prepared.append(message)
    return prepared


def _generation_args(optional_params: dict) -> dict:
    args = {
        "temperature": optional_params.get("temperature", 0.0),
        "max_tokens": optional_params.get("max_tokens")
        or optional_params.get("max_completion_tokens")
        or 512,
    }
    for key in ("top_p", "stop", "seed"):
        if optional_params.get(key) is not None:
            args[key] = optional_params[key]
    return args


class _TopLogprobs:
    """A logits processor that notes each step's most likely tokens and their log probabilities.

    llama.cpp returns logprobs only for a model loaded with logits for every prompt token,
    which costs gigabytes and slows reading the prompt; the sampler sees the next token's
    logits anyway. At temperature 0 the most likely token is the one generated.
    """

    def __init__(self, llama, optional_params: dict) -> None:
        self.llama = llama
        self.top = max(1, int(optional_params.get("top_logprobs") or 1))
        self.steps: list[list[tuple[str, float]]] = []

    def __call__(self, input_ids, logits):
        values = np.asarray(logits, dtype=np.float64)
        shifted = values - values.max()
        logprobs = shifted - np.log(np.exp(shifted).sum())
        best = np.argsort(-logprobs)[: self.top]
        self.steps.append([(self._piece(int(token)), float(logprobs[token])) for token in best])
        return logits

    def _piece(self, token: int) -> str:
        return self.llama.detokenize([token]).decode("utf-8", errors="replace")

    def openai(self) -> dict:
        return {
            "content": [
                {
                    "token": step[0][0],
                    "logprob": step[0][1],
                    "top_logprobs": [{"token": t, "logprob": lp} for t, lp in step],
                }
                for step in self.steps
            ]
        }


def _tool_names(tools: list[dict] | None) -> set[str]:
    return {tool["function"]["name"] for tool in tools or [] if tool.get("type") == "function"}


class LocalLLM(CustomLLM):
    """litellm handler for `local/<model>`; one loaded model per file, one request at a time.

    litellm calls handlers with keyword arguments only; the ones not named here are unused.
    """

    def _generate(
        self, model: str, messages: list, optional_params: dict
    ) -> tuple[str, dict, dict | None]:
        """(text, usage, logprobs); logprobs only when asked for, in OpenAI's shape."""
        loaded = load_model(model)
        tools = optional_params.get("tools") or None
        steps = (
            _TopLogprobs(loaded.llama, optional_params) if optional_params.get("logprobs") else None
        )
        with loaded.lock:
            result = loaded.llama.create_chat_completion(
                messages=_template_messages(messages),
                tools=tools if optional_params.get("tool_choice") != "none" else None,
                logits_processor=[steps] if steps else None,
                **_generation_args(optional_params),
            )
        text = result["choices"][0]["message"].get("content") or ""
        return text, result["usage"], steps.openai() if steps else None

    def _reply(
        self, model: str, messages: list, optional_params: dict
    ) -> tuple[ParsedReply, dict, dict | None]:
        text, usage, logprobs = self._generate(model, messages, optional_params)
        tools = optional_params.get("tools")
        parsed = parse_tool_calls(
            text, _tool_names(tools), id_prefix=f"call_{uuid.uuid4().hex[:8]}"
        )
        if tools and not parsed.tool_calls and parsed.unknown_tools:
            # The model invented a tool; ask again without tools for a plain answer.
            text, usage, logprobs = self._generate(
                model, messages, {**optional_params, "tool_choice": "none"}
            )
            parsed = ParsedReply(content=text.strip() or None)
        return parsed, usage, logprobs

    def completion(
        self,
        model: str,
        messages: list,
        optional_params: dict,
        model_response: ModelResponse,
        **kwargs,
    ) -> ModelResponse:
        parsed, usage, logprobs = self._reply(model, messages, optional_params)
        model_response.choices[0].message = Message(
            content=parsed.content, tool_calls=parsed.tool_calls or None
        )
        if logprobs:
            model_response.choices[0].logprobs = ChoiceLogprobs(**logprobs)
        model_response.choices[0].finish_reason = "tool_calls" if parsed.tool_calls else "stop"
        model_response.model = f"{PROVIDER}/{model}"
        model_response.usage = Usage(
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            total_tokens=usage["total_tokens"],
        )
        return model_response

    def streaming(
        self,
        model: str,
        messages: list,
        optional_params: dict,
        model_response: ModelResponse,
        **kwargs,
    ) -> Iterator[GenericStreamingChunk]:
        tools = optional_params.get("tools")
        names = _tool_names(tools)
        loaded = load_model(model)
        text, held, generated = "", False, 0
        with loaded.lock:
            for chunk in loaded.llama.create_chat_completion(
                messages=_template_messages(messages),
                tools=tools,
                stream=True,
                **_generation_args(optional_params),
            ):
                piece = chunk["choices"][0]["delta"].get("content") or ""
                if not piece:
                    continue
                generated += 1
                # A reply that opens like a tool call is held back until it can be parsed.
                if not text and names and piece.lstrip().startswith(_CALL_STARTS):
                    held = True
                text += piece
                if not held:
                    yield _chunk(piece)
            prompt_tokens = loaded.llama.n_tokens - generated
        finish = "stop"
        if held:
            parsed = parse_tool_calls(text, names, id_prefix=f"call_{uuid.uuid4().hex[:8]}")
            if not parsed.tool_calls and parsed.unknown_tools:
                retry, _, _ = self._generate(
                    model, messages, {**optional_params, "tool_choice": "none"}
                )
                parsed = ParsedReply(content=retry.strip() or None)
            if parsed.content:
                yield _chunk(parsed.content)
            for index, call in enumerate(parsed.tool_calls):
                yield _chunk("", tool_use={**call, "index": index})
            if parsed.tool_calls:
                finish = "tool_calls"
        yield _chunk(
            "",
            finished=finish,
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": generated,
                "total_tokens": prompt_tokens + generated,
            },
        )

    async def acompletion(self, *args, **kwargs) -> ModelResponse:
        return await asyncio.to_thread(self.completion, *args, **kwargs)

    async def astreaming(self, *args, **kwargs) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in await asyncio.to_thread(lambda: list(self.streaming(*args, **kwargs))):
            yield chunk


def _chunk(
    text: str, tool_use: dict | None = None, finished: str | None = None, usage: dict | None = None
) -> GenericStreamingChunk:
    return {
        "text": text,
        "tool_use": tool_use,
        "is_finished": finished is not None,
        "finish_reason": finished or "",
        "usage": usage,
        "index": 0,
    }


_handler = LocalLLM()


def register() -> None:
    """Make `local/<model>` a litellm provider (idempotent)."""
    if not any(entry["provider"] == PROVIDER for entry in litellm.custom_provider_map):
        litellm.custom_provider_map.append({"provider": PROVIDER, "custom_handler": _handler})
        litellm.utils.custom_llm_setup()
