"""The users service: Chalice routes and the one custom authorizer.

Routes are thin adapters: read the request, call one function of
``chalicelib``, return a dict. Domain errors carry their HTTP status.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, cast

from chalice.app import AuthRequest, AuthResponse, Chalice, Request, Response

from chalicelib import errors, timestamps
from chalicelib.http import middleware, request_io, urls
from chalicelib.http.container import key_uses, rulebook, secrets, session_secret, settings
from chalicelib.http.middleware import API_KEY_EXPIRES
from chalicelib.http.operations import (
    CSRF,
    IDEMPOTENT,
    IF_MATCH,
    IF_MATCH_REQUIRED,
    PAGE,
    PAGED,
    READ,
    WRITE,
    View,
    attach_needs,
    documented,
)
from chalicelib.identity import auth, sessions
from chalicelib.identity.cookies import SESSION as SESSION_COOKIE
from chalicelib.identity.cookies import Jar
from chalicelib.permissions import (
    PERMISSIONS,
    USER_ADD,
    USER_MANAGEMENT,
    USER_SEARCH,
    Caller,
    Needs,
)

# What the authorizer's decision needs is imported here; modules only routes use
# are imported in the routes (README, "The Lambda package").
from chalicelib.records import apikeys
from chalicelib.storage import snapshots
from chalicelib.storage.models import User


class _Chalice(Chalice):
    """Chalice with the request being served kept per thread: Lambda serves one
    request per container at a time, ``chalice local`` and the test client serve
    several at once (``chalice local`` swaps in its own class for the same reason)."""

    _served = threading.local()

    @property
    def current_request(self) -> Request | None:
        return getattr(self._served, "request", None)

    @current_request.setter
    def current_request(self, request: Request | None) -> None:
        self._served.request = request


app = _Chalice(app_name="users-service")

API = urls.API_PREFIX
AUTHORIZER_TTL = 60  # seconds API Gateway may cache a decision; the contract allows 60


@app.authorizer(ttl_seconds=AUTHORIZER_TTL)
def authorizer(auth_request: AuthRequest) -> AuthResponse:
    """Verify an API key or access token; the route answers 401 when it names nobody.

    The decision covers every route (API Gateway caches it across routes), so
    permission checks happen in the routes.
    """
    settings()  # a container's first call binds the tables
    decision = auth.decide(auth_request.token, session_secret, settings(), rulebook())
    return AuthResponse(routes=["*"], principal_id=decision.principal, context=decision.context())


middleware.register(app, settings)
snapshots.install(snapshots.runtime_registry())  # SnapStart's restore hook, where it runs


def needs(permission: str | None = None, or_self: bool = False) -> Callable[[View], View]:
    """The route's permission, declared once: checked before the route runs (403
    PermissionDenied), and published as the operation's ``x-permission``."""
    rule = Needs(permission, or_self)

    def wrap(view: View) -> View:
        @functools.wraps(view)
        def checked(**path: str) -> Any:
            rule.check(_caller(), path.get("user_id"))
            return view(**path)

        return attach_needs(cast(View, checked), rule)

    return wrap


@app.route(f"{API}/openapi.json", methods=["GET"])
@documented("This document", 200, "OpenApiDocument")
def get_openapi() -> dict[str, Any]:
    return _openapi_document()


@app.route(f"{API}/user/permissions", methods=["GET"])
@documented("All permission names", 200, "PermissionList")
def list_permissions() -> dict[str, Any]:
    return {"permissions": list(PERMISSIONS)}


@app.route(f"{API}/user", methods=["GET"], authorizer=authorizer)
@documented(
    "A page of users; public fields only without USER_MANAGEMENT",
    200,
    "UserPage",
    PAGE,
    query=("limit", "cursor", "email", "q", "suspended"),
)
@needs(USER_SEARCH)
def list_users() -> dict[str, Any]:
    from chalicelib.records import user_views, validation

    caller = _caller()
    params = _query()
    page = validation.parse_page(params, extra=("email", "q", "suspended"))
    return user_views.list_users(
        caller,
        page,
        email=params.get("email"),
        query=params.get("q"),
        suspended=params.get("suspended"),
        rulebook=rulebook(),
    )


@app.route(f"{API}/user", methods=["POST"], authorizer=authorizer)
@documented(
    "Create a user",
    201,
    "CreatedUser",
    (*WRITE, 422),
    "NewUserBody",
    creates=f"{API}/user/{{user_id}}",
    **IDEMPOTENT,
)
@needs(USER_ADD)
def create_user() -> Response:
    from chalicelib.records import idempotency, record, users

    caller = _caller()
    body = _user_body()
    writable = record.MANAGER_FIELDS if caller.has(USER_MANAGEMENT) else record.CREATOR_FIELDS
    new = users.NewUser(body, writable)
    users.check_new_user(new)  # a malformed body is 400 whatever its Idempotency-Key
    create = functools.partial(users.create_user, caller.id, new)
    key = _request().headers.get("idempotency-key")
    user_id = create().id if key is None else idempotency.create_once(caller.id, key, body, create)
    return Response(body={"id": user_id}, status_code=201)


@app.route(f"{API}/user/me", methods=["GET"], authorizer=authorizer)
@documented("The caller's record, permissions expanded", 200, "UserReply", READ)
@needs()
def get_me() -> dict[str, Any]:
    from chalicelib.records import user_views

    return {"user": user_views.get_me(_caller(), rulebook(), _decided_user())}


@app.route(f"{API}/user/me", methods=["PATCH"], authorizer=authorizer)
@documented("Edit the caller's profile", 200, "UserReply", WRITE, "UserBody")
@needs()
def update_me() -> dict[str, Any]:
    from chalicelib.records import record, user_views, users

    caller = _caller()
    body = _user_body()
    rules = rulebook()
    view = functools.partial(user_views.own_view, rulebook=rules)
    return {
        "user": view(
            users.update_user(caller.id, caller.id, body, record.PROFILE_FIELDS, view=view)
        )
    }


@app.route(f"{API}/user/me", methods=["DELETE"], authorizer=authorizer)
@documented(
    "Erase one's own account (a provider sign-in within 10 minutes; If-Match required)",
    204,
    None,
    (400, 401, 403, 404, 409, 412, 428, 503),
    **IF_MATCH_REQUIRED,
)
@needs()
def delete_me() -> Response:
    from chalicelib.records import users

    caller = _caller()
    version = _if_match()
    if version is None:
        raise errors.IfMatchRequired("If-Match must name the record's version")
    sessions.require_recent_login(caller.method, caller.session_id)
    users.delete_user(caller.id, caller.id, if_match=version)
    return Response(body="", status_code=204)


@app.route(f"{API}/user/me/export", methods=["GET"], authorizer=authorizer)
@documented("Everything held about the caller (a file)", 200, "UserExport", READ)
@needs()
def export_me() -> Response:
    return _export(_caller().id)


@app.route(f"{API}/user/{{user_id}}/export", methods=["GET"], authorizer=authorizer)
@documented(
    "Everything held about a user, as a file",
    200,
    "UserExport",
    (*READ, 404),
)
@needs(USER_MANAGEMENT, or_self=True)
def export_user(user_id: str) -> Response:
    return _export(user_id)


@app.route(f"{API}/user/{{user_id}}", methods=["GET"], authorizer=authorizer)
@documented("A user's record", 200, "UserReply", (*READ, 404))
@needs(USER_MANAGEMENT)
def get_user(user_id: str) -> dict[str, Any]:
    from chalicelib.records import user_views

    return {"user": user_views.get_user(user_id, rulebook(), _decided_user())}


@app.route(f"{API}/user/{{user_id}}", methods=["PATCH"], authorizer=authorizer)
@documented("Edit a user", 200, "UserReply", (*WRITE, 412), "UserBody", **IF_MATCH)
@needs(USER_MANAGEMENT)
def update_user(user_id: str) -> dict[str, Any]:
    from chalicelib.records import record, user_views, users

    caller = _caller()
    body = _user_body()
    view = functools.partial(user_views.user_view, rulebook=rulebook())
    user = users.update_user(
        caller.id, user_id, body, record.MANAGER_FIELDS, if_match=_if_match(), view=view
    )
    return {"user": view(user)}


@app.route(f"{API}/user/{{user_id}}", methods=["DELETE"], authorizer=authorizer)
@documented("Erase a user", 204, None, (400, 401, 403, 404, 409, 412, 503), **IF_MATCH)
@needs(USER_MANAGEMENT)
def delete_user(user_id: str) -> Response:
    from chalicelib.records import users

    caller = _caller()
    users.delete_user(caller.id, user_id, if_match=_if_match())
    return Response(body="", status_code=204)


@app.route(f"{API}/user/{{user_id}}/permissions", methods=["GET"], authorizer=authorizer)
@documented(
    "Why the user has each effective permission",
    200,
    "PermissionReasons",
    (*READ, 404),
)
@needs(USER_MANAGEMENT, or_self=True)
def get_user_permissions(user_id: str) -> dict[str, Any]:
    from chalicelib.records import user_views

    return user_views.get_permissions(user_id, rulebook(), _decided_user())


@app.route(
    f"{API}/user/{{user_id}}/identities/{{identity}}", methods=["DELETE"], authorizer=authorizer
)
@documented(
    "Unlink one OpenID Connect identity, <sub>::<provider> URL-encoded",
    204,
    None,
    (401, 403, 404, 409, 503),
)
@needs(USER_MANAGEMENT, or_self=True)
def unlink_identity(user_id: str, identity: str) -> Response:
    from chalicelib.identity import identities

    caller = _caller()
    identities.unlink_identity(caller.id, user_id, request_io.path_value(identity, settings()))
    return Response(body="", status_code=204)


@app.route(f"{API}/user/{{user_id}}/apikey", methods=["POST"], authorizer=authorizer)
@documented(
    "Make a new API key, revoking the others",
    201,
    "NewApiKey",
    (401, 403, 404, 409, 503),
    creates=f"{API}/user/{{user_id}}/apikeys/{{key_id}}",
)
@needs(USER_MANAGEMENT, or_self=True)
def replace_api_key(user_id: str) -> Response:
    caller = _caller()
    made = apikeys.make_api_key(
        caller.id, user_id, settings(), apikeys.inherited(caller), replace=True
    )
    return Response(body={"key": made["key"], "id": made["id"]}, status_code=201)


@app.route(f"{API}/user/{{user_id}}/apikeys", methods=["GET"], authorizer=authorizer)
@documented(
    "A user's API keys with their scopes, never the keys; through a scoped key, those "
    "within its scope",
    200,
    "ApiKeyList",
    (*READ, 404),
)
@needs(USER_MANAGEMENT, or_self=True)
def list_api_keys(user_id: str) -> dict[str, Any]:
    caller = _caller()
    return apikeys.list_api_keys(user_id, caller, settings().api_key_max_days, rulebook())


@app.route(f"{API}/user/{{user_id}}/apikeys", methods=["POST"], authorizer=authorizer)
@documented(
    "Make one more API key, its scope at most the caller's",
    201,
    "NewApiKeyWithExpiry",
    WRITE,
    "ApiKeyRequest",
    body_required=False,
    creates=f"{API}/user/{{user_id}}/apikeys/{{key_id}}",
)
@needs(USER_MANAGEMENT, or_self=True)
def add_api_key(user_id: str) -> Response:
    caller = _caller()
    config = settings()
    request = apikeys.check_key_request(_json_body(optional=True), caller, config.api_key_max_days)
    return Response(body=apikeys.make_api_key(caller.id, user_id, config, request), status_code=201)


@app.route(f"{API}/user/{{user_id}}/apikeys/{{key_id}}", methods=["DELETE"], authorizer=authorizer)
@documented("Revoke one API key", 204, None, (401, 403, 404, 409, 503))
@needs(USER_MANAGEMENT, or_self=True)
def revoke_api_key(user_id: str, key_id: str) -> Response:
    caller = _caller()
    apikeys.revoke_api_key(caller.id, user_id, key_id)
    return Response(body="", status_code=204)


@app.route(
    f"{API}/user/{{user_id}}/apikeys/{{key_id}}/rotate", methods=["POST"], authorizer=authorizer
)
@documented(
    "Replace a key by a new one with its name and scope; the old one works overlap_hours "
    "more (within the caller's scope)",
    201,
    "RotatedApiKey",
    WRITE,
    "ApiKeyRotation",
    body_required=False,
    creates=f"{API}/user/{{user_id}}/apikeys/{{key_id}}",
)
@needs(USER_MANAGEMENT, or_self=True)
def rotate_api_key(user_id: str, key_id: str) -> Response:
    caller = _caller()
    overlap = apikeys.check_rotation(_json_body(optional=True))
    rotated = apikeys.rotate_api_key(caller, user_id, key_id, overlap, settings(), rulebook())
    return Response(body=rotated, status_code=201)


@app.route(f"{API}/apikeys/revoke", methods=["POST"])
@documented(
    "Revoke API keys found in the open, without credentials; answers only how many were live",
    200,
    "RevokedCount",
    (400, 413, 415, 503),
    "LeakedKeys",
)
def revoke_leaked_api_keys() -> dict[str, int]:
    return apikeys.revoke_leaked(_json_body(), settings())


@app.route(f"{API}/user/{{user_id}}/log", methods=["GET"], authorizer=authorizer)
@documented(
    "A record's change history, oldest first or ?order=desc",
    200,
    "LogPage",
    (*PAGE, 404),
    query=(*PAGED, "order"),
)
@needs(USER_MANAGEMENT, or_self=True)
def get_user_log(user_id: str) -> dict[str, Any]:
    from chalicelib.records import logs, validation

    params = _query()
    page = validation.parse_page(params, extra=("order",))
    return logs.get_log(user_id, page, logs.parse_order(params.get("order")))


@app.route(f"{API}/user/{{user_id}}/actions", methods=["GET"], authorizer=authorizer)
@documented(
    "The changes a user made, oldest first or ?order=desc",
    200,
    "ActionPage",
    (*PAGE, 404),
    query=(*PAGED, "order"),
)
@needs(USER_MANAGEMENT, or_self=True)
def get_user_actions(user_id: str) -> dict[str, Any]:
    from chalicelib.records import logs, validation

    params = _query()
    page = validation.parse_page(params, extra=("order",))
    return logs.get_actions(user_id, page, logs.parse_order(params.get("order")))


@app.route(f"{API}/login", methods=["GET"])
@documented("Ways to log in", 200, "LoginTypes")
def list_login_types() -> dict[str, Any]:
    return {"types": ["apikey", "oidc"]}


@app.route(f"{API}/login/csrf", methods=["GET"])
@documented(
    "The CSRF token (the _csrf_token cookie, set now when the request had none)",
    200,
    "CsrfToken",
    cookies=("_csrf_token",),
)
def get_csrf_token() -> Response:
    token, cookie = sessions.csrf_token(_cookies(), _base())
    response = Response(body={"csrf_token": token})
    request_io.add_cookies(response, [cookie] if cookie else [])
    return response


@app.route(f"{API}/login/oidc", methods=["GET"])
@documented("Configured OpenID Connect providers and their login paths", 200, "ProviderPaths")
def list_oidc_providers() -> dict[str, str]:
    from chalicelib.identity import oidc

    return oidc.providers(_base(), secrets().providers)


@app.route(f"{API}/login/oidc/{{provider}}", methods=["GET"])
@documented(
    "Go to the provider's login; with link=1 and a session, to link an identity to its user",
    302,
    None,
    (400, 404, 503),
    query=("origin", "link"),
    cookies=("session",),
)
def start_oidc_login(provider: str) -> Response:
    from chalicelib.identity import oidc

    query = _query()
    link = request_io.link_user(query, _cookies(), settings().api_key_max_days)
    redirect = oidc.start_login(
        provider, query.get("origin"), _base(), secrets(), settings().allowed_origins, link
    )
    return request_io.redirect(redirect.location, redirect.cookies)


@app.route(f"{API}/login/oidc/{{provider}}/authorize", methods=["GET"])
@documented(
    "The OpenID Connect callback: back to the origin with a session, or with login_error",
    302,
    errors=(404,),
    query=("code", "state", "error"),
    cookies=("oidc_login", "session"),
)
def finish_oidc_login(provider: str) -> Response:
    from chalicelib.identity import oidc

    cookies = _cookies()
    redirect = oidc.finish_login(
        provider,
        _query(),
        cookies.get(oidc.LOGIN_COOKIE),
        _base(),
        secrets(),
        session_cookie=cookies.get(SESSION_COOKIE),
        clock=rulebook().clock,
        key_max_days=settings().api_key_max_days,
    )
    return request_io.redirect(redirect.location, redirect.cookies)


@app.route(f"{API}/login/apikey", methods=["POST"])
@documented(
    "Start a browser session with an API key",
    200,
    "SessionStarted",
    (400, 401, 403, 413, 415, 503),
    "ApiKeyLogin",
    key_expires=True,
    **CSRF,
)
def login_with_api_key() -> Response:
    sessions.check_csrf(_cookies(), _request().headers.get(sessions.CSRF_HEADER))
    session, key = auth.login_with_api_key(_json_body(), settings())
    key_uses().record(
        key.user_id, key.key_id, key.last_used, key.last_used_ip, request_io.source_ip(_request())
    )
    headers: dict[str, str | list[str]] = {
        "Set-Cookie": session.set_cookie(_base()),
        API_KEY_EXPIRES: key.key_expires,
    }
    return Response(body={"expires": timestamps.stamp(session.expires)}, headers=headers)


@app.route(f"{API}/login/token", methods=["POST"])
@documented(
    "An access token for the session (needs X-CSRF-Token)",
    200,
    "AccessToken",
    (401, 403, 503),
    **CSRF,
)
def issue_access_token() -> dict[str, object]:
    cookies = _cookies()
    sessions.check_csrf(cookies, _request().headers.get(sessions.CSRF_HEADER))
    session = cookies.get(SESSION_COOKIE)
    return sessions.issue_token(session, session_secret(), settings().api_key_max_days)


@app.route(f"{API}/logout", methods=["POST"])
@documented("End the session", 204, None, (403, 503), **CSRF)
def logout() -> Response:
    cookies = _cookies()
    sessions.check_csrf(cookies, _request().headers.get(sessions.CSRF_HEADER))
    sessions.end_session(cookies.get(SESSION_COOKIE))
    return Response(
        body="", status_code=204, headers={"Set-Cookie": sessions.clear_session_cookie(_base())}
    )


@app.route("/", methods=["GET"])
@documented(
    "The web UI's page (no-cache); its scripts and styles load relative to it",
    200,
    "WebPage",
    (404,),
    media="text/html",
)
def get_web_page() -> Response:
    """The web UI's page (README, "The web UI"); its files load relative to it."""
    from chalicelib.http import webui

    location = webui.slash_redirect(_request().context.get("path"))
    if location is not None:
        return request_io.redirect(location, [])
    page = webui.page()
    return Response(body=page.body, headers=page.headers)


@app.route("/assets/{name}", methods=["GET"])
@documented(
    "A built, content-hashed script or style of the web UI (cached for a year)", 200, None, (404,)
)
def get_web_asset(name: str) -> Response:
    from chalicelib.http import webui

    asset = webui.asset(name)
    return Response(body=asset.body, headers=asset.headers)


@functools.cache
def _openapi_document() -> dict[str, Any]:
    from chalicelib.http import openapi

    config = settings()
    return openapi.document(app.routes, (config.api_key_default_days, config.api_key_max_days))


def _export(user_id: str) -> Response:
    from chalicelib.records import export

    document = export.export_user(user_id, settings().api_key_max_days)
    disposition = f'attachment; filename="{export.filename(user_id, document["exported"])}"'
    return Response(body=document, headers={"Content-Disposition": disposition})


def _request() -> Request:
    request = app.current_request
    assert request is not None, "called outside a request"
    return request


def _caller() -> Caller:
    return request_io.caller(_request(), session_secret, settings(), rulebook)


def _decided_user() -> User | None:
    return request_io.decided_user(_request(), settings())


def _cookies() -> Jar:
    return request_io.request_cookies(_request(), settings())


def _query() -> dict[str, str]:
    return request_io.query(_request())


def _base() -> urls.Base:
    return request_io.base(_request(), settings())


def _json_body(optional: bool = False) -> dict[str, Any]:
    return request_io.json_body(_request(), optional)


def _user_body() -> dict[str, Any]:
    return request_io.user_body(_request())


def _if_match() -> int | None:
    return request_io.if_match(_request())


def preflight(**_path_params: str) -> Response:
    """Answer a CORS preflight (chalicelib/http/cors.py) with the methods of its path."""
    request = _request()
    methods = app.routes[request.path]
    headers = middleware.preflight_headers(request, methods, settings().allowed_origins)
    return Response(body="", status_code=204, headers=headers)


middleware.add_preflight_routes(app, preflight)
