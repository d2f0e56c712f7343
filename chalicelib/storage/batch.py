"""Items of several tables read in one consistent round trip (BatchGetItem)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pynamodb.models import Model

from chalicelib import errors
from chalicelib.storage.models import connection, storage_errors


def get_many(keys: Sequence[tuple[type[Model], Mapping[str, str]]]) -> list[Model | None]:
    """Read items of several tables in one consistent round trip.

    Each key is ``(model class, {key attribute: string value})``; the result
    holds the items in the same order, None where an item does not exist.
    """
    request: dict[str, dict[str, Any]] = {}
    for model, key in keys:
        table = request.setdefault(model.Meta.table_name, {"Keys": [], "ConsistentRead": True})
        table["Keys"].append({name: {"S": value} for name, value in key.items()})
    key_names = {model.Meta.table_name: tuple(sorted(key)) for model, key in keys}
    found: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    with storage_errors():
        for _ in range(5):
            reply = connection().dispatch("BatchGetItem", {"RequestItems": request})
            for table_name, items in reply.get("Responses", {}).items():
                for item in items:
                    values = tuple(item[name]["S"] for name in key_names[table_name])
                    found[(table_name, values)] = item
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05)
        else:
            raise errors.StorageUnavailable("The storage is busy; try again.")
    result: list[Model | None] = []
    for model, key in keys:
        values = tuple(key[name] for name in sorted(key))
        raw = found.get((model.Meta.table_name, values))
        result.append(model.from_raw_data(raw) if raw is not None else None)
    return result
