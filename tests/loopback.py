"""An app served on loopback in a thread, for tests that need real HTTP.

Our own app is served as `support-agent serve` serves it, through the evented front
(web/front.py on uvicorn), so the widget's event streams run on an event loop as in
production; a platform's stand-in (a plain Flask app) on werkzeug's threaded server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from flask import Flask
from werkzeug.serving import make_server

from web.front import Front


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app on a loopback server; yields its base URL."""
    if "support" in app.extensions:
        with _front(app) as url:
            yield url
        return
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def _front(app: Flask) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        Front(app, threads=16),
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the front did not start; see the log above")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
