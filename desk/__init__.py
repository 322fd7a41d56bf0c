"""The desk (application) layer: a message arrives, a turn is drafted, an operator decides."""

from agent.translation import TranslationFailed
from desk.desk import Desk, Outcome, Reply
from desk.intake import MessageTooLong, Receipt, UnknownConversation
from desk.review import Action, NoSuchDraft

__all__ = [
    "Action",
    "Desk",
    "MessageTooLong",
    "NoSuchDraft",
    "Outcome",
    "Receipt",
    "Reply",
    "TranslationFailed",
    "UnknownConversation",
]
