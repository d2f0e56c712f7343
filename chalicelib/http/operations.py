"""What the OpenAPI document says of a route, declared beside the route in ``app.py``::

    @app.route(f"{API}/user/me", methods=["GET"], authorizer=authorizer)
    @documented("The caller's record", 200, "UserReply", READ)
    def get_me() -> ...

``openapi.document`` reads it back from each route's view function. ``reply``
and ``body`` name schemas of ``openapi.SCHEMAS``; ``errors`` are statuses,
described from ``errors.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib.permissions import Needs

READ = (401, 403, 503)
WRITE = (400, 401, 403, 404, 409, 413, 415, 503)
PAGE = (400, 401, 403, 503)
PAGED = ("limit", "cursor")
CSRF: dict[str, Any] = {"headers": ("X-CSRF-Token",), "cookies": ("session", "_csrf_token")}
IF_MATCH: dict[str, Any] = {"headers": ("If-Match",)}
IF_MATCH_REQUIRED: dict[str, Any] = {"headers": ("If-Match",), "required_headers": ("If-Match",)}
IDEMPOTENT: dict[str, Any] = {"headers": ("Idempotency-Key",)}
_ATTRIBUTE = "openapi_operation"
_NEEDS = "route_needs"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """What the document says of one route besides its path and method."""

    summary: str
    status: int
    reply: str | None = None
    errors: tuple[int, ...] = ()
    body: str | None = None
    body_required: bool = True
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    required_headers: tuple[str, ...] = ()  # those of ``headers`` the route refuses without
    cookies: tuple[str, ...] = ()
    media: str = "application/json"
    creates: str | None = None  # the path of what a create makes: links go to its operations
    key_expires: bool = False  # answers API-Key-Expires (as every auth route does)


def documented(
    summary: str,
    status: int,
    reply: str | None = None,
    errors: tuple[int, ...] = (),
    body: str | None = None,
    **more: Any,
) -> Callable[[View], View]:
    """Attach the route's :class:`Operation` to its view function, unchanged otherwise."""
    operation = Operation(summary, status, reply, errors, body, **more)

    def attach(view: View) -> View:
        setattr(view, _ATTRIBUTE, operation)
        return view

    return attach


def operation_of(view: Callable[..., Any]) -> Operation:
    """The :class:`Operation` declared on ``view``; LookupError when none was."""
    found = getattr(view, _ATTRIBUTE, None)
    if not isinstance(found, Operation):
        raise LookupError(f"the route {view.__name__} has no @documented(...)")
    return found


def attach_needs(view: View, needs: Needs) -> View:
    """Record on ``view`` what its route needs of the caller (``app.needs`` checks it)."""
    setattr(view, _NEEDS, needs)
    return view


def needs_of(view: Callable[..., Any]) -> Needs | None:
    """What the route of ``view`` needs of its caller, when it declares it."""
    found = getattr(view, _NEEDS, None)
    return found if isinstance(found, Needs) else None
