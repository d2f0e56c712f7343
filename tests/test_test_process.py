"""How each test process is set up (``tests/conftest.py``): what its cycle collector
walks, and that what the tests make is still freed."""

from __future__ import annotations

import gc
import weakref

from tests.conftest import YOUNG_COLLECTION_THRESHOLD


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
