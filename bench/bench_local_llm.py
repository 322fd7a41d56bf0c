"""Local LLM: load time, generation speed, and litellm's overhead over bare llama.cpp.

    .venv/bin/python bench/bench_local_llm.py [local/qwen2.5-0.5b local/qwen2.5-1.5b] [--runs N]

For each model, in one run: the time to assemble (first use) and load the GGUF,
then the same prompts streamed by bare llama-cpp-python (the floor) and through
`litellm.completion` with our provider. Prints decode tokens/s after the first
token, the median time to first token, and the litellm/bare ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from llm.client import completion
from llm.local import _template_messages, load_model

PROMPTS = [
    "A customer asks how long shipping to Germany takes. Answer in two sentences.",
    "Explain in three sentences how to descale an electric kettle.",
    "Write a short, friendly reply to a customer whose package is late.",
]


def _timed_stream(pieces) -> tuple[int, float, float]:
    """Tokens, time to first token, and decode seconds after it, for a token stream."""
    started = time.perf_counter()
    first, tokens = None, 0
    for piece in pieces:
        if piece:
            tokens += 1
            first = first or time.perf_counter()
    ended = time.perf_counter()
    return tokens, first - started, ended - first


def bench(model: str, runs: int, max_tokens: int) -> dict:
    name = model.removeprefix("local/")
    started = time.perf_counter()
    loaded = load_model(name)
    first_use = time.perf_counter() - started

    bare, wrapped = [], []
    for _ in range(runs):
        for prompt in PROMPTS:
            messages = [{"role": "user", "content": prompt}]
            # Both paths start from an empty KV cache, so neither reuses the other's prompt.
            with loaded.lock:
                loaded.llama.reset()
                stream = loaded.llama.create_chat_completion(
                    messages=_template_messages(messages),
                    max_tokens=max_tokens,
                    temperature=0,
                    stream=True,
                )
                bare.append(_timed_stream(c["choices"][0]["delta"].get("content") for c in stream))
            with loaded.lock:
                loaded.llama.reset()
            stream = completion(model=model, messages=messages, max_tokens=max_tokens, stream=True)
            wrapped.append(_timed_stream(c.choices[0].delta.content for c in stream))

    def decode_rate(samples):
        return sum(tokens - 1 for tokens, _, _ in samples) / sum(s for _, _, s in samples)

    return {
        "model": model,
        "load_s": loaded.load_seconds,
        "first_use_s": first_use,
        "bare_tok_s": decode_rate(bare),
        "litellm_tok_s": decode_rate(wrapped),
        "bare_ttft_s": statistics.median(ttft for _, ttft, _ in bare),
        "litellm_ttft_s": statistics.median(ttft for _, ttft, _ in wrapped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", default=["local/qwen2.5-0.5b", "local/qwen2.5-1.5b"])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()
    print(
        "| model | load s | first use s | decode tok/s bare | decode tok/s litellm "
        "| litellm/bare | TTFT s bare | TTFT s litellm |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for model in args.models:
        r = bench(model, args.runs, args.max_tokens)
        print(
            f"| {r['model']} | {r['load_s']:.2f} | {r['first_use_s']:.2f} | {r['bare_tok_s']:.1f} "
            f"| {r['litellm_tok_s']:.1f} | {r['litellm_tok_s'] / r['bare_tok_s']:.2f} "
            f"| {r['bare_ttft_s']:.2f} | {r['litellm_ttft_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
