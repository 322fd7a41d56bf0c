"""What `serve` runs in each gunicorn process: the Flask app on threads, event streams on a loop.

Every request runs in Flask, on a pool of SUPPORT_WEB_THREADS threads (a2wsgi). A
request for a conversation's event stream is checked there like any other, and its
view hands the stream back (web/live.py): the front then sends it from its event loop,
so open widgets hold sockets, not threads, and `/healthz` and new messages keep their
threads whatever the streams do.
"""

from __future__ import annotations

import asyncio
import io
import signal

from a2wsgi import WSGIMiddleware
from flask import Flask
from uvicorn_worker import UvicornWorker

from web.live import HAND_OFF, Live


class Front:
    """The ASGI app: Flask for requests, the event loop for the streams Flask hands off."""

    def __init__(self, flask: Flask, *, threads: int) -> None:
        self.flask = flask
        self._wsgi = WSGIMiddleware(_terminated(flask), workers=threads)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan (and websockets, which are refused)
            await self._wsgi(scope, receive, send)
            return
        offer: list[Live] = []

        async def from_flask(message: dict) -> None:
            # A handed-off stream's headers go out; Flask's empty body does not end it.
            if not (offer and message["type"] == "http.response.body"):
                await send(message)

        await self._wsgi({**scope, HAND_OFF: offer}, receive, from_flask)
        if offer:
            await _stream(offer[0], receive, send)


def _terminated(app: Flask):
    """A chunked body is read here, up to one byte past the app's limit, and given to Flask
    with its length: Flask reads only bodies of known length, and refuses one past
    MAX_CONTENT_LENGTH with its 413."""
    limit = app.config["MAX_CONTENT_LENGTH"]

    def wsgi(environ, start_response):
        if "CONTENT_LENGTH" not in environ and "HTTP_TRANSFER_ENCODING" in environ:
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]  # the body it described is read
        return app(environ, start_response)

    return wsgi


async def _stream(live: Live, receive, send) -> None:
    """Send the stream's chunks until it ends or the client goes away."""

    async def pump() -> None:
        async for chunk in live.chunks:
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sending, watching = asyncio.ensure_future(pump()), asyncio.ensure_future(gone())
    try:
        await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            task.cancel()
        await asyncio.gather(sending, watching, return_exceptions=True)
        await live.chunks.aclose()
        live.release()
    if sending.done() and not sending.cancelled() and sending.exception() is None:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class Worker(UvicornWorker):
    """gunicorn's worker for the front. SUPPORT_PROXY_HOPS alone says whom to trust for
    client addresses (ProxyFix in the app), so uvicorn reads no forwarding headers; open
    streams are cut 10 s into a shutdown, and the widget reconnects to the next process."""

    CONFIG_KWARGS = {
        "loop": "asyncio",
        "http": "httptools",
        "proxy_headers": False,
        "timeout_graceful_shutdown": 10,
    }

    def init_signals(self) -> None:
        super().init_signals()
        # uvicorn raises the signal that stopped it again once it has shut down; with the
        # default action that would end the process before gunicorn's worker_exit lets
        # the job threads finish the turns they are drafting.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: None)
