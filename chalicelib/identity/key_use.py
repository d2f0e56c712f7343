"""When and from where each API key was last used (docs/API.md section 11).

The authorizer cannot write this: API Gateway hands a TOKEN authorizer the
token only, never the caller's address, and it caches its decision for up to
a minute. So the authorizer passes on what it read (the key's ``last_used``
and ``last_used_ip``) in its context, and the route's middleware, which sees
``context["identity"]["sourceIp"]``, writes after the route answered: when
an hour has passed since the stored use, or the address changed and a minute
has passed. The write's condition keeps it to at most once a minute per key
across every container; what this container wrote itself is remembered, so
requests answered from the authorizer's cache do not try again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib import timestamps
from chalicelib.storage.models import ApiKey

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
MEMORY = 10_000  # keys remembered per container before it starts afresh

log = logging.getLogger(__name__)


def due(last_used: datetime | None, last_ip: str, ip: str, at: datetime) -> bool:
    """True when a use at ``at`` from ``ip`` should be written."""
    if last_used is None:
        return True
    elapsed = at - last_used
    return elapsed >= HOUR or (ip != last_ip and elapsed >= MINUTE)


class UseRecorder:
    """Writes keys' last use, as often as ``due`` allows; ``clock`` gives the time."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self._written: dict[tuple[str, str], tuple[datetime, str]] = {}

    def record(self, user_id: str, key_id: str, last_used: str, last_used_ip: str, ip: str) -> bool:
        """Note a use of a key from ``ip``, given what the authorizer read of it.

        Returns True when it wrote. Best effort: a failed write is logged, never raised.
        """
        at = self.clock()
        stored = timestamps.parse(last_used) if last_used else None
        seen = self._written.get((user_id, key_id))
        if seen is not None and (stored is None or seen[0] > stored):
            stored, last_used_ip = seen
        if not due(stored, last_used_ip, ip, at):
            return False
        if len(self._written) >= MEMORY:
            self._written.clear()
        self._written[(user_id, key_id)] = (at, ip)
        used = timestamps.stamp(at)
        recent = timestamps.stamp(at - MINUTE)
        try:
            ApiKey(user_id=user_id, key_id=key_id).update(
                actions=[ApiKey.last_used.set(used), ApiKey.last_used_ip.set(ip)],
                condition=ApiKey.key_id.exists()
                & (ApiKey.last_used.does_not_exist() | (ApiKey.last_used <= recent)),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                log.info("could not record the last use of an API key", exc_info=True)
            return False
        except Exception:
            log.info("could not record the last use of an API key", exc_info=True)
            return False
        return True
