"""Approved edits flow back: as knowledge (a solved ticket) and as a candidate eval case.

When the owner corrects a draft, the corrected answer is the best text the shop has
for that question. It is written as a solved ticket to `<data dir>/learned/` and
synced like any other ticket. The customer's question may hold personal data, and it
is not the shop's knowledge: the ticket holds only the operator's answer, with the
redacted question as its subject (so the answer is found by what was asked). Both are
redacted before they are written, in the ticket and in the eval case appended for the
owner to review and move into evals/datasets/.
"""

from __future__ import annotations

import json
import os
import textwrap
import threading
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from ingestion.records import Ticket, TicketMessage, TicketStatus
from ingestion.redact import redact_all
from ingestion.sync import SyncReport, sync
from kb.embeddings import Embedder
from settings import Settings

SUBJECT_CHARS = 120

_write_lock = threading.Lock()


def _subject(question: str) -> str:
    return textwrap.shorten(question, SUBJECT_CHARS, placeholder=" …") or "(no question)"


def _answer_only(ticket: Ticket) -> Ticket:
    """A learned ticket as it is stored now: redacted subject and answers, no question."""
    answers = [m for m in ticket.messages if m.author == "agent"]
    subject, *bodies = redact_all([ticket.subject, *(m.body for m in answers)])
    messages = [m.model_copy(update={"body": b}) for m, b in zip(answers, bodies, strict=True)]
    return ticket.model_copy(update={"subject": _subject(subject), "messages": messages})


def _scrub_older_entries(path: Path) -> None:
    """Rewrite learned tickets written before answers were stored alone, if there are any."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        tickets = [Ticket.model_validate_json(line) for line in lines if line.strip()]
    except ValidationError:
        return  # a damaged file is left for the sync to report, line by line
    if all(m.author == "agent" for ticket in tickets for m in ticket.messages):
        return
    scratch = path.with_suffix(".jsonl.tmp")
    scratch.write_text(
        "".join(_answer_only(ticket).model_dump_json() + "\n" for ticket in tickets),
        encoding="utf-8",
    )
    os.replace(scratch, path)


def learn_from_edit(
    settings: Settings,
    draft_id: int,
    question: str,
    answer: str,
    when: datetime,
    language: str = "en",
    embedder: Embedder | None = None,
) -> SyncReport:
    folder = settings.data_dir / "learned"
    tickets = folder / "approved_answers.jsonl"
    # Together, so a name the answer greets ("Hi Dana,") is removed from the question too.
    safe_question, safe_answer = redact_all([question, answer])
    ticket = Ticket(
        id=f"approved-{draft_id}",
        subject=_subject(safe_question),
        status=TicketStatus.SOLVED,
        created_at=when,
        tags=["approved-edit"],
        messages=[TicketMessage(author="agent", body=safe_answer)],
    )
    case = {
        "id": f"approved-{draft_id}",
        "turns": [safe_question],
        "email": None,
        "reference_answer": safe_answer,
        "reference_doc_ids": [],
        "expected_tools": [],
        "expected_decision": None,
        "forbidden": [],
        "language": language,
        "tags": ["approved-edit"],
        "smoke": False,
    }
    with _write_lock:
        folder.mkdir(parents=True, exist_ok=True)
        _scrub_older_entries(tickets)
        with tickets.open("a", encoding="utf-8") as out:
            out.write(ticket.model_dump_json() + "\n")
        with (folder / "eval_candidates.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
        return sync([tickets], settings, kind="ticket", embedder=embedder, progress=False)
