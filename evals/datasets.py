"""Eval cases as JSONL (one file per suite under evals/datasets), validated line by line.

Suites: a file's name (`retrieval`, `answers`, `tools`, `routing`, `safety`), `full` (every
file) and `smoke` (the cases marked `"smoke": true`, for every CI run).

A case in another language may be the translation of an English case of its file
(`translation_of`): the same conversation and expectations, asked in that language, so
the report can set each language against the very same English cases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DATASETS = Path(__file__).resolve().parent / "datasets"
COMBINED = ("full", "smoke")


class DatasetError(ValueError):
    """A dataset line is malformed or a suite is unknown; the message names file:line."""


class ExpectedTool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = {}


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    turns: list[str] = Field(min_length=1)
    email: str | None = None
    reference_answer: str | None = None
    reference_doc_ids: list[str] = []
    expected_tools: list[ExpectedTool] = []
    expected_decision: Literal["send", "review"] | None = None
    forbidden: list[str] = []
    language: str = "en"
    # The id of the English case this one translates (same file).
    translation_of: str | None = None
    tags: list[str] = []
    smoke: bool = False
    # Set by the loader: the file the case came from.
    suite: str = ""

    @field_validator("turns")
    @classmethod
    def _no_empty_turn(cls, turns: list[str]) -> list[str]:
        if any(not turn.strip() for turn in turns):
            raise ValueError("every turn needs text")
        return turns

    @property
    def question(self) -> str:
        """The scored turn: the last one."""
        return self.turns[-1]

    @property
    def needs_agent(self) -> bool:
        """Retrieval cases are scored with search alone, no LLM."""
        return self.suite != "retrieval"


def suite_names(folder: Path = DATASETS) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.jsonl"))


def load_file(path: Path) -> list[Case]:
    numbered: list[tuple[int, Case]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            numbered.append((number, Case.model_validate({**data, "suite": path.stem})))
        except (json.JSONDecodeError, ValueError) as error:
            raise DatasetError(f"{path}:{number}: {_first_problem(error)}") from None
    by_id = {case.id: case for _, case in numbered}
    for number, case in numbered:
        if case.translation_of is not None:
            problem = _translation_problem(case, by_id.get(case.translation_of))
            if problem:
                raise DatasetError(f"{path}:{number}: translation_of: {problem}")
    return [case for _, case in numbered]


def _translation_problem(case: Case, original: Case | None) -> str | None:
    """Why `case` cannot count as a translation of `original`: parity needs the same case.

    Its reference documents and forbidden strings may add the language's own (a localized
    FAQ, the phrase a leak would use in that language); nothing else may differ.
    """
    if original is None:
        return f"no case {case.translation_of!r} in this file"
    if original.language != "en" or original.translation_of is not None:
        return f"{original.id!r} is not an English original"
    if case.language == "en":
        return "a translation needs a language other than en"
    for field in ("email", "expected_decision", "expected_tools"):
        if getattr(case, field) != getattr(original, field):
            return f"{field} differs from {original.id!r}"
    if len(case.turns) != len(original.turns):
        return f"{len(case.turns)} turns where {original.id!r} has {len(original.turns)}"
    for field in ("reference_doc_ids", "forbidden"):
        if not set(getattr(original, field)) <= set(getattr(case, field)):
            return f"{field} leaves out some of {original.id!r}'s"
    return None


def load_suite(name: str, folder: Path = DATASETS) -> list[Case]:
    """The cases of one suite, in file order; ids must be unique across the suite."""
    names = suite_names(folder)
    if name not in (*names, *COMBINED):
        raise DatasetError(f"unknown suite {name!r}; known: {', '.join([*COMBINED, *names])}")
    files = names if name in COMBINED else [name]
    cases = [case for file in files for case in load_file(folder / f"{file}.jsonl")]
    if name == "smoke":
        cases = [case for case in cases if case.smoke]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise DatasetError(f"{folder / case.suite}.jsonl: duplicate case id {case.id!r}")
        seen.add(case.id)
    if not cases:
        raise DatasetError(f"suite {name!r} has no cases")
    return cases


def _first_problem(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    return str(error).splitlines()[0]
