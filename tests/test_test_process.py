"""How each test process is set up (``tests/conftest.py``): what its cycle collector
walks, that what the tests make is still freed, and that moto does not keep it."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from moto.dynamodb.models.dynamo_type import Item

from tests.conftest import YOUNG_COLLECTION_THRESHOLD, empty_tables


def test_what_the_process_held_once_collected_is_frozen_and_young_objects_wait_longer() -> None:
    assert gc.get_freeze_count() > 10_000  # the modules and tests, not a stray few
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD


class _Node:
    other: _Node


def test_a_cycle_a_test_makes_is_still_freed() -> None:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    gc.collect()
    assert gone() is None


def test_emptied_tables_leave_nothing_in_motos_lists_of_what_it_made(make_user: Any) -> None:
    make_user()
    assert Item.instances_tracked  # moto lists every item it makes
    empty_tables()
    assert Item.instances_tracked == []
