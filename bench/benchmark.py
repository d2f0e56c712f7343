"""What each route costs: DynamoDB round trips, latency, authorizer CPU, cold import, pages.

``make bench`` runs this module. Everything stays in this process: DynamoDB is
moto's ``mock_aws`` and HTTP is ``chalice.test.Client``, whose local gateway
runs the authorizer before the route. It prints one table and writes it to
BENCHMARKS.md. The machine is shared, so timings are printed, never asserted;
the counts are what ``tests/test_benchmark.py`` checks.

How things are counted and timed:

- Round trips and items read come from botocore event hooks on the real
  clients (the one of ``models.connection()`` and each model's own):
  ``before-call.dynamodb`` counts a call, ``after-call.dynamodb`` reads
  ``Item`` / ``Responses`` / ``Count`` of the parsed reply. A call made while
  ``auth.decide`` is on the stack is the authorizer's; ``auth.decide`` is also
  counted alone.
- The floor of a route is the same DynamoDB calls issued bare, with the
  low-level client of ``models.connection()``: the parameters the route sent,
  recorded by ``provide-client-params.dynamodb``, replayed (for a change, on a
  fresh record made the same way, its ids substituted).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import copy
import functools
import gc
import hmac
import io
import json
import os
import platform
import py_compile
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests import environment

environment.use()

from botocore import xform_name
from botocore.awsrequest import AWSResponse
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import auth, models, requestlog, sessions
from chalicelib.changes import SYSTEM, new_id
from chalicelib.models import ApiKey, LogEntry, Session, User
from chalicelib.permissions import PERMISSIONS, expand
from chalicelib.users import create_user

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
PAGE = 100
CSRF = "bench-csrf-token-0123456789"

# Targets of the issue; never loosened here. A miss is reported, not hidden.
MAX_AUTHORIZER_TRIPS = 1
MAX_ROUTE_READS = 1
CHANGE_TRANSACTIONS = 1
MAX_PAGE_RATIO = 1.3
MAX_IMPORT_RATIO = 1.2


# --- counting -----------------------------------------------------------------


@dataclass
class Call:
    """One DynamoDB call: its operation, the parameters sent, what it read."""

    operation: str
    params: dict[str, Any]
    by_authorizer: bool
    items_read: int = 0


@dataclass
class Counts:
    """The DynamoDB calls made while counting."""

    calls: list[Call] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        return len(self.calls)

    @property
    def items_read(self) -> int:
        return sum(call.items_read for call in self.calls)

    def operations(self) -> Counter[str]:
        return Counter(call.operation for call in self.calls)

    def part(self, by_authorizer: bool) -> Counts:
        """The calls made by the authorizer, or by everything else."""
        return Counts([call for call in self.calls if call.by_authorizer == by_authorizer])


_ACTIVE: list[Counts] = []
_DECIDE = auth.decide.__code__


def _in_authorizer() -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _DECIDE:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _on_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _ACTIVE:
        context["bench_params"] = copy.deepcopy(params)


def _on_before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
    if _ACTIVE:
        call = Call(model.name, context.get("bench_params", {}), _in_authorizer())
        context["bench_call"] = call
        for counts in _ACTIVE:
            counts.calls.append(call)


def _on_after_call(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    call = context.get("bench_call")
    if isinstance(call, Call):
        call.items_read = items_read(call.operation, parsed)


def items_read(operation: str, parsed: dict[str, Any]) -> int:
    """The items a parsed DynamoDB reply carries back."""
    if operation == "GetItem":
        return 1 if parsed.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in parsed.get("Responses", {}).values())
    if operation in ("Query", "Scan"):
        return int(parsed.get("Count", 0))
    if operation == "TransactGetItems":
        return sum(1 for reply in parsed.get("Responses", []) if reply.get("Item"))
    return 0


def dynamodb_clients() -> list[Any]:
    """The botocore clients the service uses: transactions' and each model's."""
    clients = [models.connection().client]
    clients += [model._get_connection().connection.client for model in models.MODELS]
    return list({id(client): client for client in clients}.values())


def install_hooks() -> None:
    """Register the counting hooks on every client (once per client)."""
    for client in dynamodb_clients():
        events = client.meta.events
        events.register("provide-client-params.dynamodb", _on_params, unique_id="bench-params")
        events.register("before-call.dynamodb", _on_before_call, unique_id="bench-before")
        events.register("after-call.dynamodb", _on_after_call, unique_id="bench-after")


@contextlib.contextmanager
def counting() -> Iterator[Counts]:
    """Count the DynamoDB calls made inside the block."""
    install_hooks()
    counts = Counts()
    _ACTIVE.append(counts)
    try:
        yield counts
    finally:
        _ACTIVE.pop()


def replay(calls: list[Call], substitutions: dict[str, str] | None = None) -> Callable[[], None]:
    """The same calls, issued bare with the low-level client; ids substituted."""
    client = models.connection().client
    prepared = []
    for call in calls:
        text = json.dumps(call.params)
        for old, new in (substitutions or {}).items():
            text = text.replace(old, new)
        prepared.append((getattr(client, xform_name(call.operation)), json.loads(text)))

    def run() -> None:
        for method, params in prepared:
            method(**params)

    return run


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
    create_user(actor, {"email": email, "name": "Bench User"}, False, user_id=user_id)
    key_id = ""
    for _ in range(keys):
        key_id = auth.make_api_key(user_id, user_id, name="bench")["id"]
    return Subject(user_id, email, key_id)


def make_world(client: Client) -> World:
    """Two users in empty tables: an admin holding every permission, and a managed user."""
    admin_id = new_id()
    email = f"admin-{admin_id}@example.org"
    body = {"email": email, "name": "Admin", "permissions": list(PERMISSIONS)}
    create_user(SYSTEM, body, True, user_id=admin_id)
    header = f"Bearer {auth.make_api_key(SYSTEM, admin_id)['key']}"
    auth.decide(header)  # the first use of a key records it; later ones are steady state
    session = sessions.start_session(admin_id)
    token = sessions.issue_token(session.cookie)["token"]
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
    cookie = f"{sessions.SESSION_COOKIE}={world.session_cookie}; {sessions.CSRF_COOKIE}={CSRF}"
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
        decision = auth.decide(header)
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


@dataclass
class Timing:
    route_ms: float
    floor_ms: float

    @property
    def ratio(self) -> float:
        return self.route_ms / self.floor_ms


WARMUP = 2


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes, with the garbage collector held off (as timeit does)."""
    gc.disable()
    try:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started
    finally:
        gc.enable()


def paired_medians(
    measured: Callable[[], Callable[[], object]],
    floor: Callable[[], Callable[[], object]],
    iterations: int,
) -> Timing:
    """Medians of a measured call and of its floor, interleaved, their order alternating.

    ``measured`` and ``floor`` prepare (untimed) and return the call to time.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(iterations + WARMUP):
        order = ((0, measured), (1, floor)) if i % 2 == 0 else ((1, floor), (0, measured))
        for slot, prepare in order:
            seconds = timed(prepare())
            if i >= WARMUP:
                times[slot].append(seconds)
    return Timing(statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000)


def time_scenario(world: World, sc: Scenario, counted: Counted, iterations: int) -> Timing:
    """Median latency through the test client against the median of its bare calls."""

    def request() -> Callable[[], object]:
        prepared = sc.request(world, sc.subject(world))
        return lambda: send(world, prepared, sc.status)

    return paired_medians(request, lambda: floor_for(sc, counted, world), iterations)


def time_decide(header: str, counts: Counts, iterations: int) -> Timing:
    """Median of ``auth.decide`` against the median of its bare calls."""
    return paired_medians(
        lambda: lambda: auth.decide(header), lambda: replay(counts.calls), iterations
    )


# --- authorizer CPU -------------------------------------------------------------


def cpu_us(fn: Callable[[], object], calls: int, batches: int = 5) -> float:
    """CPU time (time.process_time) per call, median of several batches, in µs."""
    per_call = []
    for _ in range(batches):
        started = time.process_time()
        for _ in range(calls):
            fn()
        per_call.append((time.process_time() - started) / calls)
    return statistics.median(per_call) * 1e6


def api_key_pure(header: str, key: ApiKey, user: User) -> Callable[[], dict[str, str]]:
    """The decision for an API key with its key and user already read.

    Header and key parsing, SHA-256 of the secret, constant-time compare,
    expiry and last-use checks, permission expansion, the context strings:
    what ``auth.verify_api_key`` does besides its one BatchGetItem.
    """

    def decide() -> dict[str, str]:
        token = auth.bearer_token(header) or ""
        match = auth.API_KEY_RE.match(token)
        assert match is not None
        _, _, secret = match.groups()
        assert hmac.compare_digest(key.secret_hash, auth._hash(secret))
        current = datetime.now(UTC)
        assert key.expires is None or auth._parse_time(key.expires) > current
        assert key.last_used is None or auth._parse_time(key.last_used) > (
            current - auth.LAST_USED_STEP
        )
        decision = auth.Decision(
            user_id=user.id, permissions=expand(user.permissions), method="apikey"
        )
        return decision.context()

    return decide


def access_token_pure(header: str, session: Session, user: User) -> Callable[[], dict[str, str]]:
    """The decision for an access token with its session and user already read.

    Header parsing, ``sessions.decode_access_token`` (HS256 verification and
    the claims registry), the session's expiry, permission expansion, the
    context strings: what ``auth.verify_access_token`` does besides its read.
    """

    def decide() -> dict[str, str]:
        user_id, sid, _ = sessions.decode_access_token(auth.bearer_token(header) or "")
        assert user_id == user.id and sid == session.id
        assert session.expires_at > datetime.now(UTC)
        decision = auth.Decision(
            user_id=user.id, permissions=expand(user.permissions), method="token", session_id=sid
        )
        return decision.context()

    return decide


@dataclass
class AuthorizerCpu:
    api_key_pure_us: float
    api_key_decide_us: float
    token_pure_us: float
    token_decide_us: float


def authorizer_cpu(world: World, calls: int) -> AuthorizerCpu:
    """CPU per decision: the pure parts, and ``auth.decide`` less its bare read."""
    key_id = world.api_key_header.split(".")[1]  # Bearer uk_<user id>.<key id>.<secret>
    key, user = models.get_many(
        [(ApiKey, {"user_id": world.admin.id, "key_id": key_id}), (User, {"id": world.admin.id})]
    )
    assert isinstance(key, ApiKey) and isinstance(user, User)
    jwt = world.token_header.split(" ", 1)[1]
    sid = sessions.decode_access_token(jwt)[1]
    (session,) = models.get_many([(Session, {"id": sid})])
    assert isinstance(session, Session)

    key_calls = count_decide(world.api_key_header).calls
    token_calls = count_decide(world.token_header).calls
    io_calls = max(calls // 20, 20)
    key_bare = cpu_us(replay(key_calls), io_calls)
    token_bare = cpu_us(replay(token_calls), io_calls)
    return AuthorizerCpu(
        api_key_pure_us=cpu_us(api_key_pure(world.api_key_header, key, user), calls),
        api_key_decide_us=cpu_us(lambda: auth.decide(world.api_key_header), io_calls) - key_bare,
        token_pure_us=cpu_us(access_token_pure(world.token_header, session, user), calls),
        token_decide_us=cpu_us(lambda: auth.decide(world.token_header), io_calls) - token_bare,
    )


# --- cold import ----------------------------------------------------------------

APP_IMPORT = "import app"
FLOOR_IMPORT = "import boto3, pynamodb"


def import_env(cached: bool, cache_dir: str) -> dict[str, str]:
    """This process's environment (it holds the settings the app reads at import).

    ``cached``: byte code is written to and read from ``cache_dir`` for every
    module, the app's and the libraries' alike. Otherwise nothing is written
    (PYTHONDONTWRITEBYTECODE=1), as on Lambda's read-only file system.
    """
    env = {k: v for k, v in os.environ.items() if k not in _BYTECODE_VARIABLES}
    if cached:
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


_BYTECODE_VARIABLES = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")


def sources_as_packaged(folder: str) -> Path:
    """A copy of ``app.py`` and ``chalicelib/`` as ``make package`` ships them:
    chalicelib compiled to byte code checked against the source's hash, app.py
    without byte code (Chalice ships only its source)."""
    copy = Path(folder) / "sources"
    copy.mkdir()
    shutil.copy2(ROOT / "app.py", copy / "app.py")
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "chalicelib", copy / "chalicelib", ignore=ignored)
    compileall.compile_dir(
        copy / "chalicelib",
        quiet=1,
        force=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    return copy


def import_seconds(statement: str, env: dict[str, str], cwd: Path = ROOT) -> float:
    """The time ``statement`` takes in a fresh interpreter, measured inside it."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return float(python(["-c", code], env, cwd).stdout.strip())


def python(
    args: list[str], env: dict[str, str], cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter of this Python; its output, or CalledProcessError."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


@dataclass
class ImportTimes:
    cached: bool
    app_ms: list[float]
    floor_ms: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.app_ms) / statistics.median(self.floor_ms)

    @property
    def paired_ratio(self) -> float:
        """Median of app / floor over back-to-back pairs: steadier on a busy machine."""
        return statistics.median(a / f for a, f in zip(self.app_ms, self.floor_ms, strict=True))


def import_times(runs: int, cached: bool, cache_dir: str) -> ImportTimes:
    """Import times of the app and of the floor, alternating fresh interpreters.

    Without ``cached`` the app is imported from a copy of its sources as
    packaged for Lambda (``sources_as_packaged``), and nothing is written.
    """
    env = import_env(cached, cache_dir)
    cwd = ROOT if cached else sources_as_packaged(cache_dir)
    import_seconds(APP_IMPORT, env, cwd)  # fills the byte-code cache, when there is one
    import_seconds(FLOOR_IMPORT, env, cwd)
    times = ImportTimes(cached, [], [])
    for _ in range(runs):
        times.app_ms.append(import_seconds(APP_IMPORT, env, cwd) * 1000)
        times.floor_ms.append(import_seconds(FLOOR_IMPORT, env, cwd) * 1000)
    return times


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)$")


def _importtime(statement: str, env: dict[str, str]) -> list[tuple[str, int, int, int]]:
    """``-X importtime`` of a statement: (module, self µs, cumulative µs, depth)."""
    done = python(["-X", "importtime", "-c", statement], env)
    found = []
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative, indent, name = match.groups()
            found.append((name, int(self_us), int(cumulative), len(indent) // 2))
    return found


def import_offenders(cache_dir: str, top: int = 6) -> list[tuple[str, float, str]]:
    """Diagnosis: the packages ``import app`` loads beyond the floor, by summed self
    time (ms, byte code cached), each with the first module of the service that
    pulled it in."""
    env = import_env(True, cache_dir)
    floor = {name for name, *_ in _importtime(FLOOR_IMPORT, env)}
    modules = _importtime(APP_IMPORT, env)
    extra: Counter[str] = Counter()
    via: dict[str, str] = {}
    for index, (name, self_us, _, depth) in enumerate(modules):
        if name in floor:
            continue
        package = name.split(".")[0]
        extra[package] += self_us
        if package not in via:
            via[package] = _importer(modules, index, depth)
    return [(package, us / 1000, via[package]) for package, us in extra.most_common(top)]


def _importer(modules: list[tuple[str, int, int, int]], index: int, depth: int) -> str:
    """The nearest enclosing import that is the app or one of its modules.

    ``-X importtime`` prints a module after the modules it imported, one
    level deeper; its importer is the next line with a smaller depth.
    """
    name = modules[index][0]
    if name == "app" or name.startswith("chalicelib."):
        return name
    for later, _, _, later_depth in modules[index + 1 :]:
        if later_depth < depth:
            if later == "app" or later.startswith("chalicelib."):
                return later
            depth = later_depth
    return "?"


# --- pages at two sizes ----------------------------------------------------------


@dataclass
class PageSubjects:
    log_of: str  # a record whose log is seeded
    actor: str  # a user whose actions are seeded
    users: int = 0
    entries: int = 0
    actions: int = 0


def _stamp(n: int) -> str:
    return (
        (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    )


def seed(pages: PageSubjects, records: int) -> None:
    """Grow the users, the seeded log and the seeded actions to ``records`` each,
    writing items directly with PynamoDB batch writes."""
    with User.batch_write() as batch:
        for n in range(pages.users, records):
            email = f"seed-{n}-{new_id()[:8]}@example.org"
            batch.save(
                User(
                    id=new_id(),
                    email=email,
                    email_lower=email,
                    name=f"Seed {n}",
                    permissions=[],
                    auth_ids=[email],
                    version=1,
                    created=_stamp(n),
                    updated=_stamp(n),
                )
            )
    with LogEntry.batch_write() as batch:
        for n in range(pages.entries, records):
            batch.save(
                LogEntry(
                    entry_id=pages.log_of,
                    version=n + 1,
                    id=new_id(),
                    action="edit",
                    user=SYSTEM,
                    timestamp=_stamp(n),
                    data={"name": f"Name {n}"},
                )
            )
        for n in range(pages.actions, records):
            batch.save(
                LogEntry(
                    entry_id=new_id(),
                    version=1,
                    id=new_id(),
                    action="add",
                    user=pages.actor,
                    timestamp=_stamp(n),
                    data={},
                )
            )
    pages.users = pages.entries = pages.actions = records


def page_scenarios(pages: PageSubjects) -> list[tuple[str, Scenario, Subject]]:
    return [
        ("users", Scenario("GET /user", "read", _get(f"/user?limit={PAGE}"), 200), Subject("")),
        (
            "log entries of one user",
            Scenario("GET /user/{id}/log", "read", _get(f"/user/{{id}}/log?limit={PAGE}"), 200),
            Subject(pages.log_of),
        ),
        (
            "actions of one actor",
            Scenario(
                "GET /user/{id}/actions", "read", _get(f"/user/{{id}}/actions?limit={PAGE}"), 200
            ),
            Subject(pages.actor),
        ),
    ]


# A request answered from a recording is pointed here before moto's own
# before-send handler runs (botocore calls every handler): no moto backend
# serves this address, so moto leaves it alone.
_NOWHERE = "http://answered-from-recording.invalid/"


class _Body(io.BytesIO):
    """A raw response body as ``AWSResponse`` reads it."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


class Recording:
    """DynamoDB's answers to one request, recorded from moto, then given back in order.

    moto reads a whole table (or partition) and sorts it for every Query or
    Scan, so its time for one page grows with what is stored; DynamoDB reads
    only the page. Answering the service's calls from a recording made at each
    size keeps the store's time constant and leaves, in the measured time,
    what the service itself does with a page: the request, the authorizer,
    botocore's parsing, PynamoDB's decoding, the response.
    """

    def __init__(self) -> None:
        self.answers: list[tuple[str, int, dict[str, str], bytes]] = []
        self.replaying = False
        self.position = 0

    def _received(self, response_dict: dict[str, Any] | None, event_name: str, **_: Any) -> None:
        if not self.replaying and response_dict is not None:
            operation = event_name.rsplit(".", 1)[-1]
            status, body = response_dict["status_code"], response_dict["body"]
            self.answers.append((operation, status, dict(response_dict["headers"]), body))

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        if not self.replaying:
            return None
        operation, status, headers, body = self.answers[self.position % len(self.answers)]
        if operation != event_name.rsplit(".", 1)[-1]:
            raise RuntimeError(f"recorded {operation}, the service now sends {event_name}")
        self.position += 1
        url, request.url = request.url, _NOWHERE
        return AWSResponse(url, status, headers, _Body(body))


@contextlib.contextmanager
def answered_from_recording(record: Callable[[], object]) -> Iterator[Recording]:
    """Record DynamoDB's answers to ``record()``; inside the block, give them back in order."""
    recording = Recording()
    clients = dynamodb_clients()
    for client in clients:
        events = client.meta.events
        events.register("response-received.dynamodb", recording._received, unique_id="bench-rec")
        events.register_first("before-send.dynamodb", recording._before_send, unique_id="bench-ans")
    try:
        record()
        recording.replaying = True
        yield recording
    finally:
        for client in clients:
            client.meta.events.unregister("response-received.dynamodb", unique_id="bench-rec")
            client.meta.events.unregister("before-send.dynamodb", unique_id="bench-ans")


@dataclass
class PageResult:
    what: str
    name: str
    counts: dict[int, Counts]
    timings: dict[int, Timing]
    recorded: dict[int, Timing] = field(default_factory=dict)


def measure_pages(client: Client, sizes: tuple[int, int], iterations: int) -> list[PageResult]:
    """One page (limit 100) of each paginated route with ``sizes`` records stored."""
    with mock_aws():
        models.create_tables()
        world = make_world(client)
        pages = PageSubjects(log_of=new_id(), actor=new_id(), users=2)
        results: dict[str, PageResult] = {}
        for size in sizes:
            seed(pages, size)
            for what, sc, subject in page_scenarios(pages):
                world.subject = subject
                counted = count_scenario(world, sc)
                result = results.setdefault(what, PageResult(what, sc.name, {}, {}))
                result.counts[size] = counted.total
                result.timings[size] = time_scenario(world, sc, counted, iterations)
                request = functools.partial(send, world, sc.request(world, subject), sc.status)
                with answered_from_recording(request):
                    result.recorded[size] = time_scenario(world, sc, counted, iterations)
        return list(results.values())


# --- the table --------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    trips: str = "—"
    calls: str = "—"
    items: str = "—"
    median: str = "—"
    floor: str = "—"
    ratio: str = "—"
    target: str = "—"
    result: str = "—"


HEADER = (
    "measure",
    "round trips: all = authorizer + route",
    "DynamoDB calls per request",
    "items read: all = authorizer + route",
    "median",
    "floor: same calls bare",
    "ratio",
    "target",
    "result",
)


def _ops(counts: Counts) -> str:
    ops = counts.operations()
    return ", ".join(f"{op} {n}" for op, n in ops.items()) or "none"


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def judge(sc: Scenario, counted: Counted) -> tuple[list[str], list[str]]:
    """A route's round-trip targets, and those its counts miss."""
    authorizer, route = counted.authorizer, counted.route
    transactions = route.operations()["TransactWriteItems"]
    reads = route.round_trips - transactions
    misses = []
    target = []
    if sc.credential:
        target.append(f"authorizer ≤ {MAX_AUTHORIZER_TRIPS}")
        alone = counted.decide.round_trips if counted.decide is not None else 0
        if max(authorizer.round_trips, alone) > MAX_AUTHORIZER_TRIPS:
            misses.append(f"authorizer {max(authorizer.round_trips, alone)}")
    if sc.kind == "read":
        target.append(f"route ≤ {MAX_ROUTE_READS} read")
        if route.round_trips > MAX_ROUTE_READS:
            misses.append(f"route {route.round_trips} round trips")
    else:
        target.append(f"{CHANGE_TRANSACTIONS} TransactWriteItems + ≤ {MAX_ROUTE_READS} read")
        if transactions != CHANGE_TRANSACTIONS:
            misses.append(f"{transactions} TransactWriteItems")
        if reads > MAX_ROUTE_READS:
            misses.append(f"{reads} reads")
    return target, misses


def route_row(sc: Scenario, counted: Counted, timing: Timing) -> Row:
    """A route's counts and latency, judged against the issue's targets."""
    authorizer, route = counted.authorizer, counted.route
    trips = f"{counted.total.round_trips} = {authorizer.round_trips} + {route.round_trips}"
    if counted.decide is not None and (counted.decide.operations() != authorizer.operations()):
        trips += f" (decide alone: {counted.decide.round_trips})"
    target, misses = judge(sc, counted)
    return Row(
        measure=sc.name,
        trips=trips,
        calls=_ops(counted.total),
        items=f"{counted.total.items_read} = {authorizer.items_read} + {route.items_read}",
        median=_ms(timing.route_ms),
        floor=_ms(timing.floor_ms),
        ratio=f"{timing.ratio:.2f}",
        target="; ".join(target),
        result="miss: " + ", ".join(misses) if misses else "pass",
    )


def authorizer_rows(world: World, iterations: int, cpu: AuthorizerCpu) -> list[Row]:
    """``auth.decide`` alone: steady state, first use of a key in its hour, access token."""
    rows = []
    fresh_key = f"Bearer {auth.make_api_key(SYSTEM, world.admin.id, name='fresh')['key']}"
    first_use = count_decide(fresh_key)
    cases = [
        ("auth.decide, API key", world.api_key_header, cpu.api_key_pure_us, cpu.api_key_decide_us),
        ("auth.decide, access token", world.token_header, cpu.token_pure_us, cpu.token_decide_us),
    ]
    for name, header, pure, decide in cases:
        counts = count_decide(header)
        timing = time_decide(header, counts, iterations)
        ok = counts.round_trips <= MAX_AUTHORIZER_TRIPS
        rows.append(
            Row(
                measure=name,
                trips=f"{counts.round_trips} = {counts.round_trips} + 0",
                calls=_ops(counts),
                items=f"{counts.items_read} = {counts.items_read} + 0",
                median=_ms(timing.route_ms),
                floor=_ms(timing.floor_ms),
                ratio=f"{timing.ratio:.2f}",
                target=f"authorizer ≤ {MAX_AUTHORIZER_TRIPS}",
                result="pass" if ok else f"miss: {counts.round_trips}",
            )
        )
        rows.append(
            Row(
                measure=f"{name}: CPU per decision",
                median=f"{pure:.1f} µs pure parts",
                floor=f"{decide:.1f} µs decide() CPU minus bare read CPU",
            )
        )
    ok = first_use.round_trips <= MAX_AUTHORIZER_TRIPS
    rows.insert(
        2,
        Row(
            measure="auth.decide, API key, first use in its hour",
            trips=f"{first_use.round_trips} = {first_use.round_trips} + 0",
            calls=_ops(first_use),
            items=f"{first_use.items_read} = {first_use.items_read} + 0",
            target=f"authorizer ≤ {MAX_AUTHORIZER_TRIPS}",
            result="pass" if ok else f"miss: {first_use.round_trips} (last_used write)",
        ),
    )
    return rows


def import_row(times: ImportTimes) -> Row:
    app_ms, floor_ms = statistics.median(times.app_ms), statistics.median(times.floor_ms)
    how = "byte code cached" if times.cached else "as packaged for Lambda"
    return Row(
        measure=f"cold `{APP_IMPORT}` vs `{FLOOR_IMPORT}`, {how}",
        median=f"{app_ms:.1f} ms (min {min(times.app_ms):.1f})",
        floor=f"{floor_ms:.1f} ms (min {min(times.floor_ms):.1f})",
        ratio=f"{times.ratio:.2f} (pairs: {times.paired_ratio:.2f})",
        target=f"ratio ≤ {MAX_IMPORT_RATIO}",
        result="pass" if times.ratio <= MAX_IMPORT_RATIO else "miss",
    )


def page_rows(result: PageResult, sizes: tuple[int, int]) -> list[Row]:
    """A paginated route at two sizes: on moto, then with moto's answers recorded.

    The target is judged on the second: moto's own time for a page grows with
    the table (its floor column shows by how much), DynamoDB's does not.
    """
    small, large = sizes
    counts = [result.counts[small], result.counts[large]]

    def trips(c: Counts) -> str:
        return f"{c.round_trips} = {c.part(True).round_trips} + {c.part(False).round_trips}"

    def items(c: Counts) -> str:
        return f"{c.items_read} = {c.part(True).items_read} + {c.part(False).items_read}"

    rows = []
    for store, timings in (
        ("moto", result.timings),
        ("answers recorded from moto", result.recorded),
    ):
        before, after = timings[small], timings[large]
        ratio = after.route_ms / before.route_ms
        floor_ratio = after.floor_ms / before.floor_ms
        judged = store != "moto"
        rows.append(
            Row(
                measure=f"{result.name} page of {PAGE}, {small:,} → {large:,} {result.what}; "
                f"store: {store}",
                trips=f"{trips(counts[0])} → {trips(counts[1])}",
                calls=f"{_ops(counts[0])} → {_ops(counts[1])}",
                items=f"{items(counts[0])} → {items(counts[1])}",
                median=f"{before.route_ms:.2f} → {after.route_ms:.2f} ms",
                floor=f"{before.floor_ms:.2f} → {after.floor_ms:.2f} ms (x{floor_ratio:.2f})",
                ratio=f"{ratio:.2f}",
                target=f"ratio ≤ {MAX_PAGE_RATIO}" if judged else "— (moto's growth)",
                result=("pass" if ratio <= MAX_PAGE_RATIO else "miss") if judged else "—",
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        cells = [
            row.measure,
            row.trips,
            row.calls,
            row.items,
            row.median,
            row.floor,
            row.ratio,
            row.target,
            row.result,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = os.cpu_count()
    return f"Python {platform.python_version()}, {cpu}, {cores} cores"


def command() -> str:
    python = sys.executable
    if python.startswith(str(ROOT) + os.sep):
        python = os.path.relpath(python, ROOT)
    run = f"{python} -m bench.benchmark"
    return f"`make bench` (runs `{run}`)" if os.environ.get("MAKELEVEL") else f"`{run}`"


@contextlib.contextmanager
def quiet_request_log() -> Iterator[None]:
    """Send the per-request log lines to /dev/null: they are still formatted and written."""
    with open(os.devnull, "w") as devnull:
        handlers = [h for h in requestlog.LOGGER.handlers if hasattr(h, "setStream")]
        streams = [h.setStream(devnull) for h in handlers]
        try:
            yield
        finally:
            for handler, stream in zip(handlers, streams, strict=True):
                handler.setStream(stream)


def report(
    rows: list[Row],
    offenders: list[tuple[str, float, str]],
    args: argparse.Namespace,
    seconds: float,
) -> str:
    """BENCHMARKS.md: how it was run, the one table, and what the figures are."""
    extra = ", ".join(f"{name} {ms:.1f} ms (via {via})" for name, ms, via in offenders)
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/benchmark.py`; do not edit by hand.",
        "",
        f"- Command: {command()}",
        f"- Date: {datetime.now(UTC).isoformat(timespec='seconds').replace('+00:00', 'Z')}",
        f"- Machine: {machine()} (shared: figures vary from run to run)",
        f"- Run: {args.iterations} timed requests per route and {args.page_iterations} per "
        f"page size, each after {WARMUP} untimed ones, medians; {args.import_runs} fresh "
        f"interpreters per import; whole run {seconds:.0f} s",
        "",
        table(rows),
        "",
        "How to read it:",
        "",
        "- Everything runs in one process: DynamoDB is moto (`mock_aws`), HTTP is "
        "`chalice.test.Client`, whose local gateway runs the authorizer before each route. "
        "Latencies are moto's, not DynamoDB's; round trips and items read carry over.",
        "- Round trips and items read are counted with botocore hooks "
        "(`before-call.dynamodb`, `after-call.dynamodb`) on the client of "
        "`models.connection()` and on each model's client; items read are `Item` (GetItem), "
        "the sizes of `Responses` (BatchGetItem) and `Count` (Query, Scan). A call made while "
        "`auth.decide` is on the stack counts as the authorizer's; `auth.decide` is also "
        "counted alone, shown only where the two differ.",
        "- Routes run as an admin with an API key used within the hour (its `last_used` write "
        "is done), except the access token row and `POST /login/token` (a session cookie and "
        "its CSRF token; no authorizer). Changes run on a fresh user each time.",
        "- Floor: the same DynamoDB calls with the same parameters (recorded from the route), "
        "issued bare with the low-level botocore client of `models.connection()`; for a change, "
        "on a fresh record made the same way, its ids substituted. Ratio = median / floor.",
        "- Authorizer CPU is `time.process_time` per call, median of 5 batches. 'Pure parts' "
        "is the decision with its storage read done beforehand: for an API key the header and "
        "key parsing, SHA-256 of the secret, constant-time compare, expiry and last-use checks, "
        "permission expansion and context strings; for an access token the header parsing, "
        "`sessions.decode_access_token` (HS256 check and claims registry), the session expiry, "
        "permission expansion and context strings. The second figure is the CPU of a whole "
        "`auth.decide` less the CPU of its BatchGetItem issued bare (so PynamoDB's request "
        "building and item decoding count as the authorizer's; moto's work does not).",
        f"- Pages: one page (limit {PAGE}) with {PAGE:,} and with {args.records:,} stored users, "
        "log entries of one record, and actions of one actor, seeded with PynamoDB "
        "`batch_write`; ratio = median at the large size / median at the small size. Each "
        "is measured twice. 'store: moto' is moto as it is: for every Query or Scan it "
        "reads and sorts the whole table (or partition), so its own time grows with what is "
        "stored, as the floor column's ratio shows; DynamoDB reads only the page. 'store: "
        "answers recorded from moto' records moto's answers to one request at each size, "
        "then gives them back in order in moto's place (a `before-send` hook), so the "
        "store's time stays constant and the ratio is the growth of the service's own work "
        "with a page: the target is judged there. The counts show the same calls and "
        "items read at both sizes.",
        "- Import: `python -c` in a fresh interpreter, timing only the import statement "
        "(`time.perf_counter` around it), app and floor alternating, median and minimum of "
        f"the runs, measured before anything else in the run; the floor is `{FLOOR_IMPORT}`. "
        "The ratio is of the medians; '(pairs: ...)' is the median of the ratios of "
        "back-to-back runs, less swayed by other work on the machine. "
        "'Byte code cached': every module's .pyc is written to a temporary "
        "PYTHONPYCACHEPREFIX by an untimed first run, then read. 'As packaged for Lambda': "
        "PYTHONDONTWRITEBYTECODE=1 and the app imported from a copy of `app.py` and "
        "`chalicelib/` as `make package` ships them (chalicelib's .pyc checked against the "
        "source's hash, app.py compiled on every import), the libraries' installed .pyc "
        "files read; this is what each cold start pays.",
        f"- Import diagnosis (`-X importtime`, one run each): self time of the packages "
        f"`{APP_IMPORT}` loads that the floor does not, with the service module that first "
        f"pulls each in: {extra}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=25, help="timed requests per route")
    parser.add_argument("--page-iterations", type=int, default=15, help="per page size")
    parser.add_argument("--records", type=int, default=20_000, help="the large page size")
    parser.add_argument("--import-runs", type=int, default=15, help="interpreters per import")
    parser.add_argument("--cpu-calls", type=int, default=2000, help="decisions per CPU batch")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache_dir:
        # First, while this process is small and idle.
        imports = [import_times(args.import_runs, cached, cache_dir) for cached in (True, False)]
        offenders = import_offenders(cache_dir)
    rows: list[Row] = []
    sizes = (PAGE, args.records)
    with quiet_request_log(), Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        with mock_aws():
            models.create_tables()
            world = make_world(client)
            seed(PageSubjects(log_of=new_id(), actor=new_id(), users=2), PAGE)
            for sc in scenarios():
                counted = count_scenario(world, sc)
                timing = time_scenario(world, sc, counted, args.iterations)
                rows.append(route_row(sc, counted, timing))
            cpu = authorizer_cpu(world, args.cpu_calls)
            rows += authorizer_rows(world, args.iterations, cpu)
        pages = measure_pages(client, sizes, args.page_iterations)
    rows += [row for result in pages for row in page_rows(result, sizes)]
    rows += [import_row(times) for times in imports]

    text = report(rows, offenders, args, time.perf_counter() - started)
    print(text)
    args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
