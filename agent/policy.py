"""Policy flags: requests and signals that always go to a person, whatever the confidence.

The agent has no tool that changes an order, so refunds, cancellations, returns,
exchanges, address changes and chargebacks are the owner's call. Legal threats,
strong anger, security signs and personal data need a human eye too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingestion.injection import INSTRUCTION


@dataclass(frozen=True)
class Flag:
    name: str
    reason: str
    urgency: float  # 0..1, feeds the queue priority
    pattern: re.Pattern


def _flag(name: str, reason: str, urgency: float, *words: str) -> Flag:
    return Flag(name, reason, urgency, re.compile("|".join(words), re.IGNORECASE))


FLAGS = [
    _flag(
        "human",
        "asks for a person",
        0.6,
        r"\b(?:real|actual|live) (?:person|human|agent)",
        r"\b(?:speak|talk|chat) (?:to|with) (?:a |an |someone|somebody|a real |the owner)",
        r"\b(?:to|with) a human\b",
        r"open a (?:support )?ticket",
        r"\bhablar con (?:una persona|alguien)",
        r"\bmit einem menschen",
        r"\bparler (?:à|a) (?:une personne|quelqu)",
    ),
    _flag(
        "data_request",
        "asks to see or delete their personal data (privacy law)",
        0.7,
        r"\bgdpr\b",
        r"\bdsgvo\b",
        r"\brgpd\b",
        r"(?:delete|erase|remove) (?:all )?(?:my|of my) (?:personal )?(?:data|information|account)",
        r"(?:copy|export) of (?:all )?(?:my|the) (?:personal )?(?:data|information)",
        r"what (?:personal )?(?:data|information) do you (?:have|hold|store)",
    ),
    _flag(
        "refund",
        "asks for a refund, which only the owner can issue",
        0.7,
        r"\brefund",
        r"money back",
        r"reembols",
        r"devolu?ci[oó]n del dinero",
        r"r[üu]ckerstatt",
        r"geld zur[üu]ck",
        r"rembours",
    ),
    _flag(
        "cancellation",
        "asks to cancel an order or subscription",
        0.7,
        r"\bcancel",
        r"cancelar",
        r"stornier",
        r"annuler",
    ),
    _flag(
        "return",
        "wants to return an item",
        0.5,
        r"\breturn(?:ing)? (?:it|this|the|my)",
        r"send (?:it|this) back",
        r"devolver",
        r"zur[üu]ckschicken",
        r"zur[üu]cksenden",
        r"retourner",
    ),
    _flag(
        "exchange",
        "wants to exchange an item",
        0.5,
        r"\bexchange",
        r"\bswap\b",
        r"cambiar (?:el|la|mi)",
        r"umtausch",
    ),
    _flag(
        "address_change",
        "wants to change a shipping address",
        0.8,
        r"change (?:the |my )?(?:shipping |delivery )?address",
        r"wrong address",
        r"(?:new|different) address",
        r"cambiar la direcci",
        r"adresse [äa]ndern",
    ),
    _flag(
        "chargeback",
        "mentions a chargeback or payment dispute",
        0.9,
        r"charge ?back",
        r"dispute",
        r"\bmy bank\b.*\b(?:claim|reverse)",
        r"unauthori[sz]ed charge",
        r"didn'?t make (?:this|that) (?:purchase|charge)",
    ),
    _flag(
        "legal",
        "threatens legal action",
        1.0,
        r"\blawyer",
        r"\battorney",
        r"\bsue\b",
        r"\blawsuit",
        r"legal action",
        r"small claims",
        r"consumer protection",
        r"\babogado",
        r"\banwalt",
        r"\bavocat",
    ),
    _flag(
        "anger",
        "the customer is very upset",
        0.8,
        r"\bscam",
        r"\bfraud(?:ulent)?\b",
        r"ridiculous",
        r"unacceptable",
        r"worst",
        r"furious",
        r"\bangry\b",
        r"\bwtf\b",
        r"disgusting",
        r"never (?:again|buy)",
        r"(?-i:\b[A-Z]{4,}(?:\s+[A-Z]{3,}){2,})",
        r"!!!",
    ),
    _flag(
        "security",
        "possible account takeover or phishing",
        0.9,
        r"hack(?:ed)?",
        r"someone (?:else )?(?:logged|log) ?in",
        r"phishing",
        r"didn'?t (?:request|change) (?:the|my|a) password",
        r"account (?:was )?(?:stolen|compromised)",
        r"suspicious (?:email|login|charge)",
    ),
    _flag(
        "personal_data",
        "contains payment card or other sensitive personal data",
        0.6,
        r"\b(?:\d[ -]?){13,19}\b",
        r"\bcvv\b",
        r"\bcvc\b",
        r"social security",
        r"passport",
    ),
]


# A customer message that tries to steer the assistant gets no model-written draft at all
# (see agent/turn.py): a small model obeys such text far too often.
INSTRUCTIONS = Flag("instructions", "tries to give the assistant instructions", 0.5, INSTRUCTION)
FLAGS.append(INSTRUCTIONS)


def raised_flags(text: str) -> list[Flag]:
    """Every policy flag the customer's message raises."""
    return [flag for flag in FLAGS if flag.pattern.search(text)]
