"""Items of several tables read in one consistent round trip (BatchGetItem)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pynamodb.models import Model

from chalicelib import errors
from chalicelib.storage.items import Item
from chalicelib.storage.models import connection, storage_errors

Keys = Sequence[tuple[type[Model], Mapping[str, str]]]


def get_many(keys: Keys) -> list[Model | None]:
    """Read items of several tables in one consistent round trip.

    Each key is ``(model class, {key attribute: string value})``; the result
    holds the items in the same order, None where an item does not exist.
    """
    return [
        model.from_raw_data(item) if item is not None else None
        for (model, _), item in zip(keys, get_items(keys), strict=True)
    ]


def get_items(keys: Keys) -> list[Item | None]:
    """``get_many``'s items as DynamoDB returns them, undecoded (``items.read``)."""
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
    return [
        found.get((model.Meta.table_name, tuple(key[name] for name in sorted(key))))
        for model, key in keys
    ]
