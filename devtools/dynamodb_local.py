"""DynamoDB Local, Amazon's DynamoDB emulator: the store of ``make run`` and of the
tests that serve HTTP.

The jar is not in this repository: ``make dynamodb-local`` installs the npm package
``amplify-dynamodb-simulator`` at the exact version ``devtools/dynamodb-local/``'s
lock file pins (its ``emulator/`` folder holds DynamoDB Local 1.25.1). Before each
start the jar's SHA-256 is checked against ``DynamoDBLocal.jar.sha256`` beside that
lock file. It runs on the machine's Java (17 or later), compiled by the JIT's first
tier only, with telemetry off, one database for every credential and region
(``-sharedDb``), CORS limited to its own origin, and either in memory or in a
folder that outlives the run (``-dbPath``). Several processes can share one
(``shared``): the test run's workers do.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import STDOUT, Popen
from typing import IO

from devtools.local_stack import HOST, ROOT, Store, free_port, port_is_free, stop, wait_for

PACKAGE = ROOT / "devtools" / "dynamodb-local"
EMULATOR = PACKAGE / "node_modules" / "amplify-dynamodb-simulator" / "emulator"
JAR = EMULATOR / "DynamoDBLocal.jar"
CHECKSUM = PACKAGE / "DynamoDBLocal.jar.sha256"
STARTUP_TIMEOUT = 120.0  # a JVM on two busy cores
BIND_ATTEMPTS = 5
# The JIT's first tier only: the store is started often and asked little, and the
# second tier's compiling cost more CPU than it saved (README, "How it runs").
JVM_OPTIONS = ["-XX:TieredStopAtLevel=1"]


class StoreMissing(RuntimeError):
    """DynamoDB Local cannot start here; the message says what is missing, in one line."""


def java() -> str:
    """The ``java`` on PATH; StoreMissing when there is none."""
    found = shutil.which("java")
    if found is None:
        raise StoreMissing(
            "Java is missing: DynamoDB Local (the local store) needs a Java runtime, 17 or "
            "later; install it with 'sudo apt-get install -y openjdk-17-jre-headless'"
        )
    return found


def checked_jar(jar: Path = JAR, checksum: Path = CHECKSUM) -> Path:
    """``jar``, once its SHA-256 matches the one pinned in ``checksum``; StoreMissing
    when it is absent or differs."""
    if not jar.is_file():
        raise StoreMissing("DynamoDB Local is not installed: run 'make dynamodb-local'")
    expected = checksum.read_text(encoding="ascii").split()[0]
    actual = hashlib.sha256(jar.read_bytes()).hexdigest()
    if actual != expected:
        raise StoreMissing(
            f"{jar.name} has SHA-256 {actual}, not the pinned {expected}: reinstall it "
            "with 'rm -rf devtools/dynamodb-local/node_modules; make dynamodb-local'"
        )
    return jar


def command(port: int, data: Path | None = None) -> list[str]:
    """The command line of DynamoDB Local on ``port``: in memory, or keeping its
    database in the folder ``data``."""
    jar = checked_jar()
    storage = ["-dbPath", str(data)] if data is not None else ["-inMemory"]
    return [
        java(),
        *JVM_OPTIONS,
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-port",
        str(port),
        *storage,
        "-sharedDb",
        "-disableTelemetry",
        # No web page may call it: the requests a browser would send need CORS.
        "-cors",
        f"http://{HOST}:{port}",
    ]


@contextmanager
def dynamodb_local(port: int | None = None, data: Path | None = None) -> Iterator[Store]:
    """DynamoDB Local on 127.0.0.1, in memory or keeping its data in ``data`` (made
    if missing); stopped when the block ends. Raises StoreMissing before starting
    anything when Java or the jar is missing."""
    process, store = start(port, data)
    try:
        yield store
    finally:
        stop(process)


def start(port: int | None = None, data: Path | None = None) -> tuple[Popen[bytes], Store]:
    """Start DynamoDB Local as ``dynamodb_local`` does and wait until it serves; the
    caller stops the process.

    It cannot be handed a socket nor pick its own port, so without ``port`` it is
    started on one that was free a moment ago; when another process took that port
    in between, it is started again on another (``BIND_ATTEMPTS`` in all)."""
    command(port or 0, data)  # checks Java and the jar before anything starts
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
    for _ in range(1 if port else BIND_ATTEMPTS):
        chosen = port or free_port()
        # Its output is read here only; the process keeps writing to the file.
        with tempfile.TemporaryFile() as log:
            process = Popen(command(chosen, data), cwd=EMULATOR, stdout=log, stderr=STDOUT)
            try:
                if _serves(process, chosen, log):
                    return process, Store(f"http://{HOST}:{chosen}", process.pid)
            except BaseException:
                stop(process)
                raise
            stop(process)
    raise RuntimeError(f"DynamoDB Local found port {chosen} on {HOST} taken, at every try")


# -- one store for several processes (the test run's workers) -----------------------

RECORD = "store.json"
PROC = Path("/proc")  # Linux's view of the processes
# Processes this one started for others to share: kept referenced, as they outlive
# it (``shared``), and Popen warns when it forgets a running child.
_SHARED: list[Popen[bytes]] = []


def shared(folder: Path) -> Store:
    """The in-memory DynamoDB Local that the processes handed ``folder`` share: the
    first to ask starts it and records it there, the others find it there. It
    outlives the process that started it; ``stop_shared(folder)`` stops it once
    none of them needs it."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / RECORD
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            found = json.loads(record.read_text(encoding="utf-8"))
            return Store(found["endpoint"], found["pid"])
        process, store = start()
        _SHARED.append(process)
        write_record(folder, store)
        return store


def write_record(folder: Path, store: Store) -> None:
    """Record in ``folder`` that ``store`` is the one its processes share."""
    record = json.dumps({"endpoint": store.endpoint, "pid": store.pid})
    (folder / RECORD).write_text(record, encoding="utf-8")


def leave_shared() -> None:
    """This process needs the shared store no more: it forgets the process it
    started for the others, which runs on until ``stop_shared`` stops it."""
    with warnings.catch_warnings():
        # Popen warns when a child it started is forgotten while it runs: the point here.
        warnings.simplefilter("ignore", ResourceWarning)
        _SHARED.clear()


def stop_shared(folder: Path) -> None:
    """Stop the DynamoDB Local ``shared(folder)`` started, if it did; it need not be
    a child of this process. A recorded process that is no DynamoDB Local (its
    number taken by another since) is left alone."""
    record = folder / RECORD
    if not record.exists():
        return
    pid = int(json.loads(record.read_text(encoding="utf-8"))["pid"])
    record.unlink()
    mine = [process for process in _SHARED if process.pid == pid]
    if mine:
        _SHARED.remove(mine[0])
        stop(mine[0])
    elif _runs_the_store(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _runs(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _runs(pid):
            os.kill(pid, signal.SIGKILL)


def _runs_the_store(pid: int) -> bool:
    """True when process ``pid`` runs and is a DynamoDB Local (where there is no
    /proc: when it runs)."""
    if not PROC.exists():
        return _runs(pid)
    try:
        arguments = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:  # it ended
        return False
    return _runs(pid) and JAR.stem.encode() in arguments


def _runs(pid: int) -> bool:
    """True while process ``pid`` runs: not once it has ended, even while it waits
    for its parent to collect it (a zombie)."""
    if not PROC.exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:  # it ended
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _serves(process: Popen[bytes], port: int, log: IO[bytes]) -> bool:
    """Wait until ``process`` listens on ``port`` and answers there: True; False when
    another process holds the port (the JVM then says so and keeps running)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with {process.returncode}")
        log.seek(0)
        if b"Failed to bind" in log.read():
            return False
        if listens(process.pid, port):
            # Any answer will do: it answers GET / with a 400 once it serves.
            wait_for(f"http://{HOST}:{port}/", process, deadline - time.monotonic())
            return True
        time.sleep(0.1)
    raise TimeoutError(f"DynamoDB Local did not listen on port {port} within {STARTUP_TIMEOUT} s")


def listens(pid: int, port: int) -> bool:
    """True when process ``pid`` holds a socket listening on TCP ``port`` (Linux's
    /proc); where there is no /proc, True once anything listens there."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return not port_is_free(port)
    inodes = {
        fields[9]
        for table in tables
        if table.exists()
        for fields in (line.split() for line in table.read_text().splitlines()[1:])
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A"  # 0A: LISTEN
    }
    held = _descriptors(pid)
    return any(f"socket:[{inode}]" in held for inode in inodes)


def _descriptors(pid: int) -> set[str]:
    """What process ``pid``'s open file descriptors point to (``socket:[inode]`` for a
    socket); those closed while being read are left out."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # the process ended
        return set()
    held = set()
    for name in names:
        try:
            held.add(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            continue
    return held
