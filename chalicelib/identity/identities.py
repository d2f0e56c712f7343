"""OpenID Connect identities: which user an identity logs in as, linking and
unlinking (docs/API.md sections 7 and 12)."""

from __future__ import annotations

from typing import Any

from pynamodb.expressions.update import Action

from chalicelib import errors
from chalicelib.errors import LoginError, LoginFailed
from chalicelib.ids import SYSTEM
from chalicelib.records import guards
from chalicelib.records.changes import NewUser, add_edit
from chalicelib.records.user_reads import load_user
from chalicelib.records.users import create_user
from chalicelib.storage.batch import get_many
from chalicelib.storage.models import Guard, User, storage_errors
from chalicelib.storage.transactions import Transaction
from chalicelib.storage.versions import retrying


def _owner(guard: object) -> str | None:
    return str(guard.user_id) if isinstance(guard, Guard) else None


def login_identity(
    identity: str,
    email: str | None,
    email_verified: bool,
    name: str,
    may_link: bool,
    predecessor: str | None = None,
) -> str:
    """The id of the user an OpenID Connect identity logs in as (docs/API.md sections 7, 12).

    A known identity is its user. An unknown one whose ``predecessor`` (the
    identity at the provider this one replaced) belongs to a user is linked
    into that user. An unknown one with a new email makes a new
    user, whose ``email_verified`` is true only when the provider is trusted
    for linking (``may_link``) and asserts the email verified. An unknown one
    whose email a user has is linked into that user only when, besides, that
    user's own email is vouched for: an account opened with an address its
    opener could not prove never receives the verified identity of the
    address's owner. Both are logged as done by ``system``. Raises
    LoginFailed otherwise, and ``suspended`` for a suspended user (docs/API.md
    section 10).

    The guards of the identity, its predecessor and the email are read in one
    round trip, the user to log in as (refused when suspended) or to link into
    once: a login is at most that read, the user's, the change, and the session.
    """
    keys = [
        guards.identity_key(identity),
        guards.identity_key(predecessor) if predecessor is not None else None,
        guards.email_key(email) if email else None,
    ]
    found = iter(get_many([(Guard, {"key": key}) for key in keys if key is not None]))
    identity_owner, predecessor_owner, email_owner = [
        _owner(next(found)) if key is not None else None for key in keys
    ]
    if identity_owner is not None:
        if load_user(identity_owner).suspended:
            raise LoginFailed(LoginError.SUSPENDED, "the user is suspended")
        return identity_owner
    if predecessor_owner is not None:
        successor = load_user(predecessor_owner)
        if successor.suspended:
            raise LoginFailed(LoginError.SUSPENDED, "the user is suspended")
        comment = f"identity {identity} linked: succeeds {predecessor}"
        try:
            link_identity(predecessor_owner, identity, comment=comment, read=successor)
        except errors.AuthIdTaken:
            # A concurrent first login of the same identity got there first.
            with storage_errors():
                winner = Guard.get(guards.identity_key(identity), consistent_read=True)
            return _owner(winner) or predecessor_owner
        return predecessor_owner
    if not email:
        raise LoginFailed(LoginError.EMAIL_MISSING, "the provider did not give an email address")
    vouched = may_link and email_verified
    if email_owner is None:
        body = {"email": email, **({"name": name} if name.strip() else {})}
        new = NewUser(
            body, auth_ids=(identity,), email_verified=vouched, comment="created at first login"
        )
        try:
            return create_user(SYSTEM, new).id
        except errors.EmailTaken as exc:
            raise LoginFailed(LoginError.EMAIL_IN_USE, "another user has this email") from exc
        except (errors.InvalidInput, errors.AuthIdTaken) as exc:
            raise LoginFailed(LoginError.INVALID_PROFILE, str(exc)) from exc
    if not vouched:
        raise LoginFailed(LoginError.EMAIL_IN_USE, "another user has this email")
    user = load_user(email_owner)
    if not user.email_verified:
        raise LoginFailed(LoginError.EMAIL_IN_USE, "another user has this email")
    if user.suspended:
        raise LoginFailed(LoginError.SUSPENDED, "the user is suspended")
    link_identity(email_owner, identity, read=user)
    return email_owner


def link_identity(
    user_id: str,
    identity: str,
    actor: str = SYSTEM,
    comment: str | None = None,
    read: User | None = None,
) -> bool:
    """Add an OpenID Connect identity to a user's ``auth_ids``, logged as done by
    ``actor``; the guard item keeps it to one user. False when the user holds it already.

    ``read`` is the user as just read, if it was: the first attempt writes over
    it; a retry reads the user again. Raises UserNotFound, AuthIdTaken.
    """
    first = [read] if read is not None else []

    def attempt() -> bool:
        user = first.pop() if first else load_user(user_id)
        if identity in user.auth_ids:
            return False
        auth_ids = [*user.auth_ids, identity]
        transaction = Transaction()
        add_edit(
            transaction,
            user,
            actor,
            {"auth_ids": auth_ids},
            comment or f"identity {identity} linked",
            actions=[User.auth_ids.set(auth_ids)],
            old={"auth_ids": list(user.auth_ids)},
        )
        transaction.put(
            Guard(key=guards.identity_key(identity), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.AuthIdTaken("another user holds this login identity"),
        )
        transaction.commit()
        return True

    return retrying(attempt)


def unlink_identity(actor: str, user_id: str, identity: str) -> None:
    """Remove an OpenID Connect identity from a user, logged as done by ``actor``, and
    free it for others. The last one may go (the user then signs in with a key).
    Grants of the identity's provider's rules go with its last identity there.

    Raises UserNotFound, IdentityNotFound.
    """

    def attempt() -> None:
        user = load_user(user_id)
        if not guards.is_identity(identity) or identity not in user.auth_ids:
            raise errors.IdentityNotFound(f"the user has no identity {identity[:200]!r}")
        auth_ids = [auth_id for auth_id in user.auth_ids if auth_id != identity]
        data: dict[str, Any] = {"auth_ids": auth_ids}
        actions: list[Action] = [User.auth_ids.set(auth_ids)]
        provider = guards.provider_of(identity)
        grants = list(user.rule_permissions or [])
        if grants and not any(guards.provider_of(a) == provider for a in auth_ids):
            kept = [grant for grant in grants if grant.get("provider") != provider]
            if kept != grants:
                data["rule_permissions"] = kept
                actions.append(User.rule_permissions.set(kept))
        transaction = Transaction()
        add_edit(transaction, user, actor, data, f"identity {identity} unlinked", actions=actions)
        transaction.delete(
            Guard(key=guards.identity_key(identity)), condition=Guard.user_id == user.id
        )
        transaction.commit()

    retrying(attempt)
