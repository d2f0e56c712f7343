"""Storage faults injected into the service's real DynamoDB clients, without patching.

``inject_faults`` registers a handler for ``before-send.dynamodb.*`` on every
botocore client the service sends DynamoDB requests through, and decides for
each HTTP attempt, with a seeded ``random.Random``, whether it fails:

- ``throttling``: a 400 ``ProvisionedThroughputExceededException`` or
  ``ThrottlingException`` response;
- ``transaction``: a 400 ``TransactionCanceledException`` whose reasons name a
  ``TransactionConflict`` (``TransactWriteItems`` only);
- ``timeout``: ``botocore.exceptions.ReadTimeoutError``, as if the request
  was lost before DynamoDB saw it.

A response handed back by a ``before-send`` handler, or an exception raised by
one, takes the place of the HTTP exchange; everything after it runs for real:
botocore's parsing, its standard-mode retries (with their backoff and retry
quota), PynamoDB's error translation and the service's own retries. One call
of the service may so see several attempts, each decided on its own.

The clients, and answering in DynamoDB's place, come from the harness shared
with the benchmark (``bench/harness.py``): every model and
``chalicelib.storage.models.connection()`` share one ``Connection``, whose ``client``
property builds one botocore client (and builds a new one should its
credentials go missing). It is hooked on entry, and PynamoDB's
``pre_dynamodb_send`` signal, sent before every request any ``Connection``
makes, hooks any client met later before its request leaves.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.exceptions import ReadTimeoutError
from pynamodb.connection import Connection
from pynamodb.signals import pre_dynamodb_send

from bench.harness import dynamodb_clients, error_response, fresh_clients, without_backoff

THROTTLING = "throttling"
TRANSACTION_CONFLICT = "transaction"
TIMEOUT = "timeout"
KINDS = (THROTTLING, TRANSACTION_CONFLICT, TIMEOUT)

TRANSACT_WRITE = "TransactWriteItems"
BATCH_GET = "BatchGetItem"
THROTTLING_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")

_EVENT = "before-send.dynamodb.*"


@dataclass(frozen=True)
class Fault:
    """One injected fault: its kind, the DynamoDB operation and the thread it hit."""

    kind: str
    operation: str
    thread: int


def _cancellation(request: AWSPreparedRequest, rng: random.Random) -> AWSResponse:
    """A TransactionCanceledException naming a TransactionConflict on one of the items."""
    raw = request.body
    text = raw.decode() if isinstance(raw, bytes) else str(raw or "{}")
    count = max(1, len(json.loads(text).get("TransactItems", [])))
    conflicted = rng.randrange(count)
    reasons = [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
        if index == conflicted
        else {"Code": "None"}
        for index in range(count)
    ]
    codes = ", ".join(reason["Code"] for reason in reasons)
    return error_response(
        request,
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


class FaultInjector:
    """Decides, per HTTP attempt, whether a DynamoDB request fails, and how.

    ``share`` of the eligible attempts fail, with the kind of ``kinds`` that fits
    the operation (``transaction`` fits ``TransactWriteItems`` only) and was
    injected least so far, ties drawn at random, so a run meets every kind early. ``only``
    limits faults to these operations, ``spare`` exempts operations,
    ``limit`` stops after that many faults, and ``skip`` lets that many
    eligible attempts pass first (so a fault lands on the n-th request).
    With ``every_kind``, an attempt that fits a kind not injected yet gets it
    whatever ``share`` draws, so a run meets every kind its operations allow
    (a transaction conflict fits only TransactWriteItems, which threads reach in
    an order of their own). Thread-safe: decisions come from one seeded generator under a lock, so a
    single-threaded run is reproducible.
    """

    def __init__(
        self,
        share: float,
        kinds: Collection[str],
        seed: int | str | None,
        only: Collection[str] | None = None,
        spare: Collection[str] = (),
        limit: int | None = None,
        skip: int = 0,
        every_kind: bool = False,
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be some of {KINDS}, not {sorted(kinds)}")
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be between 0 and 1")
        self.share = share
        self.kinds = tuple(kind for kind in KINDS if kind in kinds)
        self.only = frozenset(only) if only is not None else None
        self.spare = frozenset(spare)
        self.limit = limit
        self.skip = skip
        self.every_kind = every_kind
        self.faults: list[Fault] = []
        self.attempts: Counter[str] = Counter()
        self._by_thread: Counter[int] = Counter()
        self._by_kind: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._hooked: dict[int, BaseClient] = {}
        self.clients: list[BaseClient] = []  # every client hooked, in order
        self.late: list[BaseClient] = []  # those first met through the signal
        self.active = False

    # -- what was injected ---------------------------------------------------

    @property
    def counts(self) -> Counter[str]:
        """The number of faults injected, by kind."""
        with self._lock:
            return Counter(fault.kind for fault in self.faults)

    @property
    def total(self) -> int:
        """The number of faults injected."""
        with self._lock:
            return len(self.faults)

    def in_thread(self, thread: int | None = None) -> int:
        """The number of faults injected into requests of a thread (default: this one)."""
        with self._lock:
            return self._by_thread[threading.get_ident() if thread is None else thread]

    # -- hooks -----------------------------------------------------------------

    def hook(self, client: BaseClient) -> bool:
        """Register on one client; False when it was hooked already."""
        if id(client) in self._hooked:
            return False
        # botocore retries the faults as in AWS (same attempts and retry
        # quota), without its seconds of backoff.
        without_backoff(client)
        client.meta.events.register(_EVENT, self._before_send, unique_id=self._unique_id)
        self._hooked[id(client)] = client
        self.clients.append(client)
        return True

    def unhook_all(self) -> None:
        """Unregister from every client hooked."""
        for client in self._hooked.values():
            client.meta.events.unregister(_EVENT, self._before_send, unique_id=self._unique_id)
        self._hooked.clear()

    @property
    def _unique_id(self) -> str:
        return f"fault-injector-{id(self)}"

    def _on_dispatch(self, sender: Connection, **_: Any) -> None:
        """PynamoDB is about to send a request through ``sender``: make sure it is hooked."""
        if self.active:
            client = sender.client
            if self.hook(client):
                self.late.append(client)

    # -- decisions -----------------------------------------------------------

    def _draw(self, operation: str) -> tuple[str, random.Random] | None:
        with self._lock:
            self.attempts[operation] += 1
            if not self.active or operation in self.spare:
                return None
            if self.only is not None and operation not in self.only:
                return None
            if self.limit is not None and len(self.faults) >= self.limit:
                return None
            if self.skip > 0:
                self.skip -= 1
                return None
            fitting = [
                k for k in self.kinds if k != TRANSACTION_CONFLICT or operation == TRANSACT_WRITE
            ]
            unmet = self.every_kind and any(self._by_kind[k] == 0 for k in fitting)
            if not unmet and self._random.random() >= self.share:
                return None
            if not fitting:
                return None
            fewest = min(self._by_kind[k] for k in fitting)
            kind = self._random.choice([k for k in fitting if self._by_kind[k] == fewest])
            self._by_kind[kind] += 1
            thread = threading.get_ident()
            self.faults.append(Fault(kind, operation, thread))
            self._by_thread[thread] += 1
            # A generator of its own for the details, so they never shift later decisions.
            return kind, random.Random(self._random.getrandbits(64))

    def _before_send(
        self, request: AWSPreparedRequest, event_name: str, **_: Any
    ) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        drawn = self._draw(operation)
        if drawn is None:
            return None
        kind, rng = drawn
        if kind == TIMEOUT:
            raise ReadTimeoutError(endpoint_url=request.url)
        if kind == TRANSACTION_CONFLICT:
            return _cancellation(request, rng)
        code = rng.choice(THROTTLING_CODES)
        return error_response(request, code, "Throughput exceeds the current capacity (injected)")


@contextmanager
def inject_faults(
    share: float = 0.1,
    kinds: Collection[str] = KINDS,
    seed: int | str | None = 0,
    only: Collection[str] | None = None,
    spare: Collection[str] = (),
    limit: int | None = None,
    full_retries: bool = False,
    skip: int = 0,
    every_kind: bool = False,
) -> Iterator[FaultInjector]:
    """Make ``share`` of the service's DynamoDB attempts fail while the block runs.

    With ``full_retries`` the block starts on fresh clients (``fresh_clients``),
    so botocore retries every failed attempt it may, whatever earlier blocks
    drained; a test that expects a fault to be ridden out asks for it. Yields
    the injector, which counts what it injected (``counts``, ``total``,
    ``faults``, ``in_thread()``) and what it saw (``attempts``, by operation).
    """
    injector = FaultInjector(
        share, kinds, seed, only=only, spare=spare, limit=limit, skip=skip, every_kind=every_kind
    )
    if full_retries:
        fresh_clients()
    for client in dynamodb_clients():
        injector.hook(client)
    pre_dynamodb_send.connect(injector._on_dispatch, weak=False)
    injector.active = True
    try:
        yield injector
    finally:
        injector.active = False
        pre_dynamodb_send.disconnect(injector._on_dispatch)
        injector.unhook_all()


class _OneAtATime:
    """Lets one DynamoDB request at a time reach moto's backend (see ``serialized_storage``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._hooked: list[BaseClient] = []

    def enter(self, **_: Any) -> None:
        self._lock.acquire()
        self._local.holding = True

    def leave(self, **_: Any) -> None:
        if getattr(self._local, "holding", False):
            self._local.holding = False
            self._lock.release()

    def hook(self, client: BaseClient) -> None:
        if any(client is hooked for hooked in self._hooked):
            return
        events = client.meta.events
        # Most specific events run first: enter before moto's own ``before-send``
        # handler, leave after it (``register_last`` on the same event), and
        # leave on ``needs-retry``, sent after every attempt, should a handler
        # in between have raised.
        events.register_last(_EVENT, self.enter, unique_id=f"one-at-a-time-enter-{id(self)}")
        events.register_last("before-send", self.leave, unique_id=f"one-at-a-time-{id(self)}")
        events.register_first(
            "needs-retry.dynamodb.*", self.leave, unique_id=f"one-at-a-time-retry-{id(self)}"
        )
        self._hooked.append(client)

    def unhook_all(self) -> None:
        for client in self._hooked:
            events = client.meta.events
            events.unregister(_EVENT, unique_id=f"one-at-a-time-enter-{id(self)}")
            events.unregister("before-send", unique_id=f"one-at-a-time-{id(self)}")
            events.unregister("needs-retry.dynamodb.*", unique_id=f"one-at-a-time-retry-{id(self)}")
        self._hooked.clear()

    def _on_dispatch(self, sender: Connection, **_: Any) -> None:
        self.hook(sender.client)


@contextmanager
def serialized_storage() -> Iterator[None]:
    """Let moto's DynamoDB backend serve one request at a time, as DynamoDB itself does.

    moto's ``TransactWriteItems`` is not safe across threads: it copies every
    table it touches, applies the items one by one and, when one fails, puts the
    copies back, undoing what other threads wrote meanwhile. DynamoDB runs each
    request atomically, so a concurrent test serializes the backend (not the
    service: its read-then-write races stay) to test the service and not moto.
    Injected faults never reach the backend and so never wait for it.
    """
    gate = _OneAtATime()
    for client in dynamodb_clients():
        gate.hook(client)
    pre_dynamodb_send.connect(gate._on_dispatch, weak=False)
    try:
        yield
    finally:
        pre_dynamodb_send.disconnect(gate._on_dispatch)
        gate.unhook_all()


class _AnswerLoser:
    """Lets a request reach the storage, then drops its answer so botocore retries it."""

    def __init__(self, operation: str, count: int) -> None:
        self.operation = operation
        self.left = count
        self.lost = 0
        self._lock = threading.Lock()
        self._hooked: list[BaseClient] = []

    @property
    def _event(self) -> str:
        return f"needs-retry.dynamodb.{self.operation}"

    def _needs_retry(self, response: Any = None, **_: Any) -> float | None:
        # Called after each attempt; a number asks botocore to retry after that
        # many seconds, as it does when a request timed out.
        with self._lock:
            if response is None or self.left <= 0:
                return None
            self.left -= 1
            self.lost += 1
            return 0.0

    def hook(self, client: BaseClient) -> None:
        if any(client is hooked for hooked in self._hooked):
            return
        client.meta.events.register_first(
            self._event, self._needs_retry, unique_id=f"answer-loser-{id(self)}"
        )
        self._hooked.append(client)

    def unhook_all(self) -> None:
        for client in self._hooked:
            client.meta.events.unregister(self._event, unique_id=f"answer-loser-{id(self)}")
        self._hooked.clear()

    def _on_dispatch(self, sender: Connection, **_: Any) -> None:
        self.hook(sender.client)


@contextmanager
def lose_answers(operation: str = TRANSACT_WRITE, count: int = 1) -> Iterator[_AnswerLoser]:
    """The first ``count`` answers to ``operation`` are lost after the storage acted.

    The request lands (the storage writes it) and its answer never arrives:
    botocore retries the same request, as it does after a read timeout, and the
    service sees only the answer to the retry. Yields the hook; ``lost`` counts
    the answers dropped.
    """
    loser = _AnswerLoser(operation, count)
    for client in dynamodb_clients():
        loser.hook(client)
    pre_dynamodb_send.connect(loser._on_dispatch, weak=False)
    try:
        yield loser
    finally:
        pre_dynamodb_send.disconnect(loser._on_dispatch)
        loser.unhook_all()
