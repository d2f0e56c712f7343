"""Items as DynamoDB returns them, read attribute by attribute as their models
declare them.

A model instance decodes and holds every attribute of its item; a reader that
needs three of them (the authorizer, on each request) reads them from the item
instead, each decoded by its own model attribute, exactly as ``from_raw_data``
would decode it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from pynamodb.attributes import Attribute
from pynamodb.constants import NULL

Item = dict[str, dict[str, Any]]
"""An item as DynamoDB returns it: ``{attribute name: {type: value}}``."""

T = TypeVar("T")


def read(item: Item, attribute: Attribute[T]) -> T | None:
    """``attribute`` (a model's class attribute, e.g. ``User.suspended``) of ``item``:
    its declared default when the item lacks it or holds NULL."""
    stored = item.get(attribute.attr_name)
    if stored and NULL not in stored:
        return cast(T, attribute.deserialize(attribute.get_value(stored)))
    default = attribute.default
    return cast(Callable[[], T], default)() if callable(default) else default
