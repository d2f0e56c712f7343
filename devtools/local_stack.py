"""Start and stop the local pieces of the service: ``chalice local`` and a moto
server as DynamoDB (DynamoDB Local, the usual store, is ``devtools/dynamodb_local.py``).
Used by ``make run``, the end-to-end tests and the benchmark; everything binds to
127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Store:
    """A DynamoDB endpoint served by a process of this machine (``pid``), which may
    be another process's child."""

    endpoint: str
    pid: int

    def peak_memory(self) -> int:
        """The most resident memory the process has held so far, in bytes (Linux)."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024


def fresh_prefix(name: str) -> str:
    """``TABLE_PREFIX`` ``name`` with a random part added, so that the servers sharing
    one store each get tables of their own."""
    return f"{name}{secrets.token_hex(4)}-"


class PortInUse(RuntimeError):
    """A port this machine's stack was told to use is taken."""

    def __init__(self, port: int, variable: str) -> None:
        super().__init__(
            f"port {port} on {HOST} is in use; choose another with {variable}, "
            f"e.g. {variable}={port + 10} make run"
        )
        self.port = port


def port_is_free(port: int) -> bool:
    """True when nothing listens on ``port`` of 127.0.0.1 and it can be bound."""
    with socket.socket() as sock:
        # As the servers do, so that a port a stopped server just left counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server that
    cannot be handed a socket nor report its own port, and for an address known to
    refuse connections); see Listener."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Listener:
    """A listening socket on 127.0.0.1, on a port the system picks, bound now and
    handed to the server that will serve on it: its address is known before that
    server starts, and no other process can take the port in between."""

    def __init__(self) -> None:
        self.socket = socket.create_server((HOST, 0))
        self.socket.set_inheritable(True)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        self.socket.close()


def listening_url(process: subprocess.Popen[bytes], log: IO[bytes], timeout: float = 60.0) -> str:
    """The URL a server started with port 0 reports (``listening on <url>``, a line
    of its output in ``log``): the port it bound itself, so none is raced for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        log.seek(0)
        found = re.search(rb"^listening on (http://\S+)$", log.read(), re.MULTILINE)
        if found:
            return found.group(1).decode()
        time.sleep(0.1)
    log.seek(0)
    output = log.read().decode("utf-8", "replace")
    raise RuntimeError(f"{process.args!r} reported no address:\n{output}")


def wait_for(url: str, process: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    """Wait until ``url`` answers any HTTP status; fail if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process and wait for it, killing it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def provider_settings(issuer: str, client_id: str, client_secret: str) -> str:
    """``OIDC_PROVIDERS`` naming one local provider, ``local``, trusted for linking."""
    return json.dumps(
        {
            "local": {
                "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
                "client_id": client_id,
                "client_secret": client_secret,
                "link_verified_email": True,
            }
        }
    )


def demo_provider_settings(issuer: str, client_id: str, client_secret: str) -> str:
    """``OIDC_PROVIDERS`` of ``make run``: ``local`` as ``provider_settings`` has it, with
    a permission rule (the tracker's editors get DATA_EDIT) and a predecessor,
    ``elixir``, played by the same provider: a user made by signing in at
    ``elixir`` as ``alice-elixir@elixir-europe.org`` is the one Alice's first
    login at ``local`` links into, through her ``elixir_id`` claim."""
    providers = json.loads(provider_settings(issuer, client_id, client_secret))
    elixir = dict(providers["local"])
    providers["local"].update(
        previous={"provider": "elixir", "claim": "elixir_id"},
        permission_rules=[
            {
                "claim": "eduperson_entitlement",
                "match": "urn:geant:example.org:group:tracker-editors#*",
                "grant": ["DATA_EDIT"],
            }
        ],
    )
    return json.dumps({**providers, "elixir": elixir})


def service_env(dynamodb_endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of the service on this machine, over the current one.

    A fresh random ``SESSION_SECRET`` is made unless one is given.
    """
    env = dict(os.environ)
    env.setdefault("SESSION_SECRET", secrets.token_urlsafe(32))
    env.setdefault("AWS_ACCESS_KEY_ID", "local")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    env.setdefault("AWS_DEFAULT_REGION", "eu-north-1")
    env.pop("AWS_PROFILE", None)
    env.update(SERVICE_ENV="local", DYNAMODB_ENDPOINT=dynamodb_endpoint, **extra)
    return env


@contextmanager
def moto_server(port: int | None = None) -> Iterator[Store]:
    """A moto server on 127.0.0.1 answering one request at a time
    (``devtools/serial_moto.py``), on ``port`` or one it picks itself and reports."""
    command = [str(BIN / "python"), "-m", "devtools.serial_moto", "--port", str(port or 0)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            store = Store(listening_url(process, log), process.pid)
            wait_for(f"{store.endpoint}/moto-api/", process)
            yield store
        finally:
            stop(process)


def manage(env: Mapping[str, str], *args: str) -> str:
    """Run ``manage.py`` with ``args``; returns what it printed."""
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def tables_and_admin(env: Mapping[str, str], email: str, name: str = "") -> dict[str, str]:
    """Create the tables and a user holding every permission, with an API key, through
    ``manage.py``; returns ``{"id": ..., "key": ...}`` (the key shown this once)."""
    manage(env, "create-tables")
    return make_admin(env, email, name)


def make_admin(env: Mapping[str, str], email: str, name: str = "") -> dict[str, str]:
    """Make a user holding every permission, with an API key, through ``manage.py``;
    returns ``{"id": ..., "key": ...}`` (the key shown this once)."""
    from chalicelib.permissions import PERMISSIONS

    named = ["--name", name] if name else []
    permissions = ",".join(PERMISSIONS)
    made = manage(
        env, "create-user", "--email", email, *named, "--permissions", permissions, "--api-key"
    )
    return dict(json.loads(made))


@contextmanager
def chalice_local(
    env: Mapping[str, str],
    port: int | None = None,
    quiet: bool = True,
    listener: Listener | None = None,
) -> Iterator[str]:
    """``chalice local`` on 127.0.0.1 with the ``local`` stage (``devtools/chalice_local.py``):
    on ``listener``'s socket, on ``port``, or on a port it picks itself and reports;
    yields its base URL."""
    command = [str(BIN / "python"), "-m", "devtools.chalice_local", "--stage", "local"]
    handed: tuple[int, ...] = ()
    base: str | None = None
    if listener is not None:
        handed = (listener.socket.fileno(),)
        command += ["--fd", str(handed[0])]
        base = listener.url
    else:
        command += ["--port", str(port or 0)]
        base = f"http://{HOST}:{port}" if port else None
    with tempfile.TemporaryFile() as log:
        # Its output is read for the address only when it picks the port itself.
        output: IO[bytes] | int | None = (
            log if base is None else (subprocess.DEVNULL if quiet else None)
        )
        process = subprocess.Popen(
            command, cwd=ROOT, env=dict(env), stdout=output, stderr=output, pass_fds=handed
        )
        if listener is not None:
            listener.close()  # the server holds it now; a port left open here would hang callers
        try:
            base = base or listening_url(process, log)
            wait_for(f"{base}/api/v1/user/permissions", process)
            yield base
        finally:
            stop(process)
