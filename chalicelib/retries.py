"""DynamoDB retries: botocore's standard mode with a cap on the wait between attempts
(``DYNAMODB_MAX_BACKOFF``; tests that inject faults set it to 0)."""

from __future__ import annotations

from typing import Any

from botocore.retries import quota
from botocore.retries import standard as _standard

# botocore-stubs describe an older botocore's retry classes (int backoffs,
# handlers typed as returning None).
standard: Any = _standard


def cap_backoff(client: Any, max_backoff: float) -> None:
    """Give ``client`` botocore's standard-mode retries (same attempts, conditions
    and retry quota) with waits between attempts of at most ``max_backoff`` seconds.

    botocore takes no backoff setting: its standard retry handler is replaced by
    one built the way botocore builds it, with that maximum.
    """
    service = client.meta.service_model.service_id.hyphenize()
    retries = client.meta.config.retries or {}
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
