"""moto's DynamoDB between timed requests: the tables put back as they were, and the
copies moto keeps let go.

- moto backs up every table a ``TransactWriteItems`` names with a deep copy of it,
  and, as it does with every instance of its models (for its dashboard), keeps a
  reference to that copy and to each item in it until the mock ends: a run's memory
  grows by whole tables with every transaction. ``forget_copies`` drops those
  references (what moto itself does when a mock ends); the backend holds the live
  tables.
- A change measured on a fresh record each time grows the tables, and with them
  moto's time for every later transaction (it copies whole tables). ``Kept`` puts
  the tables back as they were before each timed request is prepared, so every
  request of a route, and its floor, meets the same store.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.core.model_instances import model_data
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from chalicelib.storage import models


def forget_copies() -> None:
    """Drop moto's references to the DynamoDB model instances it has made (copies made
    for a transaction's rollback among them); the live tables stay in the backend."""
    for model in model_data["dynamodb"].values():
        model.instances_tracked = []


def _backend() -> Any:
    """moto's DynamoDB backend of the region the service's client names."""
    region = models.connection().client.meta.region_name
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][region]


class Kept:
    """The tables of moto's DynamoDB as they are now, put back by ``restore``."""

    def __init__(self) -> None:
        self._backend = _backend()
        self._tables = copy.deepcopy(dict(self._backend.tables))
        forget_copies()

    def restore(self) -> None:
        """The tables as they were when kept; what was written since is gone."""
        self._backend.tables.clear()
        self._backend.tables.update(copy.deepcopy(self._tables))
        forget_copies()
