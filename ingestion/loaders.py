"""Read source files into documents, reporting each bad record by file and line.

Supported: JSONL (articles, FAQs, tickets), a folder of Markdown, CSV with
question,answer columns, and HTML and PDF through llama-index's file readers.
A bad record is a Problem; the rest of the file still loads.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from ingestion.injection import looks_like_instructions
from ingestion.records import Article, Faq, Ticket, describe
from ingestion.redact import redact_all

Kind = Literal["faq", "article", "ticket"]
MAX_FILE_BYTES = 20 * 1024 * 1024
TEXT_SUFFIXES = {".jsonl", ".md", ".markdown", ".csv", ".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | {".pdf"}


@dataclass
class Problem:
    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


@dataclass
class Document:
    """One source document, cleaned and ready to chunk."""

    doc_id: str
    kind: Kind
    title: str
    text: str
    source: str
    url: str = ""
    language: str = "en"
    updated_at: str = ""
    tags: list[str] = field(default_factory=list)
    untrusted: bool = False
    # The title goes into the embedded text (articles; tickets that are only an answer).
    title_in_text: bool = False


@dataclass
class Loaded:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Files read without any problem: only their missing documents may be deleted.
    clean_files: set[str] = field(default_factory=set)
    seen_files: set[str] = field(default_factory=set)


def _stamp(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _read_text(path: Path) -> str:
    """File contents as text, or a ValueError saying in plain words why not."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit; split it"
        )
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if b"\x00" in raw[:8192]:
        raise ValueError("binary data, not a text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); "
            "re-save the file as UTF-8"
        ) from None


def _help_document(record: Faq | Article, source: str) -> Document:
    """An FAQ (question + answer, kept whole) or an article (title + Markdown body)."""
    if isinstance(record, Faq):
        kind, title, text = "faq", record.question, f"Q: {record.question}\nA: {record.answer}"
    else:
        kind, title, text = "article", record.title, record.body
    return Document(
        doc_id=record.id,
        kind=kind,
        title_in_text=kind == "article",
        title=title,
        text=text,
        source=source,
        url=str(record.url or ""),
        language=record.language,
        updated_at=_stamp(record.updated_at),
        tags=record.tags,
        # The title (an FAQ's question) is cited and embedded too, so it is checked as well.
        untrusted=looks_like_instructions(title, text),
    )


def _ticket(record: Ticket, source: str) -> Document | None:
    """A solved ticket as a question → resolution pair, redacted; None if it teaches nothing.

    A ticket with only agent messages (a learned answer, see ingestion/feedback.py) is
    its subject and its answer.
    """
    if not record.teaches:
        return None
    asked = [m.body for m in record.messages if m.author == "customer"]
    answered = [m.body for m in record.messages if m.author == "agent"]
    subject, *bodies = redact_all([record.subject, *asked, *answered])
    question, resolution = bodies[: len(asked)], bodies[len(asked) :]
    parts = [f"Customer: {body}" for body in question] + [f"Agent: {body}" for body in resolution]
    return Document(
        doc_id=record.id,
        kind="ticket",
        title=subject,
        text="\n\n".join(parts),
        source=source,
        updated_at=_stamp(record.created_at),
        tags=record.tags,
        untrusted=looks_like_instructions(record.subject, *asked, *answered),
        title_in_text=not asked,
    )


def _jsonl(path: Path, text: str, kind: Kind | None) -> Iterator[Document | Problem]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            yield Problem(path, number, f"malformed JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(data, dict):
            yield Problem(path, number, "expected a JSON object")
            continue
        guessed = "ticket" if "messages" in data else "faq" if "question" in data else "article"
        record_kind = kind or guessed
        try:
            if record_kind == "ticket":
                document = _ticket(Ticket.model_validate(data), str(path))
            elif record_kind == "faq":
                document = _help_document(Faq.model_validate(data), str(path))
            else:
                document = _help_document(Article.model_validate(data), str(path))
        except ValidationError as error:
            yield Problem(path, number, f"not a valid {record_kind}: {describe(error)}")
            continue
        if document is not None:
            yield document


def _csv(path: Path, text: str) -> Iterator[Document | Problem]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    if not {"question", "answer"} <= columns:
        yield Problem(path, 1, "CSV needs a header with question and answer columns")
        return
    for row in reader:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        record = {**row, "id": row.get("id") or f"{path.stem}:{reader.line_num}"}
        try:
            yield _help_document(Faq.model_validate(record), str(path))
        except ValidationError as error:
            yield Problem(path, reader.line_num, f"not a valid faq: {describe(error)}")


def _markdown(path: Path, text: str, root: Path) -> Iterator[Document | Problem]:
    body = text.strip()
    title = path.stem.replace("-", " ").replace("_", " ").capitalize()
    if body.startswith("# "):
        first, _, body = body.partition("\n")
        title = first[2:].strip()
    doc_id = path.relative_to(root).with_suffix("").as_posix() if root != path else path.stem
    try:
        yield _help_document(Article(id=doc_id, title=title, body=body), str(path))
    except ValidationError as error:
        yield Problem(path, None, f"not a valid article: {describe(error)}")


def _llama_reader(path: Path) -> Iterator[Document | Problem]:
    """HTML and PDF through llama-index's file readers (text extraction only)."""
    from llama_index.readers.file import HTMLTagReader, PDFReader

    if path.stat().st_size > MAX_FILE_BYTES:
        yield Problem(path, None, f"file is over the {MAX_FILE_BYTES // 2**20} MB limit; split it")
        return
    reader = PDFReader() if path.suffix.lower() == ".pdf" else HTMLTagReader(tag="body")
    try:
        pages = reader.load_data(path)
    except Exception as error:  # readers raise whatever their parser raises
        if hasattr(error, "last_attempt"):  # PDFReader retries with tenacity
            error = error.last_attempt.exception()
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        yield Problem(path, None, f"cannot read {path.suffix.lstrip('.')}: {reason}")
        return
    body = "\n\n".join(page.text.strip() for page in pages if page.text.strip())
    title = pages[0].metadata.get("title") if pages else None
    try:
        yield _help_document(
            Article(id=path.stem, title=title or path.stem.replace("-", " "), body=body), str(path)
        )
    except ValidationError as error:
        yield Problem(path, None, f"no text found: {describe(error)}")


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
        )
    else:
        yield path


def load(paths: list[Path], kind: Kind | None = None) -> Loaded:
    """Read every supported file under `paths`."""
    loaded = Loaded()
    first_line: dict[str, str] = {}
    for root in paths:
        if not root.exists():
            loaded.problems.append(Problem(root, None, "no such file or folder"))
            continue
        for path in _files(root):
            loaded.seen_files.add(str(path))
            suffix = path.suffix.lower()
            if suffix not in SUFFIXES:
                loaded.problems.append(Problem(path, None, f"unsupported file type {suffix!r}"))
                continue
            try:
                if suffix == ".pdf" or suffix in {".html", ".htm"}:
                    items = list(_llama_reader(path))
                else:
                    text = _read_text(path)
                    if suffix == ".jsonl":
                        items = list(_jsonl(path, text, kind))
                    elif suffix == ".csv":
                        items = list(_csv(path, text))
                    else:
                        items = list(_markdown(path, text, root if root.is_dir() else path))
            except (ValueError, OSError) as error:
                loaded.problems.append(Problem(path, None, str(error)))
                continue
            problems_before = len(loaded.problems)
            for item in items:
                if isinstance(item, Problem):
                    loaded.problems.append(item)
                elif item.doc_id in first_line:
                    loaded.problems.append(
                        Problem(
                            path,
                            None,
                            f"duplicate id {item.doc_id!r} (also in "
                            f"{first_line[item.doc_id]}); keeping the first",
                        )
                    )
                else:
                    first_line[item.doc_id] = str(path)
                    loaded.documents.append(item)
            if len(loaded.problems) == problems_before:
                loaded.clean_files.add(str(path))
    return loaded
