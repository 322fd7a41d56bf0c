"""The Flask app factory and the `support-agent serve` entry point.

    app = create_app()          # settings from SUPPORT_* variables; a WSGI app
    serve("127.0.0.1", 8000)    # gunicorn over web/front.py, turn-drafting workers in each process

Blueprints: the demo shop page (/), the customer API (/api/v1), the operator pages
(/operator) and the ops endpoints (/healthz, /readyz, /metrics).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from channels.email import start_polling
from desk import Desk
from settings import Settings, load_settings
from web import security
from web.api import api, error_response
from web.insights import insights
from web.knowledge import knowledge
from web.limits import limiter, storage_uri
from web.mailbox import mailbox
from web.operator import operator
from web.ops import ops
from web.services import Services
from web.shop import shop
from web.workday import workday

MAX_BODY_BYTES = 64 * 1024
csrf = CSRFProtect()


def create_app(settings: Settings | None = None, desk: Desk | None = None) -> Flask:
    """The app; it drafts no turns itself: job workers do (see `serve` and `Desk.jobs`)."""
    settings = settings or load_settings()
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    support = Services(settings, desk)
    app.extensions["support"] = support
    app.config.update(
        SECRET_KEY=support.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        RATELIMIT_STORAGE_URI=storage_uri(settings.redis_url),
    )
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    csrf.init_app(app)
    security.init_app(app, settings)
    csrf.exempt(api)  # bearer tokens, not cookies: no cross-site request can carry one
    limiter.init_app(app)
    for blueprint in (shop, api, operator, mailbox, workday, insights, knowledge, ops):
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

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def out_of_range(error: Exception):
        """An id too large for the database (/operator/drafts/99999999999999999999) names nothing.

        SQLite raises OverflowError for an integer beyond 64 bits; PostgreSQL a DataError
        (numeric value out of range). Either is a 404, not a 500. Any other DataError is a
        real fault and goes on to the usual 500.
        """
        if isinstance(error, DataError) and "out of range" not in str(error.orig).lower():
            raise error
        return http_error(NotFound("There is nothing at this address."))


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
    """gunicorn: SUPPORT_WEB_WORKERS processes, each the evented front (web/front.py) over
    the app with SUPPORT_WEB_THREADS threads for requests; event streams hold none.

    Each process also runs SUPPORT_JOB_WORKERS turn-drafting threads (0 leaves drafting
    to `support-agent worker`). The master only reads settings: everything that starts
    threads or a native runtime (Chroma, torch, llama.cpp, database pools) is opened in
    the processes it forks, since such state does not survive a fork.
    """
    from gunicorn.app.base import BaseApplication

    from web.front import Front, Worker

    settings = settings or load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def post_worker_init(worker) -> None:
        desk = worker.wsgi.flask.extensions["support"].desk
        desk.jobs.start_workers(settings.job_workers)
        if settings.job_workers:
            start_polling(desk)

    def worker_exit(server, worker) -> None:
        front = getattr(worker, "wsgi", None)
        if front is not None:
            front.flask.extensions["support"].desk.jobs.stop_workers(graceful=True)

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": settings.web_workers,
                "worker_class": Worker,
                # The event loop's heartbeat: requests and turns wait in threads, never on it.
                "timeout": 60,
                "graceful_timeout": 30,
                "keepalive": 5,
                "post_worker_init": post_worker_init,
                "worker_exit": worker_exit,
                # One control socket path for every server on a machine: two servers (a demo
                # restarted, the tests) would delete each other's; nothing here uses it.
                "control_socket_disable": True,
                "accesslog": None,
                "errorlog": "-",
            }
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Front:
            return Front(create_app(settings), threads=settings.web_threads)

    Server().run()


def run_workers(settings: Settings | None = None) -> None:
    """`support-agent worker`: draft turns, send mail, run the schedules and poll the IMAP
    mailbox (when SUPPORT_IMAP_URL is set) in this process until SIGINT or SIGTERM."""
    import signal
    import threading

    settings = settings or load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    desk = Desk(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    desk.jobs.start_workers(max(1, settings.job_workers))
    polling = start_polling(desk)
    stop.wait()
    if polling is not None:
        polling.set()
    desk.jobs.stop_workers(graceful=True)


if __name__ == "__main__":
    serve()
