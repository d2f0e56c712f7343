"""DynamoDB Local as the local store: ``create-tables`` converging on it, ``make
run``'s kept data and its admin made once, ``make admin-key``, and the one-line
reasons it cannot start."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bench import environment
from bench import local_store as bench_local_store
from chalicelib.storage import models
from devtools import admin_key, dynamodb_local, run_local
from devtools.local_stack import ROOT, Store, fresh_prefix, manage, service_env
from ops import cli

PREFIX = environment.ENVIRON["TABLE_PREFIX"]  # the tables' names as bound at import
TABLES = {model.Meta.table_name.removeprefix(PREFIX) for model in models.MODELS}
EXPIRING = {model.Meta.table_name.removeprefix(PREFIX) for model in models.TTL_MODELS}
EXPECTED = {name: name in EXPIRING for name in TABLES}  # each table: whether TTL is on


@pytest.fixture
def env(local_store: Store) -> dict[str, str]:
    """The service's environment on DynamoDB Local, with tables of its own (none yet)."""
    return service_env(local_store.endpoint, TABLE_PREFIX=fresh_prefix("users-store-"))


def create_tables(env: dict[str, str]) -> str:
    """``manage.py create-tables`` on the store ``env`` names, run in this process
    (``ops.cli.main``, what manage.py runs; the first test runs manage.py itself):
    what it printed. A fresh interpreter for each took most of these tests' time."""
    run_local.use_store(env)  # the AWS credentials the store is reached with
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["create-tables"], environ=env) == 0
    return printed.getvalue()


def dynamodb(env: dict[str, str]) -> Any:
    """A DynamoDB client of the store ``env`` names."""
    return boto3.client(
        "dynamodb",
        endpoint_url=env["DYNAMODB_ENDPOINT"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def tables_with_ttl(env: dict[str, str]) -> dict[str, bool]:
    """Each of the service's tables in the store: whether TTL is on for it."""
    client = dynamodb(env)
    prefix = env["TABLE_PREFIX"]
    names = [n for n in client.list_tables()["TableNames"] if n.startswith(prefix)]
    status = {
        name: client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        for name in names
    }
    return {
        name.removeprefix(prefix): described["TimeToLiveStatus"] == "ENABLED"
        and described.get("AttributeName") == "expires_at"
        for name, described in status.items()
    }


# -- create-tables converges ------------------------------------------------------


def test_create_tables_on_an_empty_store_makes_every_table_with_ttl(env: dict[str, str]) -> None:
    made = manage(env, "create-tables")
    assert tables_with_ttl(env) == EXPECTED
    assert '"created"' in made


def test_create_tables_on_a_store_with_every_table_changes_nothing(env: dict[str, str]) -> None:
    create_tables(env)
    again = create_tables(env)
    assert again.strip() == '{"created": []}'
    assert tables_with_ttl(env) == EXPECTED


def test_create_tables_turns_ttl_on_where_a_table_has_none(env: dict[str, str]) -> None:
    create_tables(env)
    client = dynamodb(env)
    for name in EXPIRING:
        client.update_time_to_live(
            TableName=f"{env['TABLE_PREFIX']}{name}",
            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
        )
    assert not any(tables_with_ttl(env).values())

    assert create_tables(env).strip() == '{"created": []}'
    assert tables_with_ttl(env) == EXPECTED


def test_create_tables_makes_only_the_missing_table(env: dict[str, str]) -> None:
    create_tables(env)
    sessions = f"{env['TABLE_PREFIX']}sessions"
    dynamodb(env).delete_table(TableName=sessions)
    assert create_tables(env).strip() == f'{{"created": ["{sessions}"]}}'
    assert tables_with_ttl(env) == EXPECTED


@pytest.fixture
def env_on_own_store() -> Iterator[dict[str, str]]:
    """As ``env``, on a DynamoDB Local of its own: DynamoDB Local builds a new index
    in a background job whose wait grows with every table the store holds (20 s
    beside 60 other tables, three minutes beside 360), and the run's shared store
    holds hundreds."""
    with dynamodb_local.dynamodb_local() as store:
        yield service_env(store.endpoint, TABLE_PREFIX=fresh_prefix("users-store-"))


def test_create_tables_adds_an_index_a_table_made_before_it_lacks(
    env_on_own_store: dict[str, str],
) -> None:
    """A store kept from before ``sessions.by_user`` existed gets it, sessions kept."""
    env = env_on_own_store
    create_tables(env)
    client = dynamodb(env)
    sessions = f"{env['TABLE_PREFIX']}sessions"
    client.delete_table(TableName=sessions)
    client.create_table(
        TableName=sessions,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=sessions, Item={"id": {"S": "kept"}})
    assert create_tables(env).strip() == '{"created": []}'
    indexes = client.describe_table(TableName=sessions)["Table"]["GlobalSecondaryIndexes"]
    assert [(i["IndexName"], i["IndexStatus"]) for i in indexes] == [("by_user", "ACTIVE")]
    assert client.get_item(TableName=sessions, Key={"id": {"S": "kept"}})["Item"]
    assert tables_with_ttl(env) == EXPECTED


# -- make run's admin, made once, and make admin-key -------------------------------


@pytest.fixture
def tables(env: dict[str, str]) -> Iterator[dict[str, str]]:
    create_tables(env)
    yield env


def test_admin_is_made_once_and_its_key_shown_only_then(tables: dict[str, str]) -> None:
    made = run_local.admin_once(tables)
    assert made is not None
    assert made["key"]
    assert run_local.admin_once(tables) is None
    assert run_local.admin_id(tables) == made["id"]


def test_admin_key_makes_a_new_key_and_revokes_the_earlier_ones(tables: dict[str, str]) -> None:
    first = run_local.admin_once(tables)
    assert first is not None
    renewed = admin_key.new_key(tables)
    assert renewed["user_id"] == first["id"]
    assert renewed["key"] != first["key"]
    assert models.User.get(first["id"]).api_key_ids == {renewed["id"]}


def test_admin_key_without_an_admin_says_make_run_makes_it(tables: dict[str, str]) -> None:
    with pytest.raises(admin_key.NoAdmin, match="make run makes it"):
        admin_key.new_key(tables)


def test_admin_key_finds_the_running_store_and_not_a_stopped_one(
    local_store: Store, tmp_path: Path
) -> None:
    record = tmp_path / "store.json"
    assert admin_key.running_store(record) is None
    running = {"DYNAMODB_ENDPOINT": local_store.endpoint, "TABLE_PREFIX": "users-local-"}
    record.write_text(json.dumps(running))
    assert admin_key.running_store(record) == running
    with socket.socket() as closed:  # bound and never listening: it refuses connections
        closed.bind(("127.0.0.1", 0))
        stopped = {**running, "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{closed.getsockname()[1]}"}
        record.write_text(json.dumps(stopped))
        assert admin_key.running_store(record) is None


def test_kept_data_outlives_the_store_and_fresh_runs_in_memory(tmp_path: Path) -> None:
    data = tmp_path / "kept"
    with dynamodb_local.dynamodb_local(data=data) as store:
        env = service_env(store.endpoint, TABLE_PREFIX="users-kept-")
        create_tables(env)
        first = run_local.admin_once(env)
    with dynamodb_local.dynamodb_local(data=data) as store:
        env = service_env(store.endpoint, TABLE_PREFIX="users-kept-")
        assert create_tables(env).strip() == '{"created": []}'
        assert first is not None
        assert run_local.admin_once(env) is None
        assert run_local.admin_id(env) == first["id"]
    assert "data kept in" in run_local.kept_or_fresh(data)
    assert "FRESH=1" in run_local.kept_or_fresh(data)
    assert "in memory" in run_local.kept_or_fresh(None)


# -- what is missing, said in one line ----------------------------------------------


def test_missing_java_is_named_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(dynamodb_local.StoreMissing, match="Java is missing") as raised:
        dynamodb_local.java()
    assert "apt-get install" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_jar_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(dynamodb_local.StoreMissing, match="make dynamodb-local"):
        dynamodb_local.checked_jar(tmp_path / "DynamoDBLocal.jar", dynamodb_local.CHECKSUM)


def test_a_jar_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    jar = tmp_path / "DynamoDBLocal.jar"
    jar.write_bytes(b"not the jar")
    with pytest.raises(dynamodb_local.StoreMissing, match="not the pinned"):
        dynamodb_local.checked_jar(jar, dynamodb_local.CHECKSUM)
    checksum = tmp_path / "DynamoDBLocal.jar.sha256"
    checksum.write_text(f"{hashlib.sha256(b'not the jar').hexdigest()}  DynamoDBLocal.jar\n")
    assert dynamodb_local.checked_jar(jar, checksum) == jar


def test_the_installed_jar_is_the_pinned_one() -> None:
    assert dynamodb_local.checked_jar() == dynamodb_local.JAR


def test_a_store_on_a_port_another_process_took_is_refused_not_used() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refused = pytest.raises(RuntimeError, match=f"port {port} .* taken")
        with refused, dynamodb_local.dynamodb_local(port=port):
            pass


def test_a_port_counts_as_served_by_the_process_that_listens_on_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as mine:
        port = mine.getsockname()[1]
        assert dynamodb_local.listens(os.getpid(), port)
        other = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE)
        try:
            assert not dynamodb_local.listens(other.pid, port)
        finally:
            other.communicate(b"\n", timeout=30)
    assert not dynamodb_local.listens(os.getpid(), port)


# -- the benchmark's import, at smoke size (make bench runs 1,000 and 10,000) --------


def test_tracker_shaped_export_is_imported_whole(local_store: Store, tmp_path: Path) -> None:
    result = bench_local_store.measure_import(25, local_store, tmp_path)
    assert result.imported == 25
    assert result.store_peak_bytes > 0
    assert bench_local_store.import_row(result).result == "pass"


# -- one store for the whole run, shared by the processes handed its folder ----------


def test_a_process_handed_the_runs_folder_reaches_the_runs_store(
    local_store: Store, local_store_folder: Path
) -> None:
    """As a second pytest-xdist worker does: it starts no store, it finds this one."""
    found = subprocess.run(
        [sys.executable, "-c", FIND_SHARED, str(local_store_folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(found.stdout) == [local_store.endpoint, local_store.pid]


FIND_SHARED = """import json, sys
from pathlib import Path
from devtools import dynamodb_local
store = dynamodb_local.shared(Path(sys.argv[1]))
print(json.dumps([store.endpoint, store.pid]))
"""


def test_stopping_the_shared_store_ends_it_though_another_process_started_it(
    tmp_path: Path,
) -> None:
    """As pytest-xdist's controller stops the store a worker started: a stand-in
    named as DynamoDB Local's command line names it, whose parent has ended."""
    pid = orphan("DynamoDBLocal.jar")
    dynamodb_local.write_record(tmp_path, Store("http://127.0.0.1:9", pid))
    dynamodb_local.stop_shared(tmp_path)
    assert not running(pid)


def test_a_recorded_process_that_is_no_store_is_left_running(tmp_path: Path) -> None:
    """Its number was taken by another process since: that one is not stopped."""
    pid = orphan("something-else")
    try:
        dynamodb_local.write_record(tmp_path, Store("http://127.0.0.1:9", pid))
        dynamodb_local.stop_shared(tmp_path)
        assert running(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def orphan(argument: str) -> int:
    """The pid of a sleeping process with ``argument`` on its command line, whose
    parent has ended (so this process is not its parent)."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", argument]
    # Its output goes elsewhere: pipes it held open would keep the starter's open too.
    quiet = "stdout=s.DEVNULL, stderr=s.DEVNULL"
    starter = f"import subprocess as s; print(s.Popen({sleeper!r}, {quiet}).pid)"
    started = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(started.stdout)
    # Popen returns once the sleeper's exec has begun: its command line may read empty
    # for a moment after (on a busy machine, long enough for the test to read it).
    deadline = time.monotonic() + 10
    while argument.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the sleeper never showed its command line"
        time.sleep(0.01)
    return pid


def running(pid: int) -> bool:
    """True while process ``pid`` runs: it exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
