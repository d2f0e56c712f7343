"""What the routes read from a request and add to a response: JSON bodies,
``If-Match``, query parameters, cookies, the caller, the service's base URL,
redirects.

Only ``app.py`` touches ``app.current_request``; it passes the ``Request`` here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from chalice.app import Request, Response

from chalicelib import errors
from chalicelib.config import Settings
from chalicelib.http import urls, webui
from chalicelib.identity import auth, cookies, sessions
from chalicelib.permissions import Caller
from chalicelib.records.rules import Rulebook
from chalicelib.records.user_reads import uncarried_user
from chalicelib.storage.models import User
from chalicelib.text import whole_number

MAX_BODY = 64 * 1024
MAX_DEPTH = 4  # {"user": {"permissions": [...]}} is 3 deep; nothing the API takes is deeper
IF_MATCH = r'(?:W/)?(?:"([0-9]{1,15})"|([0-9]{1,15}))'
"""A record version in ``If-Match``: ASCII digits, optionally quoted, optionally weak."""
IF_MATCH_RE = re.compile(IF_MATCH)


READS = ("GET", "HEAD")


def caller(
    request: Request,
    session_secret: Callable[[], bytes],
    settings: Settings,
    rulebook: Callable[[], Rulebook],
) -> Caller:
    """The caller the authorizer verified; InvalidCredentials when it verified nobody,
    StorageUnavailable when it could not check, KeyReadOnly for a write made with a
    read-only key or its session.

    API Gateway keeps a decision for the authorizer's TTL; one that a storage
    fault kept the authorizer from making is made again here, so that a passing
    fault does not shut the caller out for that long.
    """
    context = request.context.get("authorizer") or {}
    if context.get("unavailable"):
        header = request.headers.get("authorization")
        context = auth.decide(header, session_secret, settings, rulebook()).context()
        if context["unavailable"]:
            raise errors.StorageUnavailable(context["error"])
    user_id = context.get("user_id")
    if not user_id:
        raise errors.InvalidCredentials(context.get("error") or "credentials are required")
    if context.get("read_only") and request.method not in READS:
        raise errors.KeyReadOnly("this API key (or its session) may only read")
    permissions = frozenset(p for p in context.get("permissions", "").split(",") if p)
    return Caller(
        id=user_id,
        permissions=permissions,
        scoped=bool(context.get("scoped")),
        read_only=bool(context.get("read_only")),
        method=context.get("method", ""),
        session_id=context.get("session_id", ""),
    )


def decided_user(request: Request, settings: Settings) -> User | None:
    """The caller's record as the authorizer read it for this very request, or None.

    The decision carries the record and when its read began (``read_at``, in
    milliseconds). API Gateway gives the route the time the request arrived
    (``requestTimeEpoch``, in milliseconds): a record read after that was read for
    this request; one read at or before it belongs to a decision the gateway
    cached for an earlier request, and the route reads the user again, so that
    no answer is older than its request. ``chalice local`` and the test client
    (``SERVICE_ENV`` local or test) decide every request and give no arrival
    time; elsewhere a request without one is read again.
    """
    context = request.context.get("authorizer") or {}
    text, read_at = context.get("user"), context.get("read_at")
    if not text or not read_at:
        return None
    arrived = request.context.get("requestTimeEpoch")
    if arrived is None and not settings.is_local:
        return None
    if arrived is not None and int(read_at) <= int(arrived):
        return None
    user = uncarried_user(text)
    return user if user.id == context.get("user_id") else None


def source_ip(request: Request) -> str:
    """The caller's address as API Gateway saw it ("" when it says none)."""
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "")


def link_user(params: Mapping[str, str], jar: cookies.Jar, key_max_days: int) -> str | None:
    """For ``?link=1`` (docs/API.md section 7): the id of the user whose live session the
    ``session`` cookie names, or ``""`` when none does; None without ``link``.
    Raises InvalidInput for another value of ``link``."""
    link = params.get("link")
    if link is None:
        return None
    if link != "1":
        raise errors.InvalidInput("link must be 1")
    return sessions.signed_in_user(jar.get(cookies.SESSION), key_max_days) or ""


def path_value(value: str, settings: Settings) -> str:
    """A path parameter as sent: API Gateway hands it decoded, ``chalice local`` and
    the test client (``SERVICE_ENV`` local or test) as it was in the URL, so there it
    is decoded here (bytes that are not UTF-8 become U+FFFD)."""
    return unquote(value) if settings.is_local else value


def request_cookies(request: Request, settings: Settings) -> cookies.Jar:
    """The service's cookies in the request, under the names of its base
    (``__Host-`` over HTTPS, chalicelib/identity/cookies.py)."""
    return cookies.parse(request.headers.get("cookie"), base(request, settings).secure)


def query(request: Request) -> dict[str, str]:
    """The request's query parameters."""
    return dict(request.query_params or {})


def base(request: Request, settings: Settings) -> urls.Base:
    """Where the browser sees the service for this request (chalicelib/http/urls.py):
    PUBLIC_URL, else API Gateway's domain and stage, else (local, test) the Host."""
    return urls.request_base(settings, request.headers, request.context or {})


def add_cookies(response: Response, new: list[str]) -> None:
    """Add ``Set-Cookie`` headers to ``response``, keeping those it has."""
    existing = response.headers.get("Set-Cookie") or []
    existing = [existing] if isinstance(existing, str) else list(existing)
    response.headers["Set-Cookie"] = [*existing, *new]


def redirect(location: str, new_cookies: list[str]) -> Response:
    """A 302 to ``location`` setting ``new_cookies``."""
    response = Response(body="", status_code=302, headers={"Location": location})
    add_cookies(response, new_cookies)
    return response


def _sets_cookie(response: Response, name: str) -> bool:
    existing = response.headers.get("Set-Cookie") or []
    existing = [existing] if isinstance(existing, str) else existing
    return any(cookie.startswith(f"{name}=") for cookie in existing)


def issue_csrf_cookie(request: Request, response: Response, settings: Settings) -> None:
    """Hand a readable ``_csrf_token`` cookie to a caller that has none, except on
    answers that shared caches may keep (the web UI's files)."""
    here = base(request, settings)
    jar = request_cookies(request, settings)
    if (
        not jar.holds(cookies.CSRF)
        and not _sets_cookie(response, cookies.wire_name(cookies.CSRF, here.secure))
        and not webui.shared_cacheable(response.headers.get("Cache-Control"))
    ):
        _, cookie = sessions.csrf_token(jar, here)
        if cookie is not None:
            add_cookies(response, [cookie])


def json_body(request: Request, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object; InvalidInput or RequestTooLarge otherwise."""
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY:
        raise errors.RequestTooLarge(f"request bodies are limited to {MAX_BODY} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise errors.InvalidInput("expected a JSON object as the request body")
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise errors.InvalidInput("the request body must be application/json")
    try:
        body = json.loads(raw)
    except RecursionError as exc:
        raise errors.InvalidInput(f"the request body is nested deeper than {MAX_DEPTH}") from exc
    except ValueError as exc:
        raise errors.InvalidInput("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise errors.InvalidInput("expected a JSON object as the request body")
    if _depth(body) > MAX_DEPTH:
        raise errors.InvalidInput(f"the request body is nested deeper than {MAX_DEPTH}")
    return body


def _depth(value: Any) -> int:
    """How deep JSON containers nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def user_body(request: Request) -> dict[str, Any]:
    """The ``user`` object of a ``{"user": {...}}`` body."""
    body = json_body(request)
    if set(body) != {"user"} or not isinstance(body["user"], dict):
        raise errors.InvalidInput('expected a body of the form {"user": {...}}')
    return body["user"]


def if_match(request: Request) -> int | None:
    """The version named by an ``If-Match`` header, if any."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    match = IF_MATCH_RE.fullmatch(raw)
    version = whole_number(match.group(1) or match.group(2)) if match else None
    if version is None:
        raise errors.InvalidInput("If-Match must be a record version: ASCII digits")
    return version
