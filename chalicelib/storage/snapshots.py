"""Lambda SnapStart: what a snapshot of an initialised function must not carry into
the execution environments restored from it.

On runtimes with SnapStart (python3.12 and later, published versions), Lambda runs
the function's init once, snapshots its memory, and starts later environments from
that snapshot, possibly hours later and many at a time. The service's init imports
code only: it opens no connection, reads no setting or secret and draws no random
value (ids, keys and secrets come from ``os.urandom`` when a request needs them,
which the kernel reseeds after a restore). What a request caches (the DynamoDB
connection, its botocore client and the credentials it was built with) is made on
first use; should a snapshot ever hold it, the after-restore hook drops it, so the
first request after a restore builds a new client with the credentials Lambda gives
the restored environment.

The runtime offers its hooks in the ``snapshot_restore_py`` module; elsewhere (older
runtimes, ``chalice local``, tests) ``install`` is given no registry and does nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chalicelib.storage import models

Register = Callable[[Callable[[], None]], Any]


def after_restore() -> None:
    """Renew what must differ per restored environment: the DynamoDB connection."""
    models.reset_connections()


def runtime_registry() -> Register | None:
    """The runtime's ``register_after_restore``, or None where there is no SnapStart."""
    try:
        module = importlib.import_module("snapshot_restore_py")
    except ImportError:
        return None
    register: Register = module.register_after_restore
    return register


def install(register_after_restore: Register | None) -> None:
    """Register ``after_restore`` with the runtime's hook registry, when there is one."""
    if register_after_restore is not None:
        register_after_restore(after_restore)
