"""Approved edits flow back: as knowledge (a solved ticket) and as a candidate eval case.

When the owner corrects a draft, the corrected answer is the best text the shop has
for that question. It is written as a solved ticket to `<data dir>/learned/` and
synced like any other ticket, so redaction removes personal data before it is
embedded. The same pair is appended as an eval case for the owner to review and
move into evals/datasets/.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime

from ingestion.records import Ticket, TicketMessage, TicketStatus
from ingestion.sync import SyncReport, sync
from kb.embeddings import Embedder
from settings import Settings

_write_lock = threading.Lock()


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
    ticket = Ticket(
        id=f"approved-{draft_id}",
        subject=question[:120],
        status=TicketStatus.SOLVED,
        created_at=when,
        tags=["approved-edit"],
        messages=[
            TicketMessage(author="customer", body=question),
            TicketMessage(author="agent", body=answer),
        ],
    )
    case = {
        "id": f"approved-{draft_id}",
        "turns": [question],
        "email": None,
        "reference_answer": answer,
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
        with tickets.open("a", encoding="utf-8") as out:
            out.write(ticket.model_dump_json() + "\n")
        with (folder / "eval_candidates.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
        return sync([tickets], settings, kind="ticket", embedder=embedder, progress=False)
