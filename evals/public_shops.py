"""Test shops built from public support data that nobody here wrote.

The sample shop was written together with its eval cases, so it flatters retrieval;
these shops are how a change is measured on someone else's knowledge. Their data is
not in this repository (it belongs to its authors, under the licences named below):
each shop reads a snapshot of a public repository from a folder of snapshots
(`SUPPORT_PUBLIC_DATA`), either a git directory `OWNER+NAME/repo` or a plain checkout
`OWNER+NAME/`. A shop whose snapshot is absent is skipped and said so.

Every question gets a stable split from its id: `dev` (a third) is what tuning may
look at, `test` is held back for the figures.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ingestion.records import Faq

Split = Literal["dev", "test"]


class ShopCase(BaseModel):
    id: str
    question: str
    doc_ids: list[str]
    language: str = "en"

    @property
    def split(self) -> Split:
        digest = hashlib.sha256(self.id.encode()).digest()
        return "dev" if digest[0] % 3 == 0 else "test"


class ShopData(BaseModel):
    faqs: list[Faq]
    cases: list[ShopCase]


class SnapshotMissing(FileNotFoundError):
    """The public repository a shop is built from is not in the snapshots folder."""


@dataclass(frozen=True)
class Snapshot:
    """Files of one public repository, from a git directory or a plain checkout."""

    root: Path

    def read(self, path: str) -> bytes:
        git_dir = self.root / "repo"
        if (git_dir / "HEAD").exists():
            done = subprocess.run(
                ["git", f"--git-dir={git_dir}", "show", f"HEAD:{path}"],
                capture_output=True,
                check=False,
            )
            if done.returncode != 0:
                raise SnapshotMissing(f"{self.root}: no {path} in the snapshot")
            return done.stdout
        file = self.root / path
        if not file.is_file():
            raise SnapshotMissing(f"{self.root}: no {path}")
        return file.read_bytes()

    def json(self, path: str):
        return json.loads(self.read(path))


@dataclass(frozen=True)
class PublicShop:
    name: str
    repo: str
    domain: str
    attribution: str
    build: Callable[[Snapshot], ShopData]

    def load(self, snapshots: Path) -> ShopData:
        root = snapshots / self.repo.replace("/", "+")
        if not root.exists():
            raise SnapshotMissing(f"{self.name}: no snapshot of {self.repo} in {snapshots}")
        return self.build(Snapshot(root))


def _webapps(snapshot: Snapshot) -> ShopData:
    """StackExchange Web Applications threads: the title and top answer as an FAQ, and
    ten people's rephrasings of each title as the customers' questions."""
    pairs = snapshot.json("data/StackFAQ/stackExchange-FAQ.json")["root"]["qapair"]
    faqs, cases = [], []
    for number, pair in enumerate(pairs):
        doc_id = f"webapps-{number:03d}"
        answers = pair["answer"] if isinstance(pair["answer"], list) else [pair["answer"]]
        faqs.append(Faq(id=doc_id, question=pair["question"], answer=answers[0]))
        rephrasings = [text for text in pair["rephr"] if text and text.strip() not in ("", "*")]
        for index, text in enumerate(rephrasings):
            cases.append(ShopCase(id=f"{doc_id}-{index}", question=text, doc_ids=[doc_id]))
    return ShopData(faqs=faqs, cases=cases)


def _covid(snapshot: Snapshot) -> ShopData:
    """A COVID-19 FAQ, with real users' questions labelled with the FAQ answers that
    serve them."""
    rows = snapshot.json("data/CovidFAQ/query_answer_pairs.json")
    by_answer: dict[str, str] = {}
    faqs = []
    for row in rows:
        if row["query_type"] == "faq" and row["answer"] not in by_answer:
            doc_id = f"covid-{int(row['id']):03d}"
            by_answer[row["answer"]] = doc_id
            faqs.append(Faq(id=doc_id, question=row["question"].strip(), answer=row["answer"]))
    # The same question is labelled once per FAQ that serves it: one case, every FAQ.
    asked: dict[str, ShopCase] = {}
    for row in rows:
        question = row["question"].strip()
        doc_id = by_answer.get(row["answer"])
        if row["query_type"] != "user_query" or row["label"] != 1 or not question or not doc_id:
            continue
        key = " ".join(question.lower().split())
        case = asked.setdefault(
            key, ShopCase(id=f"covid-q{row['id']}", question=question, doc_ids=[])
        )
        if doc_id not in case.doc_ids:
            case.doc_ids.append(doc_id)
    cases = list(asked.values())
    return ShopData(faqs=faqs, cases=cases)


# Tatoeba's languages in LASER's test files (ISO 639-3) and ours (ISO 639-1).
TATOEBA_LANGUAGES = {
    "deu": "de",
    "fra": "fr",
    "spa": "es",
    "ita": "it",
    "por": "pt",
    "nld": "nl",
    "pol": "pl",
    "rus": "ru",
    "tur": "tr",
    "ara": "ar",
    "tha": "th",
    "vie": "vi",
    "cmn": "zh",
    "jpn": "ja",
    "kor": "ko",
}
TATOEBA_PAIRS = 100  # per language: 1,500 English entries, a big help centre


def _tatoeba(snapshot: Snapshot) -> ShopData:
    """Cross-lingual: English sentences as the knowledge base, and their human
    translations into 15 languages as the questions (Tatoeba, as LASER's test files).

    Each English sentence is an entry of its own, so a question finds its entry only
    through its meaning; the English sentences asked as they are give the English
    figure that the others are held against.
    """
    faqs: dict[str, Faq] = {}
    cases = []
    for code, language in TATOEBA_LANGUAGES.items():
        stem = f"data/tatoeba/v1/tatoeba.{code}-eng"
        asked = snapshot.read(f"{stem}.{code}").decode().splitlines()
        english = snapshot.read(f"{stem}.eng").decode().splitlines()
        # Pairs spread evenly over the file (Thai's has 548), the same every run.
        step = max(1, len(english) // TATOEBA_PAIRS)
        for index in range(0, min(len(english), step * TATOEBA_PAIRS), step):
            sentence = english[index].strip()
            doc_id = "tatoeba-" + hashlib.sha256(sentence.encode()).hexdigest()[:10]
            faqs.setdefault(doc_id, Faq(id=doc_id, question=sentence, answer=sentence))
            for lang, text in ((language, asked[index]), ("en", sentence)):
                cases.append(
                    ShopCase(
                        id=f"tatoeba-{code}-{index}-{lang}",
                        question=text.strip(),
                        doc_ids=[doc_id],
                        language=lang,
                    )
                )
    return ShopData(faqs=list(faqs.values()), cases=cases)


SHOPS = {
    shop.name: shop
    for shop in (
        PublicShop(
            name="webapps",
            repo="ML-Recipes/BERT-FAQ",
            domain="software help (StackExchange Web Applications)",
            attribution=(
                "StackFAQ, Karan & Šnajder (2018), from StackExchange posts under CC BY-SA"
            ),
            build=_webapps,
        ),
        PublicShop(
            name="covid",
            repo="ML-Recipes/BERT-FAQ",
            domain="public health (COVID-19 FAQ)",
            attribution="COVID-19 FAQ and user questions collected by the JHU COVID-QA project",
            build=_covid,
        ),
        PublicShop(
            name="tatoeba",
            repo="facebookresearch/LASER",
            domain="everyday sentences in 15 languages against English (Tatoeba)",
            attribution="Tatoeba sentences (CC BY 2.0 FR), as LASER's Tatoeba test set (v1)",
            build=_tatoeba,
        ),
    )
}
