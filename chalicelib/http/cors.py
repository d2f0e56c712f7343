"""Cross-origin requests from the browser apps of ``ALLOWED_ORIGINS`` (docs/API.md section 6).

An ``Origin`` that is one of the allowed origins (scheme, host and port compared
exactly, as browsers send them) may read every answer, errors included, with
credentials; any other origin gets no ``Access-Control-Allow-*`` header at all,
so the browser withholds the answer from its page. ``*`` is never sent: it
cannot go with credentials. ``Vary: Origin`` is on every answer, since whether
these headers are there depends on the ``Origin``.

Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) reach the routes'
code on every path (``app.py`` gives each path an ``OPTIONS`` route without the
authorizer, since browsers send no credentials on a preflight), under API
Gateway, ``chalice local`` and the test client alike.
"""

from __future__ import annotations

from collections.abc import Iterable

ALLOW_HEADERS = "Authorization, Content-Type, X-CSRF-Token, Idempotency-Key, If-Match"
MAX_AGE = 600  # seconds a browser may keep a preflight's answer (Chromium keeps at most 7200)
PREFLIGHT = "OPTIONS"


def allowed(origin: str | None, allowed_origins: Iterable[str]) -> bool:
    """Whether ``origin`` is exactly one of ``allowed_origins``."""
    return bool(origin) and origin in tuple(allowed_origins)


def response_headers(origin: str | None, allowed_origins: Iterable[str]) -> dict[str, str]:
    """The CORS headers of any answer to a request from ``origin``."""
    headers = {"Vary": "Origin"}
    if origin is not None and allowed(origin, allowed_origins):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def add_vary(existing: str | list[str] | None, name: str = "Origin") -> str:
    """A ``Vary`` value that names ``name`` besides what ``existing`` names."""
    values = [existing] if isinstance(existing, str) else existing or []
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if name.lower() not in (part.lower() for part in names):
        names.append(name)
    return ", ".join(names)


def preflight_headers(
    origin: str | None,
    requested_method: str | None,
    methods: Iterable[str],
    allowed_origins: Iterable[str],
) -> dict[str, str | list[str]]:
    """The headers of the answer to an ``OPTIONS`` request on a path with ``methods``.

    A preflight from an allowed origin learns the path's methods, the request
    headers the API reads, and how long to keep that; anything else only gets
    ``Allow``.
    """
    listed = ", ".join(sorted({m.upper() for m in methods} | {PREFLIGHT}))
    headers: dict[str, str | list[str]] = {"Allow": listed}
    if requested_method and origin is not None and allowed(origin, allowed_origins):
        headers["Access-Control-Allow-Methods"] = listed
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        headers["Access-Control-Max-Age"] = str(MAX_AGE)
    return headers
