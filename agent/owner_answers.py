"""Answers that need no model: the owner's FAQ answer, and an order's status by template.

A model's paraphrase can drift from its source; the owner's words and the order's
facts in fixed sentences cannot, and they need no model call, so they are instant.
An FAQ must match by its question, closely, and clearly ahead of every other passage:
on the public test shops' dev questions these bounds picked the right FAQ every time
on two shops, and on the third an FAQ with the same meaning (docs/benchmarks.md).
"""

from __future__ import annotations

import re

from agent.gate import order_numbers
from kb.retrieval import Hit

# Question-to-question cosine similarity (all-MiniLM-L6-v2) at least this...
MATCH = 0.75
# ...and at least this far above the next passage's.
MARGIN = 0.15


def owner_answer(hits: list[Hit], *, language: str) -> Hit | None:
    """The FAQ whose answer is the reply, or None when a model should write one."""
    if not hits:
        return None
    top, others = hits[0], hits[1:]
    runner_up = max((hit.score for hit in others), default=0.0)
    if (
        top.kind == "faq"
        and top.by_question
        and top.answer
        # Sent word for word, so only an FAQ written in the customer's language.
        and top.language == language
        and top.score >= MATCH
        and top.score - runner_up >= MARGIN
    ):
        return top
    return None


# Asking where one order is, in so many words; anything more gets a written reply.
STATUS_QUESTION = re.compile(
    r"\bwhere(?:'s| is)\b|\bstatus\b|\btrack|\bshipped\b|\barriv|\bdeliver|\bupdate on\b",
    re.IGNORECASE,
)
STATUS_WORDS = 25
_SENTENCE = re.compile(r"[.?!]+(?=\s|$)|\n")
_WORD = re.compile(r"(?<!\S)[^\W\d_]+(?:'[^\W\d_]+)?[,;:]?(?!\S)")


def status_question(text: str) -> str | None:
    """The order number of a short message that only asks how one order is doing."""
    numbers = order_numbers(text)
    # "Hi!", "Thanks." or an email and postcode ask nothing; a second sentence of words may.
    sentences = [part for part in _SENTENCE.split(text) if len(_WORD.findall(part)) >= 3]
    if (
        len(numbers) == 1
        and len(sentences) <= 1
        and STATUS_QUESTION.search(text)
        and len(text.split()) <= STATUS_WORDS
    ):
        return numbers[0]
    return None
