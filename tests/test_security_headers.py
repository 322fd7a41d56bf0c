"""Security headers on every page; no inline script the policy would have to allow."""

from __future__ import annotations

import re

import pytest

from store.operators import set_operator
from tests.conftest import ROOT
from tests.web_helpers import csrf_token, make_app

MODEL = "scripted/headers"
PASSWORD = "long enough secret"
WEB = ROOT / "web"


@pytest.fixture
def app(web_data_dir, web_retriever):
    app = make_app(web_data_dir, web_retriever, MODEL, workers=0)
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    return app


def _owner(app):
    client = app.test_client()
    page = client.get("/operator/login").get_data(as_text=True)
    token = csrf_token(page)
    response = client.post(
        "/operator/login", data={"name": "owner", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request.path} has no Content-Security-Policy"
    directives = {}
    for part in header.split(";"):
        if part.strip():
            name, *values = part.split()
            directives[name.lower()] = values
    return directives


def _responses(app):
    owner = _owner(app)
    anonymous = app.test_client()
    return {
        "/": anonymous.get("/"),
        "/operator/login": anonymous.get("/operator/login"),
        "/operator/": owner.get("/operator/"),
        "/operator/audit": owner.get("/operator/audit"),
        "/operator/tickets": owner.get("/operator/tickets"),
        "/operator/drafts/999999": owner.get("/operator/drafts/999999"),
        "/static/widget.js": anonymous.get("/static/widget.js"),
        "/api/v1/conversations": anonymous.post("/api/v1/conversations", json={}),
    }


def test_every_page_refuses_inline_and_foreign_script_and_sniffing(app):
    for path, response in _responses(app).items():
        policy = _policy(response)
        scripts = policy.get("script-src", policy.get("default-src"))
        assert scripts == ["'self'"], f"{path}: script-src {scripts}"
        assert policy.get("object-src") == ["'none'"], path
        assert policy.get("base-uri") == ["'none'"], path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), path


def test_operator_pages_cannot_be_framed_or_cached(app):
    for path, response in _responses(app).items():
        if path.startswith("/operator/"):
            assert _policy(response).get("frame-ancestors") == ["'none'"], path
            assert response.headers.get("X-Frame-Options") == "DENY", path
            assert "no-store" in response.headers.get("Cache-Control", ""), path


def test_https_deployments_tell_browsers_to_stay_on_https(web_data_dir, web_retriever):
    secure = make_app(
        web_data_dir, web_retriever, MODEL, workers=0, public_url="https://support.example.com"
    )
    assert "max-age=" in secure.test_client().get("/").headers["Strict-Transport-Security"]


def test_plain_http_deployments_send_no_hsts(app):
    assert "Strict-Transport-Security" not in app.test_client().get("/").headers


def test_no_page_or_script_holds_inline_script_or_style(app):
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
    for template in sorted((WEB / "templates").glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert not inline_script.search(text), f"{template.name}: inline <script>"
        assert not handler.search(text), f"{template.name}: inline event handler"
        assert "javascript:" not in text.lower(), f"{template.name}: javascript: URL"
        assert "<style" not in text.lower(), f"{template.name}: inline <style>"
        assert not re.search(r"\sstyle\s*=", text), f"{template.name}: style attribute"
    widget = (WEB / "static" / "widget.js").read_text(encoding="utf-8")
    for markup in re.findall(r"innerHTML\s*=\s*([^;]+);", widget):
        assert not handler.search(markup) and "<script" not in markup and "style=" not in markup
    # What the browser renders, too: the shop page with the widget tag, the login page.
    client = app.test_client()
    for path in ("/", "/operator/login"):
        page = client.get(path).get_data(as_text=True)
        assert not inline_script.search(page) and "<style" not in page, path


def test_the_customer_api_and_the_widget_still_serve_other_sites(app):
    client = app.test_client()
    origin = {"Origin": "https://kettleandcrane.example"}
    preflight = client.options(
        "/api/v1/conversations",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    started = client.post("/api/v1/conversations", json={}, headers=origin)
    assert started.status_code == 201
    assert started.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    for asset, kind in (("/static/widget.js", "javascript"), ("/static/widget.css", "text/css")):
        response = client.get(asset, headers=origin)
        assert response.status_code == 200 and kind in response.mimetype, asset
        # Another site's page must be able to load it: no same-origin resource policy.
        assert response.headers.get("Cross-Origin-Resource-Policy") in (None, "cross-origin")
