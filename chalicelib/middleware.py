"""What every answer gets, errors included: CORS headers, security headers, a
CSRF cookie for callers without one, and one log line.

``register`` adds them to the app in that order, before any route; the first
registered runs outermost, so the CORS headers see the final answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalice.app import Chalice, Request, Response

from chalicelib import cors, request_io, requestlog, urls
from chalicelib.config import Settings

Handler = Callable[[Request], Response]
UNCACHED = (f"{urls.API_PREFIX}/openapi.json",)


def register(app: Chalice, settings: Callable[[], Settings]) -> None:
    """Add the service's middleware to ``app``; ``settings`` gives the settings
    on each request."""

    def allow_origins(event: Request, get_response: Handler) -> Response:
        """CORS headers on every answer for the allowed origins (chalicelib/cors.py)."""
        response = get_response(event)
        add_cors_headers(event, response, settings().allowed_origins)
        return response

    def issue_csrf_cookie(event: Request, get_response: Handler) -> Response:
        """A ``_csrf_token`` cookie for callers without one (chalicelib/request_io.py)."""
        response = get_response(event)
        request_io.issue_csrf_cookie(event, response, settings())
        return response

    app.register_middleware(allow_origins, "http")
    app.register_middleware(security_headers, "http")
    app.register_middleware(issue_csrf_cookie, "http")
    app.register_middleware(log_request, "http")


def add_cors_headers(event: Request, response: Response, allowed: tuple[str, ...]) -> None:
    """The CORS headers of an answer to ``event`` (chalicelib/cors.py)."""
    headers = cors.response_headers(event.headers.get("origin"), allowed)
    headers["Vary"] = cors.add_vary(response.headers.get("Vary"))
    response.headers.update(headers)


def security_headers(event: Request, get_response: Handler) -> Response:
    """``nosniff`` on every answer, errors included; ``no-store`` on the API's answers,
    which carry tokens, keys and personal data, except the OpenAPI document."""
    response = get_response(event)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if event.path.startswith(f"{urls.API_PREFIX}/") and event.path not in UNCACHED:
        response.headers["Cache-Control"] = "no-store"
    return response


def log_request(event: Request, get_response: Handler) -> Response:
    """Write one structured log line per request."""
    started = time.perf_counter()
    response = get_response(event)
    requestlog.log_answer(event, response.status_code, (time.perf_counter() - started) * 1000)
    return response
