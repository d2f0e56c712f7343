"""``make run``: the whole service on this machine, stopped by Ctrl-C.

A moto server plays DynamoDB, the tables are created, a first admin holding
every permission is made and its API key printed, a local OpenID Provider
with two test accounts starts on http://127.0.0.1:8002 as the login provider
``local``, then ``chalice local`` serves the API and the web UI on http://127.0.0.1:8000
(``PORT`` and ``OIDC_PORT`` change them).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
from types import FrameType

from devtools.local_stack import (
    chalice_local,
    manage,
    moto_server,
    provider_settings,
    service_env,
)
from devtools.oidc_provider import DEFAULT_CLIENT_ID, default_config, running_provider

ALL_PERMISSIONS = "DATA_EDIT,OWNERS_READ,USER_ADD,USER_SEARCH,USER_MANAGEMENT,DATA_MANAGEMENT"


def main() -> int:
    """Start everything, print the admin's key, serve until interrupted."""
    port = int(os.environ.get("PORT", "8000"))
    oidc_port = int(os.environ.get("OIDC_PORT", "8002"))
    client_secret = secrets.token_urlsafe(24)
    client = {**default_config()["clients"][0], "client_secret": client_secret}
    with moto_server() as endpoint, running_provider({"clients": [client]}, oidc_port) as issuer:
        base = f"http://127.0.0.1:{port}"
        env = service_env(
            endpoint,
            TABLE_PREFIX=os.environ.get("TABLE_PREFIX", "users-local-"),
            OIDC_PROVIDERS=provider_settings(issuer, DEFAULT_CLIENT_ID, client_secret),
            ALLOWED_ORIGINS=f"{base},http://localhost:{port}",
        )
        manage(env, "create-tables")
        admin = json.loads(
            manage(
                env,
                "create-user",
                "--email",
                "admin@example.org",
                "--name",
                "Local Admin",
                "--permissions",
                ALL_PERMISSIONS,
                "--api-key",
            )
        )
        print(f"DynamoDB (moto):  {endpoint}")
        print(f"OpenID Provider:  {issuer}  (accounts alice / alice-password, bob / bob-password)")
        print(f"API:              {base}/api/v1")
        print(f"Admin user id:    {admin['id']}")
        print(f"Admin API key:    {admin['key']}  (shown once; it dies with this run)")
        print("Try:")
        print(f"  curl -H 'Authorization: Bearer {admin['key']}' {base}/api/v1/user/me")
        print(f"Web UI:           {base}/  (sign in with the provider or the admin's key)")
        print("Ctrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            with chalice_local(env, port=port, quiet=False):
                while True:
                    signal.pause()
        except KeyboardInterrupt:
            print("\nStopped.")
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
