"""Running the Chalice test client from several threads as Lambda would serve them.

Two parts of the test harness are shared where AWS keeps them apart:

- Chalice keeps the request being served in ``app.current_request``, one
  attribute of the one app object. Lambda serves one request per container at
  a time; the test client runs every thread's request on the same object, so
  a view could read another thread's request. ``own_request_per_thread`` gives
  each thread its own.
- ``chalice.test.Client`` swaps ``os.environ`` for a copy during each request
  and puts back the object it found; overlapping requests can leave a copy
  behind. ``environ_restored`` puts back the original afterwards.

Neither touches boto, PynamoDB or the service's code; ``own_request_per_thread``
changes the class of the service's ``app`` object while it runs, to a subclass
whose ``current_request`` is kept per thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalice import Chalice


@contextmanager
def own_request_per_thread(app: Chalice) -> Iterator[None]:
    """Each thread sees its own ``app.current_request`` while the block runs."""
    state = threading.local()
    original = type(app)

    class PerThreadRequest(original):  # type: ignore[valid-type,misc]
        @property
        def current_request(self) -> Any:
            return getattr(state, "request", None)

        @current_request.setter
        def current_request(self, request: Any) -> None:
            state.request = request

    app.__class__ = PerThreadRequest
    try:
        yield
    finally:
        app.__class__ = original


@contextmanager
def environ_restored() -> Iterator[None]:
    """Put back the ``os.environ`` object found on entry."""
    original = os.environ
    try:
        yield
    finally:
        os.environ = original  # type: ignore[assignment]  # noqa: B003 (put back the object)
