"""Authorizer CPU: the pure parts of a decision, and a whole decision less its read."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.harness import replay
from bench.routes import MAX_AUTHORIZER_TRIPS
from bench.table import Row, _ms, _ops
from bench.timing import time_decide
from bench.world import World, count_decide
from chalicelib import key_format
from chalicelib.http import container
from chalicelib.identity import auth, sessions
from chalicelib.ids import SYSTEM
from chalicelib.records import apikeys
from chalicelib.records.rules import effective_permissions
from chalicelib.storage import batch
from chalicelib.storage.items import Item
from chalicelib.storage.models import ApiKey, Session, User

# --- authorizer CPU -------------------------------------------------------------


def cpu_us(fn: Callable[[], object], calls: int, batches: int = 5) -> float:
    """CPU time (time.process_time) per call, median of several batches, in µs."""
    per_call = []
    for _ in range(batches):
        started = time.process_time()
        for _ in range(calls):
            fn()
        per_call.append((time.process_time() - started) / calls)
    return statistics.median(per_call) * 1e6


def api_key_pure(header: str, key: Item, user: Item) -> Callable[[], dict[str, str]]:
    """The decision for an API key with the items of its key and owner already read.

    Header parsing, the key's check digits and ids, then ``auth.api_key_decision``:
    SHA-256 of the secret, constant-time compare, expiry, the key's share of its
    owner's permissions; then the context strings, the owner's record among them:
    what ``auth.verify_api_key`` does besides its one BatchGetItem.
    """
    settings = container.settings()
    rulebook = container.rulebook()

    def decide() -> dict[str, str]:
        token = auth.bearer_token(header) or ""
        parts = key_format.parse(token, settings.api_key_prefix)
        assert parts is not None
        decision = auth.api_key_decision(parts, key, user, settings, rulebook, time.time())
        assert decision.user_id
        return decision.context()

    return decide


def access_token_pure(header: str, session: Session, user: User) -> Callable[[], dict[str, str]]:
    """The decision for an access token with its session and user already read.

    Header parsing, ``sessions.decode_access_token`` (HS256 verification and
    the claims registry), the session's expiry, permission expansion, the
    context strings: what ``auth.verify_access_token`` does besides its read.
    """

    def decide() -> dict[str, str]:
        user_id, sid, _ = sessions.decode_access_token(
            auth.bearer_token(header) or "", container.session_secret()
        )
        assert user_id == user.id and sid == session.id
        assert session.expires_at > datetime.now(UTC)
        decision = auth.Decision(
            user_id=user.id,
            permissions=effective_permissions(user, container.rulebook()),
            method="token",
            session_id=sid,
        )
        return decision.context()

    return decide


@dataclass
class AuthorizerCpu:
    api_key_pure_us: float
    api_key_decide_us: float
    token_pure_us: float
    token_decide_us: float


def authorizer_cpu(world: World, calls: int) -> AuthorizerCpu:
    """CPU per decision: the pure parts, and ``auth.decide`` less its bare read."""
    parts = key_format.parse(world.api_key_header.split(" ", 1)[1], "uk")
    assert parts is not None
    key_id = parts.key_id
    key, user = batch.get_items(
        [(ApiKey, {"user_id": world.admin.id, "key_id": key_id}), (User, {"id": world.admin.id})]
    )
    assert key is not None and user is not None
    jwt = world.token_header.split(" ", 1)[1]
    sid = sessions.decode_access_token(jwt, container.session_secret())[1]
    session, owner = batch.get_many([(Session, {"id": sid}), (User, {"id": world.admin.id})])
    assert isinstance(session, Session) and isinstance(owner, User)

    key_calls = count_decide(world.api_key_header).calls
    token_calls = count_decide(world.token_header).calls
    io_calls = max(calls // 20, 20)
    key_bare = cpu_us(replay(key_calls), io_calls)
    token_bare = cpu_us(replay(token_calls), io_calls)
    return AuthorizerCpu(
        api_key_pure_us=cpu_us(api_key_pure(world.api_key_header, key, user), calls),
        api_key_decide_us=cpu_us(
            lambda: auth.decide(
                world.api_key_header,
                container.session_secret,
                container.settings(),
                container.rulebook(),
            ),
            io_calls,
        )
        - key_bare,
        token_pure_us=cpu_us(access_token_pure(world.token_header, session, owner), calls),
        token_decide_us=cpu_us(
            lambda: auth.decide(
                world.token_header,
                container.session_secret,
                container.settings(),
                container.rulebook(),
            ),
            io_calls,
        )
        - token_bare,
    )


def authorizer_rows(world: World, iterations: int, cpu: AuthorizerCpu) -> list[Row]:
    """``auth.decide`` alone: steady state, a key never used (the authorizer writes no
    use: the route does), access token."""
    rows = []
    fresh = apikeys.make_api_key(
        SYSTEM, world.admin.id, container.settings(), apikeys.KeyRequest(name="fresh")
    )
    fresh_key = f"Bearer {fresh['key']}"
    first_use = count_decide(fresh_key)
    cases = [
        ("auth.decide, API key", world.api_key_header, cpu.api_key_pure_us, cpu.api_key_decide_us),
        ("auth.decide, access token", world.token_header, cpu.token_pure_us, cpu.token_decide_us),
    ]
    for name, header, pure, decide in cases:
        counts = count_decide(header)
        timing = time_decide(header, counts, iterations)
        ok = counts.round_trips <= MAX_AUTHORIZER_TRIPS
        rows.append(
            Row(
                measure=name,
                trips=f"{counts.round_trips} = {counts.round_trips} + 0",
                calls=_ops(counts),
                items=f"{counts.items_read} = {counts.items_read} + 0",
                median=_ms(timing.route_ms),
                floor=_ms(timing.floor_ms),
                ratio=f"{timing.ratio:.2f}",
                target=f"authorizer ≤ {MAX_AUTHORIZER_TRIPS}",
                result="pass" if ok else f"miss: {counts.round_trips}",
            )
        )
        rows.append(
            Row(
                measure=f"{name}: CPU per decision",
                median=f"{pure:.1f} µs pure parts",
                floor=f"{decide:.1f} µs decide() CPU minus bare read CPU",
            )
        )
    ok = first_use.round_trips <= MAX_AUTHORIZER_TRIPS
    rows.insert(
        2,
        Row(
            measure="auth.decide, API key, first use in its hour",
            trips=f"{first_use.round_trips} = {first_use.round_trips} + 0",
            calls=_ops(first_use),
            items=f"{first_use.items_read} = {first_use.items_read} + 0",
            target=f"authorizer ≤ {MAX_AUTHORIZER_TRIPS}",
            result="pass" if ok else f"miss: {first_use.round_trips} (last_used write)",
        ),
    )
    return rows
