"""DynamoDB Local, Amazon's DynamoDB emulator: the store of ``make run`` and of the
tests that serve HTTP.

The jar is not in this repository: ``make dynamodb-local`` installs the npm package
``amplify-dynamodb-simulator`` at the exact version ``devtools/dynamodb-local/``'s
lock file pins (its ``emulator/`` folder holds DynamoDB Local 1.25.1). Before each
start the jar's SHA-256 is checked against ``DynamoDBLocal.jar.sha256`` beside that
lock file. It runs on the machine's Java (17 or later) with telemetry off, one
database for every credential and region (``-sharedDb``), CORS limited to its own
origin, and either in memory or in a folder that outlives the run (``-dbPath``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.local_stack import HOST, ROOT, Store, free_port, stop, wait_for

PACKAGE = ROOT / "devtools" / "dynamodb-local"
EMULATOR = PACKAGE / "node_modules" / "amplify-dynamodb-simulator" / "emulator"
JAR = EMULATOR / "DynamoDBLocal.jar"
CHECKSUM = PACKAGE / "DynamoDBLocal.jar.sha256"
STARTUP_TIMEOUT = 120.0  # a JVM on two busy cores


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
    port = port or free_port()
    argv = command(port, data)
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        argv, cwd=EMULATOR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    store = Store(f"http://{HOST}:{port}", process)
    try:
        # Any answer will do: it answers GET / with a 400 once it serves.
        wait_for(f"{store.endpoint}/", process, STARTUP_TIMEOUT)
        yield store
    finally:
        stop(process)
