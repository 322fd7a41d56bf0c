"""ragas 0.4.3 metrics for one case: the non-LLM ones always, the judged ones with a judge model.

Non-LLM: ID-based context precision/recall (retrieved ids against the case's reference
ids), Levenshtein string similarity and semantic similarity (our local embedder) against
the reference answer, and tool call accuracy against the expected calls. With
SUPPORT_JUDGE_MODEL set, faithfulness, response relevancy and factual correctness are
judged by that model through litellm (ragas' own prompts, structured output by instructor).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Awaitable

# ragas reports usage to its authors unless told not to; evals run offline.
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

import instructor  # noqa: E402
import litellm  # noqa: E402
from ragas.dataset_schema import SingleTurnSample  # noqa: E402
from ragas.embeddings.base import BaseRagasEmbedding  # noqa: E402
from ragas.messages import AIMessage, HumanMessage  # noqa: E402
from ragas.messages import ToolCall as RagasToolCall  # noqa: E402
from ragas.metrics._context_precision import IDBasedContextPrecision  # noqa: E402
from ragas.metrics._context_recall import IDBasedContextRecall  # noqa: E402
from ragas.metrics.collections import (  # noqa: E402
    AnswerRelevancy,
    FactualCorrectness,
    Faithfulness,
    NonLLMStringSimilarity,
    SemanticSimilarity,
    ToolCallAccuracy,
)

from evals.results import CaseResult  # noqa: E402
from kb.embeddings import Embedder  # noqa: E402
from llm import local as local_llm  # noqa: E402

NON_LLM = (
    "context.precision",
    "context.recall",
    "answers.string_similarity",
    "answers.semantic_similarity",
    "tools.call_accuracy",
)
JUDGED = ("answers.faithfulness", "answers.response_relevancy", "answers.factual_correctness")


class LocalEmbeddings(BaseRagasEmbedding):
    """Our embedder (all-MiniLM-L6-v2 by default) in ragas' modern embeddings interface."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.embedder = embedder

    def embed_text(self, text: str, **kwargs) -> list[float]:
        return self.embedder.embed([text])[0]

    async def aembed_text(self, text: str, **kwargs) -> list[float]:
        return self.embed_text(text)

    def embed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:
        return self.embedder.embed(texts)

    async def aembed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:
        return self.embed_texts(texts)


def judge_llm(model: str):
    """A ragas LLM that calls `model` through litellm, parsing JSON replies (any provider)."""
    local_llm.register()
    client = instructor.from_litellm(litellm.acompletion, mode=instructor.Mode.JSON)
    from ragas.llms import llm_factory

    return llm_factory(
        model, provider="litellm", client=client, adapter="litellm", temperature=0, max_tokens=1024
    )


class RagasScorer:
    def __init__(self, embedder: Embedder, judge_model: str | None = None) -> None:
        embeddings = LocalEmbeddings(embedder)
        self.precision = IDBasedContextPrecision()
        self.recall = IDBasedContextRecall()
        self.string = NonLLMStringSimilarity()
        self.semantic = SemanticSimilarity(embeddings=embeddings)
        self.tools = ToolCallAccuracy(strict_order=False)
        self.judged = judge_model is not None
        # Judge failures (unparseable output, provider errors) leave the score empty.
        self.failures: list[str] = []
        if judge_model:
            llm = judge_llm(judge_model)
            self.faithfulness = Faithfulness(llm=llm)
            self.relevancy = AnswerRelevancy(llm=llm, embeddings=embeddings)
            self.factual = FactualCorrectness(llm=llm)

    async def score(self, case: CaseResult) -> dict[str, float | None]:
        scores: dict[str, float | None] = dict.fromkeys(
            (*NON_LLM, *(JUDGED if self.judged else ())), None
        )
        if case.reference_doc_ids and case.context_ids:
            sample = SingleTurnSample(
                retrieved_context_ids=case.context_ids,
                reference_context_ids=case.reference_doc_ids,
            )
            scores["context.precision"] = await self.precision.single_turn_ascore(sample)
            scores["context.recall"] = await self.recall.single_turn_ascore(sample)
        if case.reply is None:
            return scores
        if case.expected_tools:
            scores["tools.call_accuracy"] = await self._tool_accuracy(case)
        if case.reference_answer:
            pair = {"reference": case.reference_answer, "response": case.reply}
            scores["answers.string_similarity"] = (await self.string.ascore(**pair)).value
            scores["answers.semantic_similarity"] = (await self.semantic.ascore(**pair)).value
        if not self.judged or not case.reply.strip():
            return scores
        if case.contexts:
            scores["answers.faithfulness"] = await self._judge(
                self.faithfulness.ascore(
                    user_input=case.question, response=case.reply, retrieved_contexts=case.contexts
                )
            )
        scores["answers.response_relevancy"] = await self._judge(
            self.relevancy.ascore(user_input=case.question, response=case.reply)
        )
        if case.reference_answer:
            scores["answers.factual_correctness"] = await self._judge(
                self.factual.ascore(response=case.reply, reference=case.reference_answer)
            )
        return scores

    async def _tool_accuracy(self, case: CaseResult) -> float:
        """Every call the agent made in the scored turn against the expected ones, any order."""
        made = [RagasToolCall(name=call.name, args=call.arguments) for call in case.tool_calls]
        messages = [HumanMessage(content=case.question)]
        if made:
            messages.append(AIMessage(content="", tool_calls=made))
        expected = [RagasToolCall(name=t.name, args=t.arguments) for t in case.expected_tools]
        with warnings.catch_warnings():  # ragas warns on every mismatch; the score says it
            warnings.simplefilter("ignore", UserWarning)
            result = await self.tools.ascore(user_input=messages, reference_tool_calls=expected)
        return float(result.value)

    async def _judge(self, pending: Awaitable) -> float | None:
        try:
            result = await pending
        except Exception as error:  # any judge failure must not sink the run
            self.failures.append(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")
            return None
        return None if result.value is None else float(result.value)
