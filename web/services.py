"""What every request handler shares: settings, the database, the agent and live events."""

from __future__ import annotations

import secrets
import threading
from functools import cached_property

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from agent.turn import Agent
from settings import Settings
from store.db import session_factory
from web.events import Broker
from web.metrics import Metrics


class Services:
    def __init__(self, settings: Settings, agent: Agent | None = None) -> None:
        self.settings = settings
        self.sessions: sessionmaker[Session] = session_factory(settings.db_url)
        self.events = Broker()
        self.metrics = Metrics(self.sessions)
        self._agent = agent
        self._agent_lock = threading.Lock()

    @property
    def agent(self) -> Agent:
        # Loading the models takes seconds: once, on the first turn, not at import.
        with self._agent_lock:
            if self._agent is None:
                self._agent = Agent(self.settings)
            return self._agent

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
