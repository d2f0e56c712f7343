"""Latency: a measured call against its floor, interleaved, medians."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import moto_store
from bench.harness import Counts, replay
from bench.world import Counted, Scenario, World, floor_for, send
from chalicelib.http import container
from chalicelib.identity import auth

WARMUP = 2


@dataclass
class Timing:
    route_ms: float
    floor_ms: float

    @property
    def ratio(self) -> float:
        return self.route_ms / self.floor_ms


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes, with the garbage collector held off (as timeit does)."""
    gc.disable()
    try:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started
    finally:
        gc.enable()


def paired_medians(
    measured: Callable[[], Callable[[], object]],
    floor: Callable[[], Callable[[], object]],
    iterations: int,
) -> Timing:
    """Medians of a measured call and of its floor, interleaved, their order alternating.

    ``measured`` and ``floor`` prepare (untimed) and return the call to time.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(iterations + WARMUP):
        order = ((0, measured), (1, floor)) if i % 2 == 0 else ((1, floor), (0, measured))
        for slot, prepare in order:
            seconds = timed(prepare())
            if i >= WARMUP:
                times[slot].append(seconds)
    return Timing(statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000)


def time_scenario(world: World, sc: Scenario, counted: Counted, iterations: int) -> Timing:
    """Median latency through the test client against the median of its bare calls.

    A change (on moto) is measured on a fresh record each time, made on the tables as
    they were before the first: each request and each floor meets the same store.
    """
    kept = moto_store.Kept() if sc.fresh is not None else None

    def request() -> Callable[[], object]:
        if kept is not None:
            kept.restore()
        prepared = sc.request(world, sc.subject(world))
        return lambda: send(world, prepared, sc.status)

    def floor() -> Callable[[], object]:
        if kept is not None:
            kept.restore()
        return floor_for(sc, counted, world)

    try:
        return paired_medians(request, floor, iterations)
    finally:
        if kept is not None:
            kept.restore()


def time_decide(header: str, counts: Counts, iterations: int) -> Timing:
    """Median of ``auth.decide`` against the median of its bare calls."""
    return paired_medians(
        lambda: lambda: auth.decide(
            header, container.session_secret, container.settings(), container.rulebook()
        ),
        lambda: replay(counts.calls),
        iterations,
    )
