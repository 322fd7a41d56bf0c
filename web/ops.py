"""Endpoints for whoever runs the service: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import threading
import time

from flask import Blueprint, Response, jsonify

from doctor import CHECKS, Check, run_check
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
    body = {
        "ready": ready,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
    }
    return jsonify(body), 200 if ready else 503


@ops.get("/metrics")
def metrics():
    return Response(services().metrics.render(), mimetype="text/plain; version=0.0.4")
