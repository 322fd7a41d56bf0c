"""What every request handler shares: settings, the desk, the database and metrics."""

from __future__ import annotations

import secrets
from functools import cached_property

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from desk import Desk
from settings import Settings
from web import live
from web.metrics import Metrics


class Services:
    def __init__(self, settings: Settings, desk: Desk | None = None) -> None:
        self.settings = settings
        self.desk = desk or Desk(settings)
        self.sessions: sessionmaker[Session] = self.desk.sessions
        self.metrics = Metrics(self.sessions)
        self.desk.on_drafted.append(self.metrics.record_turn)

    @property
    def recheck_seconds(self) -> float:
        """How often an open event stream re-reads the database without a wake-up.

        Wake-ups reach every stream when Redis carries them, or when this one process
        does all the writing (one web process that drafts its own turns)."""
        settings = self.settings
        woken = settings.redis_url or (settings.web_workers == 1 and settings.job_workers > 0)
        return live.RECHECK_SECONDS if woken else live.RECHECK_UNWOKEN_SECONDS

    @cached_property
    def secret_key(self) -> str:
        """SUPPORT_SECRET_KEY, or a random key kept in the data dir so logins survive restarts."""
        if self.settings.secret_key:
            return self.settings.secret_key.get_secret_value()
        path = self.settings.data_dir / "secret_key"
        if not path.exists():
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        return path.read_text().strip()


def services() -> Services:
    return current_app.extensions["support"]
