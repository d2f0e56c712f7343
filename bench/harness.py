"""Botocore hooks on the service's DynamoDB client: the one harness of bench/ and tests/.

- ``dynamodb_clients`` / ``fresh_clients``: the botocore client the service
  sends DynamoDB requests through (one, shared by every model and
  ``models.connection()``), and a way to start again on a new one.
- ``counting``: the calls made while a block runs (``before-call.dynamodb``
  counts a call, ``after-call.dynamodb`` reads what it brought back and the
  capacity it consumed, ``provide-client-params.dynamodb`` keeps its
  parameters, asking for that capacity where wanted), and ``replay``, the same
  calls issued bare.
- ``without_backoff``: botocore's standard-mode retries on a client, with no
  wait between attempts, so that injected faults are ridden out as in AWS
  (same attempts and retry quota) without seconds of sleep.
- ``answer_instead`` and ``error_response``: a ``before-send`` handler that
  answers in DynamoDB's place (a recorded reply, an injected fault);
  everything after the HTTP exchange runs for real: botocore's parsing and
  retries, PynamoDB's error translation, the service's own handling.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.retries import quota
from botocore.retries import standard as _standard

from chalicelib.identity import auth
from chalicelib.storage import models

# botocore-stubs describe an older botocore's retry classes (int backoffs,
# handlers typed as returning None).
standard: Any = _standard
_NO_BACKOFF = "harness-no-backoff"

# A request answered in DynamoDB's place is pointed here before the remaining
# before-send handlers run: botocore calls all of them and takes the first
# response, so moto's own handler would otherwise still carry the request out.
# No moto backend serves this address.
NOWHERE = "http://answered-in-place.invalid/"
_ERROR_TYPE = "com.amazonaws.dynamodb.v20120810#"


def dynamodb_clients() -> list[BaseClient]:
    """Every botocore client the service sends DynamoDB requests through, built if
    need be: the one of ``models.connection()``, which every model shares."""
    connections = [models.connection()]
    connections += [model._get_connection().connection for model in models.MODELS]
    clients: dict[int, BaseClient] = {}
    for connection in connections:
        clients.setdefault(id(connection.client), connection.client)
    return list(clients.values())


def fresh_clients() -> None:
    """Drop the service's cached DynamoDB connection; the next call builds a new one.

    botocore's retry quota belongs to a client, and a client lives as long as
    its cache: without this, one test's failed calls would drain the retries
    that a later test expects to ride out a fault.
    """
    models.reset_connections()


def cap_backoff(client: BaseClient, max_backoff: float) -> None:
    """Give ``client`` botocore's standard-mode retries (same attempts, conditions
    and retry quota) with waits between attempts of at most ``max_backoff`` seconds.

    botocore takes no backoff setting: its standard retry handler is replaced by
    one built the way botocore builds it, with that maximum.
    """
    service = client.meta.service_model.service_id.hyphenize()
    config: Any = client.meta.config  # botocore-stubs' Config lacks ``retries``
    retries = config.retries or {}
    attempts = retries.get("total_max_attempts", standard.DEFAULT_MAX_ATTEMPTS)
    adapter = standard.RetryEventAdapter()
    throttling = standard.ThrottlingErrorDetector(adapter)
    retry_quota = standard.RetryQuotaChecker(quota.RetryQuota(), throttling)
    backoff = standard.ExponentialBackoff(
        max_backoff=max_backoff, service_name=service, throttling_detector=throttling
    )
    handler = standard.RetryHandler(
        retry_policy=standard.RetryPolicy(
            retry_checker=standard.StandardRetryConditions(max_attempts=attempts),
            retry_backoff=backoff,
        ),
        retry_event_adapter=adapter,
        retry_quota=retry_quota,
        service_name=service,
    )
    events = client.meta.events
    unique_id = f"retry-config-{service}"  # the id botocore registers its handler under
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)
    events.register(f"after-call.{service}", retry_quota.release_retry_quota)


def without_backoff(client: BaseClient) -> None:
    """``cap_backoff(client, 0)``, once per client: no wait between retries."""
    if getattr(client.meta, _NO_BACKOFF, False):
        return
    cap_backoff(client, 0.0)
    setattr(client.meta, _NO_BACKOFF, True)


class _Body(io.BytesIO):
    """A raw response body as ``AWSResponse`` reads it."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def answer_instead(
    request: AWSPreparedRequest, status: int, headers: dict[str, str], body: bytes
) -> AWSResponse:
    """The response a ``before-send`` handler returns to answer in DynamoDB's place."""
    url, request.url = request.url, NOWHERE
    raw: Any = headers  # AWSResponse takes any mapping; botocore-stubs say HTTPHeaders
    return AWSResponse(url, status, raw, _Body(body))


def error_response(
    request: AWSPreparedRequest, code: str, message: str, **extra: Any
) -> AWSResponse:
    """A DynamoDB JSON 1.0 error with status 400, answered in DynamoDB's place."""
    body = json.dumps({"__type": _ERROR_TYPE + code, "message": message, **extra}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": str(len(body)),
        "x-amzn-RequestId": uuid.uuid4().hex.upper(),
    }
    return answer_instead(request, 400, headers, body)


# --- counting -----------------------------------------------------------------


@dataclass
class Call:
    """One DynamoDB call: its operation, the parameters sent, what it read."""

    operation: str
    params: dict[str, Any]
    by_authorizer: bool
    items_read: int = 0
    units: float = 0.0  # capacity units consumed, where counted with ``capacity``


@dataclass
class Counts:
    """The DynamoDB calls made while counting.

    With ``capacity``, every call is asked for the capacity it consumes
    (``ReturnConsumedCapacity``), except a ``TransactWriteItems``, whose units
    ``capacity`` works out from its items before it is sent.
    """

    calls: list[Call] = field(default_factory=list)
    capacity: Callable[[list[dict[str, Any]]], float] | None = None

    @property
    def round_trips(self) -> int:
        return len(self.calls)

    @property
    def items_read(self) -> int:
        return sum(call.items_read for call in self.calls)

    def operations(self) -> Counter[str]:
        return Counter(call.operation for call in self.calls)

    def part(self, by_authorizer: bool) -> Counts:
        """The calls made by the authorizer, or by everything else."""
        return Counts([call for call in self.calls if call.by_authorizer == by_authorizer])


_ACTIVE: list[Counts] = []
_DECIDE = auth.decide.__code__


def _in_authorizer() -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _DECIDE:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _on_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    if not _ACTIVE:
        return
    work_out = next((c.capacity for c in _ACTIVE if c.capacity is not None), None)
    if work_out is not None:
        if model.name == "TransactWriteItems":
            context["bench_units"] = work_out(params["TransactItems"])
        elif "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
    context["bench_params"] = copy.deepcopy(params)


def _on_before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
    if _ACTIVE:
        call = Call(model.name, context.get("bench_params", {}), _in_authorizer())
        context["bench_call"] = call
        for counts in _ACTIVE:
            counts.calls.append(call)


def _on_after_call(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    call = context.get("bench_call")
    if isinstance(call, Call):
        call.items_read = items_read(call.operation, parsed)
        units = context.get("bench_units")
        call.units = reported_units(parsed.get("ConsumedCapacity")) if units is None else units


def reported_units(consumed: Any) -> float:
    """The capacity units of a ``ConsumedCapacity`` answer (one entry, a list, or none)."""
    entries = consumed if isinstance(consumed, list) else [consumed]
    return sum(float(entry.get("CapacityUnits", 0)) for entry in entries if entry)


def items_read(operation: str, parsed: dict[str, Any]) -> int:
    """The items a parsed DynamoDB reply carries back."""
    if operation == "GetItem":
        return 1 if parsed.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in parsed.get("Responses", {}).values())
    if operation in ("Query", "Scan"):
        return int(parsed.get("Count", 0))
    if operation == "TransactGetItems":
        return sum(1 for reply in parsed.get("Responses", []) if reply.get("Item"))
    return 0


def install_hooks() -> None:
    """Register the counting hooks on every client (once per client)."""
    for client in dynamodb_clients():
        events = client.meta.events
        events.register("provide-client-params.dynamodb", _on_params, unique_id="bench-params")
        events.register("before-call.dynamodb", _on_before_call, unique_id="bench-before")
        events.register("after-call.dynamodb", _on_after_call, unique_id="bench-after")


@contextlib.contextmanager
def counting(
    capacity: Callable[[list[dict[str, Any]]], float] | None = None,
) -> Iterator[Counts]:
    """Count the DynamoDB calls made inside the block (and the capacity they consume,
    with ``capacity``: see ``Counts``)."""
    install_hooks()
    counts = Counts(capacity=capacity)
    _ACTIVE.append(counts)
    try:
        yield counts
    finally:
        _ACTIVE.pop()


def replay(calls: list[Call], substitutions: dict[str, str] | None = None) -> Callable[[], None]:
    """The same calls, issued bare with the low-level client; ids substituted."""
    client = models.connection().client
    prepared = []
    for call in calls:
        text = json.dumps(call.params)
        for old, new in (substitutions or {}).items():
            text = text.replace(old, new)
        prepared.append((getattr(client, xform_name(call.operation)), json.loads(text)))

    def run() -> None:
        for method, params in prepared:
            method(**params)

    return run
