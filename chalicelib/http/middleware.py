"""What every answer gets, errors included: CORS headers, security headers, a
CSRF cookie for callers without one, and one log line; and the CORS preflight
route of every path of the API.

``register`` adds the middleware in that order, before any route; the first
registered runs outermost, so the CORS headers see the final answer.
``add_preflight_routes`` runs after the last route.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from chalice.app import Chalice, Request, Response

from chalicelib.config import Settings
from chalicelib.http import container, cors, request_io, requestlog, urls

Handler = Callable[[Request], Response]
UNCACHED = (f"{urls.API_PREFIX}/openapi.json",)
API_KEY_EXPIRES = "API-Key-Expires"


def register(app: Chalice, settings: Callable[[], Settings]) -> None:
    """Add the service's middleware to ``app``; ``settings`` gives (on the first
    request: reads and binds) the settings."""

    def allow_origins(event: Request, get_response: Handler) -> Response:
        """CORS headers on every answer for the allowed origins (chalicelib/http/cors.py).
        Runs first: the container's first request reads the settings and binds the
        tables before any route."""
        allowed = settings().allowed_origins
        response = get_response(event)
        add_cors_headers(event, response, allowed)
        return response

    def issue_csrf_cookie(event: Request, get_response: Handler) -> Response:
        """A ``_csrf_token`` cookie for callers without one (chalicelib/http/request_io.py)."""
        response = get_response(event)
        request_io.issue_csrf_cookie(event, response, settings())
        return response

    app.register_middleware(allow_origins, "http")
    app.register_middleware(security_headers, "http")
    app.register_middleware(issue_csrf_cookie, "http")
    app.register_middleware(api_key_use, "http")
    app.register_middleware(log_request, "http")


def add_cors_headers(event: Request, response: Response, allowed: tuple[str, ...]) -> None:
    """The CORS headers of an answer to ``event`` (chalicelib/http/cors.py)."""
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


def api_key_use(event: Request, get_response: Handler) -> Response:
    """An answer to a request made with an API key carries ``API-Key-Expires``; the
    key's last use and address are recorded (chalicelib/identity/key_use.py)."""
    response = get_response(event)
    context = (event.context or {}).get("authorizer") or {}
    if context.get("method") == "apikey" and context.get("user_id"):
        response.headers[API_KEY_EXPIRES] = context.get("key_expires", "")
        container.key_uses().record(
            context["user_id"],
            context.get("key_id", ""),
            context.get("last_used", ""),
            context.get("last_used_ip", ""),
            request_io.source_ip(event),
        )
    return response


def log_request(event: Request, get_response: Handler) -> Response:
    """Write one structured log line per request."""
    started = time.perf_counter()
    response = get_response(event)
    requestlog.log_answer(event, response.status_code, (time.perf_counter() - started) * 1000)
    return response


def preflight_headers(
    request: Request, methods: Iterable[str], allowed: tuple[str, ...]
) -> dict[str, str | list[str]]:
    """The answer's headers to a CORS preflight (``cors.py``) on a path with ``methods``."""
    return cors.preflight_headers(
        request.headers.get("origin"),
        request.headers.get("access-control-request-method"),
        [method for method in methods if method != cors.PREFLIGHT],
        allowed,
    )


def add_preflight_routes(app: Chalice, preflight: Callable[..., Response]) -> None:
    """``preflight`` as an ``OPTIONS`` route, without the authorizer, on every path of
    the API.

    Without it API Gateway and ``chalice local`` would answer preflights
    themselves, knowing nothing of ALLOWED_ORIGINS. Runs last: it covers the
    routes defined before it.
    """
    for path, methods in list(app.routes.items()):
        if path.startswith(urls.API_PREFIX) and cors.PREFLIGHT not in methods:
            app.route(path, methods=[cors.PREFLIGHT])(preflight)
