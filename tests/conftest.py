"""Fixtures: moto-backed tables, the Chalice test client, users with API keys, and
DynamoDB Local for the tests that serve HTTP.

Every test starts with the service on the test settings (``bench/environment.py``,
shared with the benchmark); ``configure`` gives it others.
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import NodeId
from chalice.test import Client
from moto import mock_aws
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.model_instances import reset_model_data
from moto.core.models import MockAWS

from app import app
from bench import environment
from chalicelib import config
from chalicelib.http import container
from chalicelib.identity import id_tokens
from chalicelib.ids import SYSTEM
from chalicelib.permissions import PERMISSIONS
from chalicelib.records import apikeys
from chalicelib.records.record import MANAGER_FIELDS
from chalicelib.records.users import NewUser, create_user
from chalicelib.storage import models
from devtools import dynamodb_local
from devtools.local_stack import Store
from tests import moto_dynamodb

# The browser harness: Chromium through Playwright, the ``browser_page`` fixture.
pytest_plugins = ["tests.browser"]

ROOT = Path(__file__).resolve().parent.parent
ALL_PERMISSIONS = list(PERMISSIONS)
REGION = environment.ENVIRON["AWS_DEFAULT_REGION"]

environment.use()


# A test process allocates and frees many small objects per request (moto's items and
# their attribute values above all): the cycle collector looks at the young ones every
# 7,000 allocations instead of Python's 700, and at everything a tenth as often.
YOUNG_COLLECTION_THRESHOLD = 7_000


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what the test process holds once its tests are collected.

    The modules imported and the tests collected live as long as the process; left
    to the cycle collector, each of its full collections (some thirty in a worker's
    run) walks them again, and so does its last one at exit, which held the run's end
    back by seconds. Frozen, the collections walk what the tests made since; cycles
    among the tests' own objects are still found and freed."""
    gc.collect()
    gc.freeze()
    atexit.register(gc.freeze)
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each ``xdist_group`` on one worker under pytest 9.2.

    ``--dist loadgroup`` (the Makefile's) names a test's group by a suffix that
    pytest-xdist 3.8 writes into the test's ``_nodeid``, which pytest 9.2 no longer
    reads (pytest-xdist issue 1386): the groups were spread over both workers, and
    each built the servers of a module made once for it. The suffixed id is carried
    over to the one pytest reads, as before."""
    for item in items:
        suffixed = vars(item).get("_nodeid")
        if isinstance(suffixed, str) and suffixed != item.nodeid:
            item._id = NodeId.parse(suffixed)


@pytest.fixture(autouse=True)
def service_settings() -> None:
    """The service on the test settings and secrets and the system's clock, at the
    start of every test, remembering no API key's use, as a new container."""
    container.use(environment.settings(), environment.secrets())
    container.use_clock(None)
    container.forget_key_uses()


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make package``, as docs/DEPLOY.md runs it, once per test session: the
    template ``sam.yaml`` and the code ``deployment.zip``."""
    out = tmp_path_factory.mktemp("package") / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "eu-north-1"}  # chalice package needs a region
    command = ["make", "--no-print-directory", "package", f"OUT={out}"]
    # chalice package builds its dependencies into one cache file under
    # .chalice/deployments/; two workers packaging at once would read each
    # other's half-written zip, so they take turns.
    with (ROOT / ".chalice" / "package.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
        )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="session")
def local_store(request: pytest.FixtureRequest, local_store_folder: Path) -> Iterator[Store]:
    """DynamoDB Local, the store of every test that serves HTTP: one for the whole
    run, as a JVM takes seconds of CPU to start. Under pytest-xdist the workers
    share it: the first whose test asks starts it and the controller stops it at
    the end (``pytest_configure_node``). Each server on it takes tables of its own
    (``fresh_prefix``)."""
    yield dynamodb_local.shared(local_store_folder)
    if hasattr(request.config, "workerinput"):
        dynamodb_local.leave_shared()  # the controller stops it, once every worker has ended
    else:
        dynamodb_local.stop_shared(local_store_folder)


@pytest.fixture(scope="session")
def local_store_folder(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Where the run's DynamoDB Local is recorded (``dynamodb_local.shared``): the
    folder pytest-xdist's controller handed every worker, or one of this process."""
    handed = getattr(request.config, "workerinput", {}).get("local_store")
    return Path(handed) if handed else tmp_path_factory.mktemp("local-store")


_SHARED_STORE = pytest.StashKey[Path]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist's controller, before a worker starts: hand it the folder where
    the run's one DynamoDB Local is recorded (``local_store``)."""
    stash = node.config.stash
    if _SHARED_STORE not in stash:
        stash[_SHARED_STORE] = Path(tempfile.mkdtemp(prefix="users-local-store-"))
    node.workerinput["local_store"] = str(stash[_SHARED_STORE])


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller, once every worker has ended: stop the run's DynamoDB Local."""
    folder = config.stash.get(_SHARED_STORE, None)
    if folder is not None:
        dynamodb_local.stop_shared(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def aws() -> Iterator[None]:
    """Empty tables in moto, for one test.

    The tables are made once per worker (and again after a test that opened a
    ``mock_aws`` of its own, which resets moto) and emptied in moto's backend
    before each test: making six tables costs about six times as much CPU.
    moto's mock stays started from one test using ``aws`` to the next
    (``moto_only_where_asked``), as starting it costs more than most tests.
    """
    if _MOTO.mock is None:
        _MOTO.mock = mock_aws()
        _MOTO.mock.start(reset=False)
    if len(moto_tables()) < len(models.MODELS):
        moto_dynamodb.install(REGION)
        models.create_tables()
    empty_tables()
    _Made.start()
    yield


class _MOTO:
    """moto's mock, while it is started for the tests using ``aws``."""

    mock: MockAWS | None = None


@pytest.fixture(autouse=True)
def moto_only_where_asked(request: pytest.FixtureRequest) -> None:
    """Stop moto's mock before a test that does not use ``aws``: it runs as it would
    without one (a ``mock_aws`` of its own starts from an empty account, botocore
    and ``requests`` reach real endpoints)."""
    if _MOTO.mock is not None and "aws" not in request.fixturenames:
        _MOTO.mock.stop(remove_data=False)
        _MOTO.mock = None


@pytest.fixture(scope="session", autouse=True)
def moto_stopped_at_the_end() -> Iterator[None]:
    """moto's mock stopped when the tests end."""
    yield
    if _MOTO.mock is not None:
        _MOTO.mock.stop(remove_data=False)
        _MOTO.mock = None


def empty_tables() -> None:
    """Remove every item from moto's tables (inside ``aws``), keeping the tables.

    moto also lists every object of its models it ever made (items among them, for
    its ``/moto-api/data.json``) until its mock is reset, which the ``aws`` fixture's
    mock, kept started from test to test, never is: the lists are emptied here, or a
    worker would hold every item of the run and its collector walk them all."""
    _Made.overwritten += 1
    for table in moto_tables():
        table.items.clear()
    reset_model_data()


def saved_items() -> dict[str, Any]:
    """A copy of every item in moto's tables (inside ``aws``), for ``restore_items``."""
    return {table.name: moto_dynamodb.copy_items(table.items) for table in moto_tables()}


def restore_items(saved: dict[str, Any]) -> None:
    """Put moto's tables back to the items ``saved_items`` copied, and nothing else."""
    _Made.overwritten += 1
    for table in moto_tables():
        table.items = moto_dynamodb.copy_items(saved[table.name])


def tables_empty() -> bool:
    """True when moto's tables hold no item (inside ``aws``)."""
    return not any(table.items for table in moto_tables())


def stored_items() -> dict[str, list[str]]:
    """Every item of every table in moto (inside ``aws``), as canonical JSON, in a
    stable order, as a scan would return it.

    Read from moto's tables themselves: a scan through the service's client
    serializes every item to the wire and parses it back, which cost the tests
    comparing the tables before and after a request most of their time."""
    return {
        table.name: sorted(
            json.dumps(item.to_json()["Attributes"], sort_keys=True) for item in table.all_items()
        )
        for table in moto_tables()
    }


def moto_tables() -> list[Any]:
    """moto's DynamoDB tables of the test account and region (none after a reset)."""
    backend = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][REGION]
    return list(backend.tables.values())


@pytest.fixture
def short_provider_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """For one test, the service gives up waiting for a provider's answer after a
    fifth of a second instead of its ``READ_TIMEOUT`` (3 s): the tests of a provider
    that takes the connection and never answers wait that time out, doing nothing."""
    monkeypatch.setattr(id_tokens, "HTTP_TIMEOUT", (id_tokens.CONNECT_TIMEOUT, 0.2))


@pytest.fixture
def configure() -> Iterator[Any]:
    """Factory: ``configure(NAME="value" or None, ...) -> Settings``: the service runs
    on settings and secrets built from the test environment with these variables set
    (or removed), each call adding to the last; the test settings again afterwards."""
    environ = dict(environment.ENVIRON)

    def apply(**variables: str | None) -> config.Settings:
        for name, value in variables.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        settings = config.load_settings(environ)
        container.use(settings, config.load_secrets(environ))
        return settings

    yield apply
    container.use(environment.settings(), environment.secrets())


@pytest.fixture
def client(aws: None) -> Iterator[Client]:
    """The Chalice test client on the ``test`` stage."""
    with Client(app, stage_name="test", project_dir=str(ROOT)) as test_client:
        yield test_client


class Account:
    """A user made for a test, with an API key."""

    def __init__(self, user_id: str, key: str, email: str) -> None:
        self.id = user_id
        self.key = key
        self.email = email

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as this user."""
        return {"Authorization": f"Bearer {self.key}"}

    def json_headers(self, **extra: str) -> dict[str, str]:
        """Authenticating headers for a JSON body."""
        return {**self.headers, "Content-Type": "application/json", **extra}


@pytest.fixture
def make_user(aws: None) -> Any:
    """Factory: ``make_user(permissions=[...], **fields) -> Account``; see ``_made``."""

    def make(permissions: list[str] | None = None, **fields: Any) -> Account:
        step = ("user", tuple(permissions or ()), repr(sorted(fields.items())))
        return _made(step, lambda: _new_account(permissions or [], **fields))

    return make


@pytest.fixture
def admin(aws: None) -> Account:
    """A user holding every permission, with an API key of its own; see ``_made``."""
    return _made(("admin",), lambda: _new_account(ALL_PERMISSIONS, name="Admin"))


def _new_account(permissions: list[str], **fields: Any) -> Account:
    """A user made as the service makes one, with an API key."""
    email = fields.pop("email", f"{secrets.token_hex(4)}@example.org")
    body = {"email": email, "name": fields.pop("name", "Test User"), **fields}
    body["permissions"] = permissions
    user = create_user(SYSTEM, NewUser(body, MANAGER_FIELDS))
    key = apikeys.make_api_key(SYSTEM, user.id, container.settings())["key"]
    return Account(user.id, key, email)


def _made(step: tuple[Any, ...], make: Callable[[], Account]) -> Account:
    """The account ``make`` makes: the fixtures' ``step`` (its kind and arguments).

    Making a user and its key (the record, its guards, log and search entries,
    the key and its log entry: two transactions) costs several times as much
    CPU as putting their items back. So while a test's tables hold only what
    ``admin`` and ``make_user`` made in it, each step's account and the items of
    every table are kept, per settings and the steps made so far
    (``saved_items``), and a later test taking the same steps from empty tables
    on the same settings and secrets gets them put back instead. It so starts
    from the same items as a test that made them, the same ids and keys in every
    such test, timestamps of when they were first made. Once anything else may
    have written (a request, ``restore_items``), the steps made are forgotten:
    later accounts of the test are made for it.
    """
    # The secrets' text: they are not hashable, and a key's hash depends on them.
    steps = (*_Made.steps, (container.settings(), repr(container.secrets()), *step))
    before, mine_before = moto_dynamodb.writes()
    following = _Made.following(before)
    tables = tuple(sorted(table.name for table in moto_tables()))
    kept = _MADE.get((tables, steps)) if following else None
    if kept is not None:
        account = kept[0]
        restore_items(kept[1])
    else:
        account = make()
        after, mine_after = moto_dynamodb.writes()
        following = following and after - before == mine_after - mine_before  # no other thread
        if following:
            _MADE[tables, steps] = (account, saved_items())
    if following:
        _Made.steps, _Made.state = steps, _Made.now()
    else:
        _Made.state = None
    return Account(account.id, account.key, account.email)


class _Made:
    """The steps ``_made`` took in this test's tables, and their state after the
    last (None: something else may have written since)."""

    steps: tuple[Any, ...] = ()
    state: tuple[int, int] | None = None
    overwritten = 0  # times the conftest's helpers replaced the tables' items

    @classmethod
    def start(cls) -> None:
        """The tables are empty: no step taken yet."""
        cls.steps, cls.state = (), cls.now()

    @classmethod
    def now(cls) -> tuple[int, int]:
        return moto_dynamodb.writes()[0], cls.overwritten

    @classmethod
    def following(cls, writes: int) -> bool:
        """True when nothing wrote to the tables since the last step."""
        return cls.state == (writes, cls.overwritten)


# Per the tables in moto and the steps taken from their emptiness (each with the
# settings and secrets it was taken on): the last step's account and the items of
# every table after it. An entry is written once, after its steps' last but one
# was taken or put back, and never replaced.
_MADE: dict[tuple[Any, ...], tuple[Account, dict[str, Any]]] = {}


def assert_error(response: Any, status: int, code: str) -> None:
    """The response has ``status`` and the error body ``{"Code": code, "Message": ...}``."""
    assert response.status_code == status, response.body
    body = json.loads(response.body)
    assert set(body) == {"Code", "Message"}, body
    assert body["Code"] == code, body
    assert isinstance(body["Message"], str) and body["Message"], body
