"""Operators (the owner and helpers) and the audit log of what they did."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from store.models import AuditEntry, Operator

MIN_PASSWORD = 8


def set_operator(session: Session, name: str, password: str) -> Operator:
    """Create the operator NAME, or give an existing one a new password."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    operator = session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        operator = Operator(name=name, password_hash="")
        session.add(operator)
    operator.password_hash = generate_password_hash(password)
    audit(session, name, "password_set", f"operator:{name}")
    session.commit()
    return operator


def check_login(session: Session, name: str, password: str) -> Operator | None:
    operator = session.scalar(select(Operator).where(Operator.name == name))
    if operator is None or not check_password_hash(operator.password_hash, password):
        return None
    return operator


def audit(session: Session, actor: str, action: str, subject: str, **detail: object) -> None:
    """Add an audit entry to the session; the caller commits it with the change it records."""
    session.add(AuditEntry(actor=actor, action=action, subject=subject, detail=detail))
