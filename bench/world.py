"""The world a benchmark runs in: an admin, a managed user, the routes measured."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.test import Client

from bench.harness import Counts, counting, replay
from chalicelib.http import container
from chalicelib.identity import auth, cookies, sessions
from chalicelib.ids import SYSTEM, new_id
from chalicelib.permissions import PERMISSIONS
from chalicelib.records import apikeys
from chalicelib.records.record import MANAGER_FIELDS
from chalicelib.records.users import NewUser, create_user

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
PAGE = 100
CSRF = "bench-csrf-token-0123456789"


# --- the world a benchmark runs in ----------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The record a request is about."""

    id: str
    email: str = ""
    key_id: str = ""


@dataclass
class World:
    """An admin with an API key, a session and an access token; a managed user."""

    client: Client
    admin: Subject
    api_key_header: str
    token_header: str
    session_cookie: str
    subject: Subject


def managed_user(actor: str, keys: int = 0) -> Subject:
    """A user made by ``actor``; each key is made by the user (so it has actions)."""
    user_id = new_id()
    email = f"u-{user_id}@example.org"
    create_user(actor, NewUser({"email": email, "name": "Bench User"}, user_id=user_id))
    key_id = ""
    for _ in range(keys):
        request = apikeys.KeyRequest(name="bench")
        key_id = apikeys.make_api_key(user_id, user_id, container.settings(), request)["id"]
    return Subject(user_id, email, key_id)


def make_world(client: Client) -> World:
    """Two users in empty tables: an admin holding every permission, and a managed user."""
    admin_id = new_id()
    email = f"admin-{admin_id}@example.org"
    body = {"email": email, "name": "Admin", "permissions": list(PERMISSIONS)}
    create_user(SYSTEM, NewUser(body, MANAGER_FIELDS, user_id=admin_id))
    header = f"Bearer {apikeys.make_api_key(SYSTEM, admin_id, container.settings())['key']}"
    # The first use of a key records it (the route writes); later ones are steady state.
    client.http.get(f"{API}/user/me", headers={"Authorization": header})
    session = sessions.start_session(admin_id)
    token = sessions.issue_token(
        session.cookie, container.session_secret(), container.settings().api_key_max_days
    )["token"]
    return World(
        client=client,
        admin=Subject(admin_id, email),
        api_key_header=header,
        token_header=f"Bearer {token}",
        session_cookie=session.cookie,
        subject=managed_user(admin_id, keys=2),
    )


# --- routes -------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Scenario:
    """One route: how to call it, and on what."""

    name: str
    kind: str  # "read" or "change"
    request: Callable[[World, Subject], Request]
    status: int
    credential: str = "apikey"  # "apikey", "token" or "" (no authorizer)
    fresh: Callable[[World], Subject] | None = None  # a new subject per request
    creates_id: bool = False  # the reply's "id" names a record the request made

    def subject(self, world: World) -> Subject:
        return self.fresh(world) if self.fresh is not None else world.subject

    def auth_header(self, world: World) -> str | None:
        if self.credential == "apikey":
            return world.api_key_header
        if self.credential == "token":
            return world.token_header
        return None


def _get(path: str, credential: str = "apikey") -> Callable[[World, Subject], Request]:
    def build(world: World, subject: Subject) -> Request:
        header = world.token_header if credential == "token" else world.api_key_header
        url = API + path.format(id=subject.id, key_id=subject.key_id)
        return Request("GET", url, {"Authorization": header})

    return build


def _send(method: str, path: str, body: Any = None) -> Callable[[World, Subject], Request]:
    def build(world: World, subject: Subject) -> Request:
        headers = {"Authorization": world.api_key_header}
        raw = b""
        if body is not None:
            headers["Content-Type"] = "application/json"
            value = body(subject) if callable(body) else body
            raw = json.dumps(value).encode()
        url = API + path.format(id=subject.id, key_id=subject.key_id)
        return Request(method, url, headers, raw)

    return build


def _token_request(world: World, subject: Subject) -> Request:
    cookie = f"{cookies.SESSION}={world.session_cookie}; {cookies.CSRF}={CSRF}"
    return Request("POST", f"{API}/login/token", {"Cookie": cookie, "X-CSRF-Token": CSRF})


def _fresh_user(world: World) -> Subject:
    return managed_user(world.admin.id)


def _fresh_user_with_key(world: World) -> Subject:
    return managed_user(world.admin.id, keys=1)


def _new_email(subject: Subject) -> dict[str, Any]:
    return {"user": {"email": f"new-{subject.id}@example.org", "name": "New User"}}


def scenarios() -> list[Scenario]:
    """The routes measured, API key callers unless named otherwise."""
    return [
        Scenario("GET /user/me", "read", _get("/user/me"), 200),
        Scenario("GET /user/me (access token)", "read", _get("/user/me", "token"), 200, "token"),
        Scenario("GET /user (limit 100)", "read", _get(f"/user?limit={PAGE}"), 200),
        Scenario("GET /user/{id}", "read", _get("/user/{id}"), 200),
        Scenario(
            "PATCH /user/{id}",
            "change",
            _send("PATCH", "/user/{id}", {"user": {"name": "Renamed"}}),
            200,
            fresh=_fresh_user,
        ),
        Scenario(
            "POST /user",
            "change",
            _send("POST", "/user", _new_email),
            201,
            fresh=lambda world: Subject(new_id()),
            creates_id=True,
        ),
        Scenario(
            "DELETE /user/{id}", "change", _send("DELETE", "/user/{id}"), 204, fresh=_fresh_user
        ),
        Scenario(
            "POST /user/{id}/apikeys",
            "change",
            _send("POST", "/user/{id}/apikeys", {"name": "bench"}),
            201,
            fresh=_fresh_user,
        ),
        Scenario(
            "POST /user/{id}/apikey (replace)",
            "change",
            _send("POST", "/user/{id}/apikey"),
            201,
            fresh=_fresh_user_with_key,
        ),
        Scenario(
            "DELETE /user/{id}/apikeys/{key_id}",
            "change",
            _send("DELETE", "/user/{id}/apikeys/{key_id}"),
            204,
            fresh=_fresh_user_with_key,
        ),
        Scenario("GET /user/{id}/apikeys", "read", _get("/user/{id}/apikeys"), 200),
        Scenario("GET /user/{id}/permissions", "read", _get("/user/{id}/permissions"), 200),
        Scenario("GET /user/{id}/log", "read", _get(f"/user/{{id}}/log?limit={PAGE}"), 200),
        Scenario("GET /user/{id}/actions", "read", _get(f"/user/{{id}}/actions?limit={PAGE}"), 200),
        Scenario("POST /login/token (session cookie)", "read", _token_request, 200, ""),
    ]


def scenario(name: str) -> Scenario:
    """The scenario of that name."""
    return next(s for s in scenarios() if s.name == name)


@dataclass
class Counted:
    """One counted request: every call, and ``auth.decide`` counted alone."""

    subject: Subject
    total: Counts
    decide: Counts | None
    created_id: str = ""

    @property
    def authorizer(self) -> Counts:
        return self.total.part(by_authorizer=True)

    @property
    def route(self) -> Counts:
        return self.total.part(by_authorizer=False)


def send(world: World, request: Request, status: int) -> Any:
    """Send a request through the test client's local gateway; check its status."""
    response = world.client.http.request(
        request.method, request.path, headers=request.headers, body=request.body
    )
    if response.status_code != status:
        raise RuntimeError(
            f"{request.method} {request.path}: {response.status_code} {response.body!r}"
        )
    return response


def count_decide(header: str) -> Counts:
    """The calls of one authorizer decision, counted around ``auth.decide``."""
    with counting() as counts:
        decision = auth.decide(
            header, container.session_secret, container.settings(), container.rulebook()
        )
    if not decision.user_id:
        raise RuntimeError(f"the authorizer refused the benchmark's credentials: {decision}")
    return counts


def count_scenario(world: World, sc: Scenario) -> Counted:
    """Count the DynamoDB calls of one request, authorizer included."""
    subject = sc.subject(world)
    request = sc.request(world, subject)
    with counting() as total:
        response = send(world, request, sc.status)
    created = ""
    if sc.creates_id:
        created = str(json.loads(response.body)["id"])
    header = sc.auth_header(world)
    decide = count_decide(header) if header else None
    return Counted(subject, total, decide, created)


def floor_for(sc: Scenario, counted: Counted, world: World) -> Callable[[], None]:
    """The bare calls of one more request like the counted one (untimed preparation)."""
    if sc.fresh is None:
        return replay(counted.total.calls)
    subject = sc.fresh(world)
    substitutions = {counted.subject.id: subject.id}
    if counted.subject.key_id:
        substitutions[counted.subject.key_id] = subject.key_id
    if counted.created_id:
        substitutions[counted.created_id] = new_id()
    return replay(counted.total.calls, substitutions)
