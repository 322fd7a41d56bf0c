"""Test shops from public data: read from a snapshot folder, split, measured from the CLI.

The real snapshots are not in this repository; these tests lay out a tiny one in the
same shape (a plain checkout of OWNER+NAME), written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.public_shops import SHOPS, ShopCase
from tests.conftest import MODELS_DIR, run_cli

THREADS = [
    {
        "question": "How do I change my display name?",
        "answer": ["Settings, then Profile, then Name.", "Same as above."],
        "rephr": ["Renaming myself on the site.", "*", "Can I pick another display name?", None],
    },
    {
        "question": "Can I export my calendar?",
        "answer": "Calendar settings have an Export link that gives an .ics file.",
        "rephr": ["Getting my calendar out as a file.", "Download all my calendar events?"],
    },
]
COVID = [
    {"query_type": "faq", "label": 1, "id": "1", "question": "What is a fever? ", "answer": "A"},
    {"query_type": "faq", "label": 1, "id": "2", "question": "Is there a vaccine?", "answer": "B"},
    {"query_type": "user_query", "label": 1, "id": "9", "question": "vaccine yet?", "answer": "B"},
    {"query_type": "user_query", "label": 0, "id": "10", "question": "fever?", "answer": "B"},
    {"query_type": "user_query", "label": 1, "id": "11", "question": "  ", "answer": "A"},
    {
        "query_type": "user_query",
        "label": 1,
        "id": "12",
        "question": "Vaccine  yet?",
        "answer": "A",
    },
]


@pytest.fixture
def snapshots(tmp_path) -> Path:
    data = tmp_path / "ML-Recipes+BERT-FAQ" / "data"
    (data / "StackFAQ").mkdir(parents=True)
    (data / "CovidFAQ").mkdir()
    (data / "StackFAQ" / "stackExchange-FAQ.json").write_text(
        json.dumps({"root": {"qapair": THREADS}})
    )
    (data / "CovidFAQ" / "query_answer_pairs.json").write_text(json.dumps(COVID))
    return tmp_path


def test_each_thread_becomes_an_faq_and_its_rephrasings_the_questions(snapshots):
    data = SHOPS["webapps"].load(snapshots)
    assert [(faq.id, faq.question) for faq in data.faqs] == [
        ("webapps-000", "How do I change my display name?"),
        ("webapps-001", "Can I export my calendar?"),
    ]
    assert data.faqs[0].answer == "Settings, then Profile, then Name."
    assert [(case.question, case.doc_ids) for case in data.cases] == [
        ("Renaming myself on the site.", ["webapps-000"]),
        ("Can I pick another display name?", ["webapps-000"]),
        ("Getting my calendar out as a file.", ["webapps-001"]),
        ("Download all my calendar events?", ["webapps-001"]),
    ]


def test_user_questions_point_at_the_faq_with_their_answer(snapshots):
    data = SHOPS["covid"].load(snapshots)
    assert [faq.id for faq in data.faqs] == ["covid-001", "covid-002"]
    # A question labelled twice is one question that two FAQs answer.
    assert [(case.question, case.doc_ids) for case in data.cases] == [
        ("vaccine yet?", ["covid-002", "covid-001"])
    ]


def test_the_split_is_stable_and_holds_back_most_questions():
    cases = [ShopCase(id=f"case-{n}", question="q", doc_ids=["d"]) for n in range(300)]
    held_back = [case.id for case in cases if case.split == "test"]
    assert 0.55 < len(held_back) / len(cases) < 0.8
    assert held_back == [case.id for case in cases if case.split == "test"]


def test_eval_retrieval_prints_each_shop_against_the_naive_baseline(snapshots, tmp_path):
    done = run_cli(
        "eval-retrieval",
        "--shop",
        "webapps",
        "--shop",
        "covid",
        "--split",
        "all",
        "--lexical-weight",
        "0",
        env={
            "SUPPORT_PUBLIC_DATA": str(snapshots),
            "SUPPORT_DATA_DIR": str(tmp_path / "data"),
            "SUPPORT_MODELS_DIR": str(MODELS_DIR),
        },
    )
    assert done.returncode == 0, done.stderr
    retrieval, owner_answers = done.stdout.split("owner's FAQ answer")
    rows = [line for line in retrieval.splitlines() if line.startswith("| webapps")]
    assert [row.split(" | ")[2] for row in rows] == ["naive dense", "ours", "lexical weight 0"]
    assert all(row.split(" | ")[1] == "4" for row in rows)
    assert "| covid | 1 | ours | 1.000 | 1.000 | 1.000 |" in done.stdout
    assert "| webapps | " in owner_answers


def test_eval_retrieval_says_which_shops_it_could_not_build(tmp_path):
    done = run_cli(
        "eval-retrieval",
        "--shop",
        "covid",
        env={"SUPPORT_PUBLIC_DATA": str(tmp_path), "SUPPORT_DATA_DIR": str(tmp_path / "d")},
    )
    assert done.returncode == 0
    assert f"skipped: covid: no snapshot of ML-Recipes/BERT-FAQ in {tmp_path}" in done.stderr
