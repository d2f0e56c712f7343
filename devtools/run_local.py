"""``make run``: the whole service on this machine, stopped by Ctrl-C.

A moto server plays DynamoDB, the tables are created, a first admin holding
every permission is made and its API key printed, then ``chalice local``
serves the API on http://127.0.0.1:8000 (``PORT`` changes it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from types import FrameType

from devtools.local_stack import chalice_local, manage, moto_server, service_env

ALL_PERMISSIONS = "DATA_EDIT,OWNERS_READ,USER_ADD,USER_SEARCH,USER_MANAGEMENT,DATA_MANAGEMENT"


def main() -> int:
    """Start everything, print the admin's key, serve until interrupted."""
    port = int(os.environ.get("PORT", "8000"))
    with moto_server() as endpoint:
        env = service_env(endpoint, TABLE_PREFIX=os.environ.get("TABLE_PREFIX", "users-local-"))
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
        base = f"http://127.0.0.1:{port}"
        print(f"DynamoDB (moto):  {endpoint}")
        print(f"API:              {base}/api/v1")
        print(f"Admin user id:    {admin['id']}")
        print(f"Admin API key:    {admin['key']}  (shown once; it dies with this run)")
        print("Try:")
        print(f"  curl -H 'Authorization: Bearer {admin['key']}' {base}/api/v1/user/me")
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
