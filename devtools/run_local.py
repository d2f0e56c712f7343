"""``make run``: the whole service on this machine, stopped by Ctrl-C.

DynamoDB Local is the store (``devtools/dynamodb_local.py``), keeping its data in
``run/dynamodb-local/`` from one run to the next, or in memory only with
``FRESH=1``. The tables are created where missing; a first admin holding every
permission is made when no user has its email yet, and its API key printed then
only (``make admin-key``, ``devtools/admin_key.py``, makes a new one). A local
OpenID Provider with two test accounts starts on http://127.0.0.1:8002 as the
login provider ``local``, then ``chalice local`` serves the API and the web UI on
http://127.0.0.1:8000 (``PORT`` and ``OIDC_PORT`` change them; ``0`` lets the
system pick a free port, bound before anything else can take it, and the
output shows it).
``ALLOWED_ORIGINS`` from the environment is kept, with the API's own origins
added. While it runs, ``run/store.json`` says where its store is, for
``make admin-key``.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from devtools.dynamodb_local import StoreMissing, dynamodb_local
from devtools.local_stack import (
    ROOT,
    Listener,
    PortInUse,
    chalice_local,
    demo_provider_settings,
    make_admin,
    manage,
    port_is_free,
    service_env,
)
from devtools.oidc_provider import DEFAULT_CLIENT_ID, default_config, running_provider

VENV_PYTHON = ".venv/bin/python"
DATA = ROOT / "run" / "dynamodb-local"  # git-ignored, as all of run/
STORE_FILE = ROOT / "run" / "store.json"
ADMIN_EMAIL = "admin@example.org"
ADMIN_NAME = "Local Admin"


def main() -> int:
    """Start everything, print the admin's key, serve until interrupted."""
    fresh = os.environ.get("FRESH", "") not in ("", "0")
    try:
        return _run(
            int(os.environ.get("PORT", "8000")), int(os.environ.get("OIDC_PORT", "8002")), fresh
        )
    except (PortInUse, StoreMissing) as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2


def _run(port: int, oidc_port: int, fresh: bool) -> int:
    for taken, variable in ((port, "PORT"), (oidc_port, "OIDC_PORT")):
        if taken and not port_is_free(taken):
            raise PortInUse(taken, variable)
    # Port 0: the API's socket is bound now, its port known before chalice local
    # starts on it (ALLOWED_ORIGINS names it); the provider binds its own and reports it.
    listener = Listener() if port == 0 else None
    if listener is not None:
        port = listener.port
    client_secret = secrets.token_urlsafe(24)
    client = {**default_config()["clients"][0], "client_secret": client_secret}
    data = None if fresh else DATA
    with (
        dynamodb_local(data=data) as store,
        running_provider({"clients": [client]}, oidc_port or None) as issuer,
    ):
        base = f"http://127.0.0.1:{port}"
        env = service_env(
            store.endpoint,
            TABLE_PREFIX=table_prefix(os.environ),
            OIDC_PROVIDERS=demo_provider_settings(issuer, DEFAULT_CLIENT_ID, client_secret),
            ALLOWED_ORIGINS=allowed_origins(os.environ.get("ALLOWED_ORIGINS", ""), port),
        )
        manage(env, "create-tables")
        admin = admin_once(env)
        print(f"DynamoDB Local:   {store.endpoint}  ({kept_or_fresh(data)})")
        print(f"OpenID Provider:  {issuer}  (on its form, sign in as alice-sub or bob-sub)")
        print(
            "                  alice-sub is a tracker editor (DATA_EDIT by the rule of "
            "`local`); her old identity is alice-elixir@elixir-europe.org at `elixir`"
        )
        print(f"API:              {base}/api/v1")
        if admin is None:
            print(f"Admin:            {ADMIN_EMAIL}, made on an earlier run and shown then")
            print("                  (make admin-key makes it a new key)")
        else:
            print(f"Admin user id:    {admin['id']}")
            print(f"Admin API key:    {admin['key']}  (shown once; make admin-key makes a new one)")
            print("Try:")
            print(f"  curl -H 'Authorization: Bearer {admin['key']}' {base}/api/v1/user/me")
        print(f"Web UI:           {base}/  (sign in with the provider or the admin's key)")
        print("manage.py against this stack (from another shell, in this folder):")
        print(f"  {manage_line(env)} check-invariants")
        print("Ctrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            with recorded_store(env), chalice_local(env, port=port, quiet=False, listener=listener):
                while True:
                    signal.pause()
        except KeyboardInterrupt:
            print("\nStopped.")
    return 0


def table_prefix(environ: Mapping[str, str]) -> str:
    """The tables of ``make run``: ``TABLE_PREFIX`` from the environment, or users-local-."""
    return environ.get("TABLE_PREFIX") or "users-local-"


def kept_or_fresh(data: Path | None) -> str:
    """Where ``make run``'s data lives, in words."""
    if data is None:
        return "FRESH=1: in memory, gone when this run stops; the kept data is left alone"
    shown = data.relative_to(ROOT) if data.is_relative_to(ROOT) else data
    return f"data kept in {shown}/ between runs; make run FRESH=1 starts empty"


def admin_once(env: Mapping[str, str]) -> dict[str, str] | None:
    """Make the admin, holding every permission, with an API key, unless a user with
    its email exists already; returns ``{"id", "key"}`` when made, else None."""
    if admin_id(env) is not None:
        return None
    return make_admin(env, ADMIN_EMAIL, ADMIN_NAME)


def admin_id(env: Mapping[str, str]) -> str | None:
    """The id of the user holding the admin's email in the store ``env`` names, if any."""
    from chalicelib.records import guards
    from chalicelib.storage import models

    use_store(env)
    found = models.User.by_email.query(guards.normalise_email(ADMIN_EMAIL))
    return next((str(user.id) for user in found), None)


def use_store(env: Mapping[str, str]) -> None:
    """Point this process's tables, and the AWS credentials its clients find, at the
    store and tables ``env`` names, as the servers started with ``env`` are."""
    from chalicelib.config import load_settings
    from chalicelib.storage import models

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        os.environ[name] = env[name]
    models.bind(load_settings(env))


@contextmanager
def recorded_store(env: Mapping[str, str]) -> Iterator[None]:
    """``run/store.json`` names this run's store and tables while the block runs."""
    STORE_FILE.parent.mkdir(exist_ok=True)
    record = {name: env[name] for name in ("DYNAMODB_ENDPOINT", "TABLE_PREFIX")}
    STORE_FILE.write_text(json.dumps(record) + "\n", encoding="utf-8")
    try:
        yield
    finally:
        STORE_FILE.unlink(missing_ok=True)


def allowed_origins(configured: str, port: int) -> str:
    """``ALLOWED_ORIGINS`` as set in the environment, plus this stack's own origins."""
    own = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    origins = [o.strip() for o in configured.split(",") if o.strip()]
    return ",".join(dict.fromkeys([*origins, *own]))


def manage_line(env: Mapping[str, str]) -> str:
    """The shell line that runs ``manage.py`` on this stack's tables (no secrets)."""
    names = (
        "SERVICE_ENV",
        "DYNAMODB_ENDPOINT",
        "TABLE_PREFIX",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    )
    settings = " ".join(f"{name}={shlex.quote(env[name])}" for name in names)
    return f"{settings} {VENV_PYTHON} manage.py"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
