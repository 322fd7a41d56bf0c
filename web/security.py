"""The browser-facing defences: session cookie settings and security headers.

    security.init_app(app, settings)   # once, in server.create_app

- The session cookie is HttpOnly, SameSite=Lax, Secure when `public_url` is https, and
  lives `session_hours` (a login also ends then, however busy: see web/operator.py).
- Every response carries a Content-Security-Policy that allows scripts, styles and
  requests only from this site and no inline script, `X-Content-Type-Options: nosniff`
  and `Referrer-Policy: same-origin`. Operator pages may not be framed (clickjacking)
  nor cached. Nothing here restricts who may load /static/widget.js or call /api/v1:
  other sites embed the widget, and the API's CORS headers stay as web/api.py sets them.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, request

from settings import Settings

# script-src 'self' and no 'unsafe-inline': an injected <script> or onclick= never runs.
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in POLICY.items())
HSTS = "max-age=31536000"
OPERATOR_PAGES = "/operator/"


def init_app(app: Flask, settings: Settings) -> None:
    """Cookie settings and security headers for APP; calling it again changes nothing."""
    if app.extensions.get("support_security"):
        return
    app.extensions["support_security"] = True
    https = bool(settings.public_url and settings.public_url.startswith("https://"))
    app.config.update(
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The cookie's (and its signature's) lifetime; login sets session.permanent.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.path.startswith(OPERATOR_PAGES):
            headers["X-Frame-Options"] = "DENY"  # for browsers older than frame-ancestors
            headers["Cache-Control"] = "no-store"  # no queue or draft left in a shared cache
        return response
