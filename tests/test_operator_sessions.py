"""An operator's login: secure cookies, a bounded lifetime, and logging out for real."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from store.db import MIGRATIONS, session_factory
from store.operators import check_login, set_operator
from tests.web_helpers import csrf_token, log_in, make_app

MODEL = "scripted/sessions"
PASSWORD = "long enough secret"


def _app(web_data_dir, web_retriever, **overrides):
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0, **overrides)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    return app


@pytest.fixture
def app(web_data_dir, web_retriever):
    return _app(web_data_dir, web_retriever)


def _login(client, name="owner", password=PASSWORD, address="127.0.0.1"):
    return log_in(client, name, password, address)


def _logged_in(client) -> bool:
    return client.get("/operator/").status_code == 200


def _log_out(client) -> None:
    token = csrf_token(client.get("/operator/").get_data(as_text=True))
    assert client.post("/operator/logout", data={"csrf_token": token}).status_code == 302


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_the_login_cookie_is_secure_behind_https_and_expires_after_eight_hours(
    web_data_dir, web_retriever
):
    app = _app(web_data_dir, web_retriever, public_url="https://support.example.com")
    before = time.time()
    cookie = _session_cookie(_login(app.test_client()))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in attributes and "httponly" in attributes and "samesite=lax" in attributes
    expires = next(part for part in cookie.split(";") if part.strip().lower().startswith("expires"))
    lifetime = parsedate_to_datetime(expires.split("=", 1)[1]).timestamp() - before
    assert 8 * 3600 - 60 < lifetime < 8 * 3600 + 60


def test_the_login_cookie_is_not_marked_secure_on_plain_http(app):
    cookie = _session_cookie(_login(app.test_client()))
    assert "secure" not in [part.strip().lower() for part in cookie.split(";")]


def test_a_login_ends_after_session_hours_even_while_in_use(app, monkeypatch):
    client = app.test_client()
    _login(client)
    assert _logged_in(client)
    real_time = time.time
    # Busy all day: a page every hour keeps the cookie fresh, but not the login.
    for hours in range(1, 8):
        monkeypatch.setattr(time, "time", lambda hours=hours: real_time() + hours * 3600)
        assert _logged_in(client), f"logged out after {hours} h"
    monkeypatch.setattr(time, "time", lambda: real_time() + 8.1 * 3600)
    response = client.get("/operator/")
    assert response.status_code == 302 and "/operator/login" in response.location


def test_logging_out_ends_the_operators_sessions_in_every_browser(app):
    laptop, phone = app.test_client(), app.test_client()
    _login(laptop, address="10.7.0.1")
    _login(phone, address="10.7.0.2")
    stolen = app.test_client()
    stolen.set_cookie("session", laptop.get_cookie("session").value)
    assert _logged_in(laptop) and _logged_in(phone) and _logged_in(stolen)
    _log_out(laptop)
    assert not _logged_in(laptop)
    assert not _logged_in(stolen), "a copied cookie outlived the logout"
    assert not _logged_in(phone), "logging out left the other browser logged in"
    _login(laptop, address="10.7.0.1")
    assert _logged_in(laptop)


def test_a_new_password_ends_every_session_of_that_operator_only(app):
    with app.extensions["support"].sessions() as session:
        set_operator(session, "helper", PASSWORD)
    owner, helper = app.test_client(), app.test_client()
    _login(owner, address="10.6.0.1")
    _login(helper, name="helper", address="10.6.0.2")
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", "a brand new password")
    assert not _logged_in(owner)
    assert _logged_in(helper)
    assert _login(owner, address="10.6.0.1").status_code == 401
    assert _login(owner, password="a brand new password", address="10.6.0.1").status_code == 302
    assert _logged_in(owner)


def test_operators_of_a_database_from_before_0004_can_still_log_in(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with session_factory(f"sqlite:///{tmp_path / 'other.db'}")() as session:
        hashed = set_operator(session, "owner", PASSWORD).password_hash
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO operators (name, password_hash, created_at) "
                "VALUES ('owner', :hash, '2026-01-01 00:00:00')"
            ),
            {"hash": hashed},
        )
    engine.dispose()
    with session_factory(url)() as session:  # migrates to the newest schema on first use
        operator = check_login(session, "owner", PASSWORD)
        assert operator is not None and operator.session_version == 0
