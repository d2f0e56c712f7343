"""``make run``: the whole service on this machine, stopped by Ctrl-C.

A moto server plays DynamoDB, the tables are created, a first admin holding
every permission is made and its API key printed, a local OpenID Provider
with two test accounts starts on http://127.0.0.1:8002 as the login provider
``local``, then ``chalice local`` serves the API and the web UI on
http://127.0.0.1:8000 (``PORT`` and ``OIDC_PORT`` change them).
``ALLOWED_ORIGINS`` from the environment is kept, with the API's own origins
added. The moto server answers
one request at a time (``devtools/serial_moto.py``).
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import sys
from collections.abc import Mapping
from types import FrameType

from devtools.local_stack import (
    PortInUse,
    chalice_local,
    demo_provider_settings,
    moto_server,
    port_is_free,
    service_env,
    tables_and_admin,
)
from devtools.oidc_provider import DEFAULT_CLIENT_ID, default_config, running_provider

VENV_PYTHON = ".venv/bin/python"


def main() -> int:
    """Start everything, print the admin's key, serve until interrupted."""
    try:
        return _run(int(os.environ.get("PORT", "8000")), int(os.environ.get("OIDC_PORT", "8002")))
    except PortInUse as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2


def _run(port: int, oidc_port: int) -> int:
    for taken, variable in ((port, "PORT"), (oidc_port, "OIDC_PORT")):
        if not port_is_free(taken):
            raise PortInUse(taken, variable)
    client_secret = secrets.token_urlsafe(24)
    client = {**default_config()["clients"][0], "client_secret": client_secret}
    with moto_server() as endpoint, running_provider({"clients": [client]}, oidc_port) as issuer:
        base = f"http://127.0.0.1:{port}"
        env = service_env(
            endpoint,
            TABLE_PREFIX=os.environ.get("TABLE_PREFIX", "users-local-"),
            OIDC_PROVIDERS=demo_provider_settings(issuer, DEFAULT_CLIENT_ID, client_secret),
            ALLOWED_ORIGINS=allowed_origins(os.environ.get("ALLOWED_ORIGINS", ""), port),
        )
        admin = tables_and_admin(env, "admin@example.org", "Local Admin")
        print(f"DynamoDB (moto):  {endpoint}")
        print(f"OpenID Provider:  {issuer}  (on its form, sign in as alice-sub or bob-sub)")
        print(
            "                  alice-sub is a tracker editor (DATA_EDIT by the rule of "
            "`local`); her old identity is alice-elixir@elixir-europe.org at `elixir`"
        )
        print(f"API:              {base}/api/v1")
        print(f"Admin user id:    {admin['id']}")
        print(f"Admin API key:    {admin['key']}  (shown once; it dies with this run)")
        print("Try:")
        print(f"  curl -H 'Authorization: Bearer {admin['key']}' {base}/api/v1/user/me")
        print(f"Web UI:           {base}/  (sign in with the provider or the admin's key)")
        print("manage.py against this stack (from another shell, in this folder):")
        print(f"  {manage_line(env)} check-invariants")
        print("Ctrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            with chalice_local(env, port=port, quiet=False):
                while True:
                    signal.pause()
        except KeyboardInterrupt:
            print("\nStopped.")
    return 0


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
