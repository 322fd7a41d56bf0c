"""The Flask app factory and the `support-agent serve` entry point.

    app = create_app()          # settings from SUPPORT_* variables
    app.run(threaded=True)

Blueprints: the demo shop page (/), the customer API (/api/v1), the operator pages
(/operator) and the ops endpoints (/healthz, /readyz, /metrics).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from agent.turn import Agent
from settings import Settings, load_settings
from web.api import api, error_response
from web.limits import limiter
from web.operator import operator
from web.ops import ops
from web.services import Services
from web.shop import shop

MAX_BODY_BYTES = 64 * 1024
csrf = CSRFProtect()


def create_app(settings: Settings | None = None, agent: Agent | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    support = Services(settings, agent)
    app.extensions["support"] = support
    app.config.update(
        SECRET_KEY=support.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    csrf.exempt(api)  # bearer tokens, not cookies: no cross-site request can carry one
    limiter.init_app(app)
    for blueprint in (shop, api, operator, ops):
        app.register_blueprint(blueprint)
    _errors(app)
    _timing(app, support)
    return app


def _errors(app: Flask) -> None:
    """JSON errors under /api, plain pages elsewhere; never a traceback to the client."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith("/api/"):
            code = (error.name or "error").lower().replace(" ", "_")
            message = error.description or error.name
            if isinstance(error, RequestEntityTooLarge):
                message = f"the request body is larger than {MAX_BODY_BYTES // 1024} KB"
            return error_response(error.code or 500, code, message)
        return error

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return f"The form expired or did not come from this site ({error.description}).", 400


def _timing(app: Flask, support: Services) -> None:
    @app.before_request
    def start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def stop_clock(response):
        if request.endpoint and request.endpoint != "ops.metrics" and "started" in g:
            elapsed = time.perf_counter() - g.started
            support.metrics.request_seconds.labels(request.endpoint).observe(elapsed)
        return response


def serve(host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None) -> None:
    """Serve with a threaded server: streams and event connections each hold a thread."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    create_app(settings).run(host=host, port=port, threaded=True)


if __name__ == "__main__":
    serve()
