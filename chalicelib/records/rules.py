"""Permissions from providers' rules, and why a user has each permission
(docs/API.md sections 2 and 12).

At each login with a provider that has ``permission_rules``, the user's grants
from that provider are recomputed from the ID token's claims (a claim may be a
string or a list of strings; ``match`` is a glob, as ``fnmatch`` reads it, case
sensitive). A grant counts toward the effective permissions while its provider
is still configured with a rule that gives it from that claim's value, and
until ``asserted`` + the provider's ``rules_max_age_days``. Grants by hand
(``permissions``) are never touched here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import timestamps
from chalicelib.config import PermissionRule, Provider
from chalicelib.ids import SYSTEM
from chalicelib.permissions import IMPLIES, PERMISSIONS, expand
from chalicelib.records.user_reads import load_user
from chalicelib.storage.models import User
from chalicelib.storage.transactions import Transaction
from chalicelib.storage.versions import retrying

# A grant asserted again is renewed (a new ``asserted``, written and logged) only
# when its last assertion is older than this, so that each login does not write.
RENEW_AFTER = timedelta(days=1)
MAX_VALUE = 1000  # the longest claim value a grant records

Grant = dict[str, str]
"""``{"permission", "provider", "claim", "value", "asserted"}`` as the record holds it."""


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Rulebook:
    """What decides whether a rule grant is live: the configured providers (read
    only for a user holding a rule grant) and the clock."""

    providers: Callable[[], Mapping[str, Provider]]
    clock: Callable[[], datetime] = utc_now


def claim_values(claims: Mapping[str, Any], name: str) -> list[str]:
    """The values of claim ``name``: a string, or the strings of a list."""
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def describe(rule: PermissionRule) -> str:
    """A rule as a log entry names it."""
    return f"{rule.claim} matching {rule.match!r}"


def _gives(rule: PermissionRule, grant: Grant) -> bool:
    return (
        rule.claim == grant["claim"]
        and grant["permission"] in rule.grant
        and fnmatch.fnmatchcase(grant["value"], rule.match)
    )


def asserted_grants(provider: Provider, claims: Mapping[str, Any], stamp: str) -> list[Grant]:
    """The grants ``provider``'s rules give for these claims, asserted at ``stamp``."""
    found: dict[tuple[str, str, str], Grant] = {}
    for rule in provider.permission_rules:
        for value in claim_values(claims, rule.claim):
            if len(value) > MAX_VALUE or not fnmatch.fnmatchcase(value, rule.match):
                continue
            for permission in rule.grant:
                found.setdefault(
                    (permission, rule.claim, value),
                    {
                        "permission": permission,
                        "provider": provider.name,
                        "claim": rule.claim,
                        "value": value,
                        "asserted": stamp,
                    },
                )
    return list(found.values())


def until(grant: Grant, providers: Mapping[str, Provider]) -> datetime | None:
    """When ``grant`` lapses; None when its provider no longer has a rule that gives it."""
    provider = providers.get(grant.get("provider", ""))
    if provider is None or not any(_gives(rule, grant) for rule in provider.permission_rules):
        return None
    return timestamps.parse(grant["asserted"]) + timedelta(days=provider.rules_max_age_days)


def live_grants(user: User, rulebook: Rulebook) -> list[tuple[Grant, datetime]]:
    """The user's rule grants that count now, each with when it lapses."""
    return _live(user.rule_permissions or [], rulebook)


def _live(grants: list[Grant], rulebook: Rulebook) -> list[tuple[Grant, datetime]]:
    if not grants:
        return []
    providers, now = rulebook.providers(), rulebook.clock()
    live = []
    for grant in grants:
        lapses = until(grant, providers)
        if lapses is not None and lapses > now:
            live.append((grant, lapses))
    return live


def effective_permissions(user: User, rulebook: Rulebook) -> frozenset[str]:
    """What the user may do now: the closure of its grants by hand and live rule grants."""
    return effective(user.permissions, user.rule_permissions or [], rulebook)


def effective(granted: list[str], grants: list[Grant], rulebook: Rulebook) -> frozenset[str]:
    """``effective_permissions`` of a user holding ``granted`` by hand and rule ``grants``."""
    ruled = (grant["permission"] for grant, _ in _live(grants, rulebook))
    return expand([*granted, *ruled])


def explain(user: User, rulebook: Rulebook) -> list[dict[str, Any]]:
    """Why the user has each effective permission (``GET /user/{id}/permissions``):
    granted by hand, implied by another effective permission, or from a live rule."""
    live = live_grants(user, rulebook)
    effective = expand([*user.permissions, *(grant["permission"] for grant, _ in live)])
    result = []
    for name in sorted(effective):
        because: list[dict[str, Any]] = []
        if name in user.permissions:
            because.append({"granted": True})
        because += [
            {"implied_by": other}
            for other in PERMISSIONS
            if other in effective and name in IMPLIES.get(other, ())
        ]
        because += [
            {
                "rule": {
                    **{key: grant[key] for key in ("provider", "claim", "value", "asserted")},
                    "until": timestamps.stamp(lapses),
                }
            }
            for grant, lapses in live
            if grant["permission"] == name
        ]
        result.append({"name": name, "because": because})
    return result


def _key(grant: Grant) -> tuple[str, str, str]:
    return grant["permission"], grant["claim"], grant["value"]


def _merged(old: Iterable[Grant], new: list[Grant], now: datetime) -> list[Grant]:
    """``new``, keeping the ``asserted`` of each grant renewed less than RENEW_AFTER ago."""
    recent = {
        _key(grant): grant
        for grant in old
        if timestamps.parse(grant["asserted"]) > now - RENEW_AFTER
    }
    return [recent.get(_key(grant), grant) for grant in new]


def _comment(provider: Provider, old: list[Grant], new: list[Grant]) -> str:
    """What changed, naming the rules: ``granted``/``renewed``/``dropped`` per grant."""
    before = {_key(grant): grant for grant in old}
    after = {_key(grant): grant for grant in new}
    parts = []
    for key, grant in after.items():
        if before.get(key) == grant:
            continue
        rule = next(r for r in provider.permission_rules if _gives(r, grant))
        verb = "renewed" if key in before else "granted"
        parts.append(f"{verb} {grant['permission']} by the rule {describe(rule)}")
    parts += [
        f"dropped {permission}: no rule gives it from {claim} {value!r} now"
        for permission, claim, value in before.keys() - after.keys()
    ]
    return f"permission rules of {provider.name}: " + "; ".join(parts)


def apply_rules(user_id: str, provider: Provider, claims: Mapping[str, Any], now: datetime) -> None:
    """Recompute the user's grants from ``provider``'s rules at a login, logged as done
    by ``system`` naming the rules; nothing is written when nothing changes.

    Raises UserNotFound.
    """
    if not provider.permission_rules:
        return
    asserted = asserted_grants(provider, claims, timestamps.stamp(now))

    # Imported here: changes renders views, and views explain permissions with this module.
    from chalicelib.records import changes

    def attempt() -> None:
        user = load_user(user_id)
        held: list[Grant] = list(user.rule_permissions or [])
        old = [grant for grant in held if grant.get("provider") == provider.name]
        new = _merged(old, asserted, now)
        if new == old:
            return
        grants = [grant for grant in held if grant.get("provider") != provider.name] + new
        transaction = Transaction()
        changes.add_edit(
            transaction,
            user,
            SYSTEM,
            {"rule_permissions": grants},
            _comment(provider, old, new),
            actions=[User.rule_permissions.set(grants)],
        )
        transaction.commit()

    retrying(attempt)
