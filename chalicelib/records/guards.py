"""Guard keys: the one home of their format (docs/API.md section 3).

A guard item makes one value unique across users: it is written in the same
transaction as the user that holds the value. Two namespaces never meet:

- ``email#<address>``: a user's email, after Unicode NFKC normalisation and
  case folding, so that lookalike spellings (fullwidth letters, other cases) are
  one address;
- ``auth#<sub>::<provider>``: a linked OpenID Connect identity. Only identities
  get such a guard (an email in ``auth_ids`` is guarded by its ``email#`` key),
  and no email may hold ``::``, so an address can never take an identity's
  place, and a refused address never tells whether an identity exists.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

EMAIL_PREFIX = "email#"
IDENTITY_PREFIX = "auth#"
IDENTITY_SEPARATOR = "::"


def normalise_email(email: str) -> str:
    """The form two addresses are compared in (stored as ``email_lower``): the stored
    form of a valid address (domain as IDNA A-label, chalicelib/records/addresses.py), NFKC,
    case-folded."""
    from chalicelib.records.addresses import comparable

    return unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", comparable(email)).casefold()
    )


def is_identity(auth_id: str) -> bool:
    """True for an OpenID Connect identity ``<sub>::<provider>``, False for an email."""
    return IDENTITY_SEPARATOR in auth_id


def identity(sub: str, provider: str) -> str:
    """The login identity of ``sub`` at ``provider``."""
    return f"{sub}{IDENTITY_SEPARATOR}{provider}"


def provider_of(auth_id: str) -> str | None:
    """The provider of an OpenID Connect identity; None for an email."""
    return auth_id.rpartition(IDENTITY_SEPARATOR)[2] if is_identity(auth_id) else None


def email_key(email: str) -> str:
    """The guard key that keeps ``email`` to one user."""
    return normalised_email_key(normalise_email(email))


def normalised_email_key(normalised: str) -> str:
    """The guard key of an address already in ``normalise_email``'s form."""
    return EMAIL_PREFIX + normalised


def identity_key(auth_id: str) -> str:
    """The guard key that keeps a login identity to one user."""
    return IDENTITY_PREFIX + auth_id


def user_keys(email: str, auth_ids: Iterable[str]) -> list[str]:
    """Every guard key a user with this email and these ``auth_ids`` holds, email first."""
    return [email_key(email), *(identity_key(a) for a in dict.fromkeys(auth_ids) if is_identity(a))]


def parse(key: str) -> tuple[str, str] | None:
    """``("email", normalised address)`` or ``("identity", auth id)`` for a guard key,
    None for a key of neither namespace."""
    if key.startswith(EMAIL_PREFIX):
        return "email", key.removeprefix(EMAIL_PREFIX)
    if key.startswith(IDENTITY_PREFIX) and is_identity(key.removeprefix(IDENTITY_PREFIX)):
        return "identity", key.removeprefix(IDENTITY_PREFIX)
    return None
