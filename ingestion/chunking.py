"""Split documents into chunks that fit the embedding model, keeping what citations need.

FAQs and tickets stay whole (one question, one answer). Articles split on their
Markdown headings (llama-index's MarkdownNodeParser), and a section longer than
the embedding model's window is split again on sentences.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from llama_index.core import Document as LlamaDocument
from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter

from ingestion.loaders import Document

# Bump when chunking changes, so every document is re-chunked on the next sync.
CHUNKER_VERSION = "2"
# all-MiniLM-L6-v2 reads 256 word pieces; ~180 words stay inside that.
MAX_WORDS = 180
_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass
class Chunk:
    chunk_id: str
    text: str
    metadata: dict

    @property
    def matched_text(self) -> str:
        """What search compares a question with: a question entry's own words, else the text."""
        return self.metadata.get("match") or self.text


def _words(text: str) -> list[str]:
    # A tokenizer that needs no download (llama-index defaults to tiktoken's, fetched online).
    return _WORD.findall(text)


_headings = MarkdownNodeParser()
_sentences = SentenceSplitter(chunk_size=MAX_WORDS, chunk_overlap=20, tokenizer=_words)


def document_hash(document: Document) -> str:
    fields = [
        CHUNKER_VERSION,
        document.kind,
        document.title,
        document.text,
        document.url,
        document.source,
        document.language,
        document.updated_at,
        document.tags,
        document.untrusted,
    ]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


def _sections(document: Document) -> list[tuple[str, str]]:
    """(heading, text) pairs; FAQs and tickets are one section."""
    if document.kind != "article":
        return [("", document.text)]
    sections = []
    for node in _headings.get_nodes_from_documents([LlamaDocument(text=document.text)]):
        text = node.get_content().strip()
        if not text:
            continue
        heading = text.splitlines()[0].lstrip("#").strip() if text.startswith("#") else ""
        pieces = _sentences.split_text(text) if len(_words(text)) > MAX_WORDS else [text]
        sections.extend((heading, piece) for piece in pieces)
    return sections or [("", document.text)]


def chunk(document: Document) -> list[Chunk]:
    digest = document_hash(document)
    sections = _sections(document)
    # An FAQ is also found by its question alone: a customer's message is phrased like the
    # question, and a long answer pulls the whole entry's embedding away from it.
    entries = len(sections) + (document.kind == "faq")
    chunks = []
    for index, (heading, text) in enumerate(sections):
        title = (
            f"{document.title} › {heading}"
            if heading and heading != document.title
            else (document.title)
        )
        chunks.append(
            Chunk(
                chunk_id=f"{document.doc_id}#{index}",
                # The title goes into the embedded text: a section alone often lacks its topic,
                # and an answer learned from an edit has only its (redacted) question as title.
                text=f"{document.title}\n{text}" if document.title_in_text else text,
                metadata={
                    "doc_id": document.doc_id,
                    "title": title,
                    "kind": document.kind,
                    "url": document.url,
                    "language": document.language,
                    "updated_at": document.updated_at,
                    "tags": ",".join(document.tags),
                    "source": document.source,
                    "untrusted": document.untrusted,
                    "doc_hash": digest,
                    "n_chunks": entries,
                },
            )
        )
    if document.kind == "faq":
        first = chunks[0]
        chunks.append(
            Chunk(
                chunk_id=f"{document.doc_id}#q",
                text=first.text,
                metadata={**first.metadata, "match": document.title},
            )
        )
    return chunks
