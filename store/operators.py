"""Operators (the owner and helpers) and the audit log of what they did."""

from __future__ import annotations

import secrets
from functools import lru_cache

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from store.models import AuditEntry, Operator

MIN_PASSWORD = 8

# Audit actions of a refused login: a real operator's name, or a name that is no operator.
# Invented names are kept apart so that guessing cannot bury what operators did.
LOGIN_FAILED = "login_failed"
LOGIN_FAILED_UNKNOWN = "login_failed_unknown"


def set_operator(session: Session, name: str, password: str) -> Operator:
    """Create the operator NAME, or give an existing one a new password.

    A new password ends every login of that operator (its session_version goes up).
    """
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    operator = session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        operator = Operator(name=name, password_hash="", session_version=0)
        session.add(operator)
    else:
        operator.session_version = (operator.session_version or 0) + 1
    operator.password_hash = generate_password_hash(password)
    audit(session, name, "password_set", f"operator:{name}")
    session.commit()
    return operator


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of no one's password, made like a real one, so it costs as much to check."""
    return generate_password_hash(secrets.token_urlsafe(16))


def check_login(session: Session, name: str, password: str) -> Operator | None:
    """The operator NAME if PASSWORD is theirs; as slow for an unknown name as a wrong password."""
    dummy = _dummy_hash()  # made on the first login of any name: its cost tells nothing either
    operator = session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        check_password_hash(dummy, password)  # the same work: the time tells nothing
        return None
    if not check_password_hash(operator.password_hash, password):
        return None
    return operator


def audit_login(session: Session, name: str, operator: Operator | None) -> None:
    """Audit a login, or a refused one: apart when NAME is no operator at all."""
    if operator is not None:
        action = "login"
    elif session.scalar(select(Operator.id).where(Operator.name == name)) is not None:
        action = LOGIN_FAILED
    else:
        action = LOGIN_FAILED_UNKNOWN
    audit(session, name, action, f"operator:{name}")


def end_sessions(session: Session, operator_id: int) -> None:
    """End every login of the operator (all browsers); the caller commits."""
    session.execute(
        update(Operator)
        .where(Operator.id == operator_id)
        .values(session_version=Operator.session_version + 1)
        .execution_options(synchronize_session=False)
    )


def audit(session: Session, actor: str, action: str, subject: str, **detail: object) -> None:
    """Add an audit entry to the session; the caller commits it with the change it records."""
    session.add(AuditEntry(actor=actor, action=action, subject=subject, detail=detail))
