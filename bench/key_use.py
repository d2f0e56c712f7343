"""Writes of a key's last use per 1,000 requests, from one address and from two.

Each request is what a route sees: the authorizer's real decision (it reads
the key, with what was last written of its use), then the middleware's
``key_use`` recorder, whose clock moves on by the interval between requests.
DynamoDB writes are counted on the wire. ``python -m bench.key_use`` prints
the rows alone (on moto).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.harness import counting
from bench.table import Row
from chalicelib.http import container
from chalicelib.identity import auth, key_use
from chalicelib.ids import SYSTEM, new_id
from chalicelib.records import apikeys
from chalicelib.records.users import NewUser, create_user

REQUESTS = 1_000
# (seconds between requests, the addresses they alternate between)
CASES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, ("192.0.2.1",)),
    (1, ("192.0.2.1", "198.51.100.7")),
    (10, ("192.0.2.1",)),
    (10, ("192.0.2.1", "198.51.100.7")),
)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def writes(interval: int, addresses: tuple[str, ...], requests: int = REQUESTS) -> int:
    """UpdateItem calls for ``requests`` uses of a fresh key, ``interval`` seconds apart,
    from ``addresses`` in turn."""
    user = create_user(SYSTEM, NewUser({"email": f"bench-{new_id()}@example.org"}))
    header = f"Bearer {apikeys.make_api_key(SYSTEM, user.id, container.settings())['key']}"
    clock = _Clock()
    recorder = key_use.UseRecorder(clock)
    with counting() as counts:
        for n in range(requests):
            decision = auth.decide(
                header, container.session_secret, container.settings(), container.rulebook()
            )
            assert decision.user_id == user.id
            ip = addresses[n % len(addresses)]
            recorder.record(user.id, decision.key_id, decision.last_used, decision.last_used_ip, ip)
            clock.now += timedelta(seconds=interval)
    return counts.operations()["UpdateItem"]


def key_use_rows(requests: int = REQUESTS) -> list[Row]:
    """One row per case of ``requests`` requests: the writes, against the contract's bound."""
    rows = []
    for interval, addresses in CASES:
        span = timedelta(seconds=interval * requests)
        written = writes(interval, addresses, requests)
        # At most once a minute, and with one address at most hourly (plus the first).
        bound = (
            span // timedelta(hours=1) + 1
            if len(addresses) == 1
            else span // timedelta(minutes=1) + 1
        )
        rows.append(
            Row(
                measure=f"key use: {requests:,} requests of one key, one every {interval} s, "
                f"{len(addresses)} address{'es' if len(addresses) > 1 else ''}",
                calls=f"{written} UpdateItem",
                target=f"≤ {bound} writes",
                result="pass" if written <= bound else f"miss: {written}",
            )
        )
    return rows


def main() -> int:
    from moto import mock_aws

    from bench import environment
    from chalicelib.storage import models

    environment.use()
    with mock_aws():
        models.create_tables()
        for row in key_use_rows():
            print(f"{row.measure}: {row.calls} (target {row.target}) {row.result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
