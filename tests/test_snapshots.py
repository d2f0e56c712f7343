"""SnapStart: a restored environment gets a new DynamoDB connection (storage/snapshots.py).

The hooks are called as the Lambda runtime calls them: registered at import through
``register_after_restore``, then run, in registration order, once the snapshot is
restored and before the first request.
"""

from __future__ import annotations

from collections.abc import Callable

from chalice.test import Client

from chalicelib.storage import models, snapshots
from tests.conftest import Account


def test_the_restore_hook_is_registered_with_the_runtime_registry() -> None:
    registered: list[Callable[[], None]] = []

    snapshots.install(registered.append)

    assert registered == [snapshots.after_restore]


def test_nothing_is_registered_where_the_runtime_has_no_snapstart() -> None:
    assert snapshots.runtime_registry() is None  # no snapshot_restore_py here
    snapshots.install(None)  # and installing nothing is harmless


def test_a_restored_environment_builds_a_new_connection_and_keeps_serving(
    client: Client, admin: Account
) -> None:
    registered: list[Callable[[], None]] = []
    snapshots.install(registered.append)
    headers = {"Authorization": f"Bearer {admin.key}"}
    assert client.http.get("/api/v1/user/me", headers=headers).status_code == 200
    before = models.connection()

    for hook in registered:  # the runtime, after restoring the snapshot
        hook()

    assert client.http.get("/api/v1/user/me", headers=headers).status_code == 200
    assert models.connection() is not before
    assert models.User._get_connection().connection is models.connection()
