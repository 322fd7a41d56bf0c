"""Endpoints for whoever runs the service: liveness, readiness and Prometheus metrics.

/healthz and the bare verdict of /readyz (`{"ready": true|false}`, 200 or 503) answer
anyone, as load balancers need. The checks' details and /metrics answer only
`Authorization: Bearer <SUPPORT_OPS_TOKEN>` or a client on this machine (loopback,
and not through a reverse proxy that is not trusted with SUPPORT_PROXY_HOPS). Even
then the details name no database URL, credentials or file paths.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import threading
import time

from flask import Blueprint, Response, jsonify, request

from doctor import CHECKS, Check, run_check
from settings import Settings
from web.services import services

ops = Blueprint("ops", __name__)

READY_CHECKS = ("database", "jobs", "chroma", "llm")
# A readiness probe every few seconds must not cost an LLM call each time.
CACHED = {"llm"}
READY_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Check]] = {}
_cache_lock = threading.Lock()


@ops.get("/healthz")
def healthz():
    return jsonify(status="ok")


def _loopback() -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address  # ::ffff:127.0.0.1
    if not address.is_loopback:
        return False
    # Unless SUPPORT_PROXY_HOPS trusts it, a proxy on this machine makes every client look
    # local: a forwarded request is not a local one.
    proxied = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return not proxied or services().settings.proxy_hops > 0


def _ops_token_given(settings: Settings) -> bool:
    token = settings.ops_token.get_secret_value() if settings.ops_token else ""
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    # Hashes of equal length, compared in constant time (and any header text is fine).
    given = hashlib.sha256(header[7:].strip().encode("utf-8", "replace")).digest()
    wanted = hashlib.sha256(token.encode()).digest()
    return hmac.compare_digest(given, wanted)


def _trusted(settings: Settings) -> bool:
    return _ops_token_given(settings) or _loopback()


URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://[^\s,;'\"]+")
PATH_CHARS = r"[^\s,;:'\"]*"
PATH = re.compile(r"(?<![\w.:/<-])(?:/|\./|\.\./|~/)" + PATH_CHARS)


def _scrub(detail: str, settings: Settings) -> str:
    """The detail without URLs (they carry hosts and passwords) or file paths."""
    detail = URL.sub(lambda match: f"{match.group(1)}://…", detail)
    for where in sorted({str(settings.data_dir.resolve()), str(settings.data_dir)}, key=len)[::-1]:
        within = r"(?:/" + PATH_CHARS + r"|(?![\w.-]))"
        detail = re.sub(r"(?<![\w.-])" + re.escape(where) + within, "<data dir>", detail)
    return PATH.sub("<path>", detail)


@ops.get("/readyz")
def readyz():
    settings = services().settings
    checks = []
    with _cache_lock:
        for name, check in CHECKS:
            if name not in READY_CHECKS:
                continue
            key = f"{settings.db_url}|{name}"
            cached = _cache.get(key)
            stale = cached is None or time.monotonic() - cached[0] > READY_CACHE_SECONDS
            if stale or name not in CACHED:
                cached = (time.monotonic(), run_check(name, check, settings))
                _cache[key] = cached
            checks.append(cached[1])
    ready = all(check.ok for check in checks)
    body: dict = {"ready": ready}
    if _trusted(settings):
        body["checks"] = [
            {"name": c.name, "ok": c.ok, "detail": _scrub(c.detail, settings)} for c in checks
        ]
    return jsonify(body), 200 if ready else 503


@ops.get("/metrics")
def metrics():
    if not _trusted(services().settings):
        error = {
            "code": "forbidden",
            "message": "metrics need Authorization: Bearer <SUPPORT_OPS_TOKEN>",
        }
        return jsonify(error=error), 403
    return Response(services().metrics.render(), mimetype="text/plain; version=0.0.4")
