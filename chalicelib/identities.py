"""OpenID Connect identities: which user an identity logs in as (API.md section 6)."""

from __future__ import annotations

from chalicelib import errors, guards
from chalicelib.changes import SYSTEM, add_edit, load_user, retrying
from chalicelib.models import Guard, User, storage_errors
from chalicelib.transactions import Transaction
from chalicelib.users import create_user


def _guard_owner(key: str) -> str | None:
    with storage_errors():
        try:
            return Guard.get(key, consistent_read=True).user_id
        except Guard.DoesNotExist:
            return None


def login_identity(
    identity: str, email: str | None, email_verified: bool, name: str, may_link: bool
) -> str:
    """The id of the user an OpenID Connect identity logs in as (API.md section 6).

    A known identity is its user. An unknown one with a new email makes a new
    user, whose ``email_verified`` is true only when the provider is trusted
    for linking (``may_link``) and asserts the email verified. An unknown one
    whose email a user has is linked into that user only when, besides, that
    user's own email is vouched for: an account opened with an address its
    opener could not prove never receives the verified identity of the
    address's owner. Both are logged as done by ``system``. Raises
    LoginRefused otherwise, and ``suspended`` for a suspended user (API.md
    section 10).
    """
    owner = _guard_owner(guards.identity_key(identity))
    if owner is not None:
        if load_user(owner).suspended:
            raise errors.LoginRefused("suspended", "the user is suspended")
        return owner
    if not email:
        raise errors.LoginRefused("email_missing", "the provider did not give an email address")
    vouched = may_link and email_verified
    owner = _guard_owner(guards.email_key(email))
    if owner is None:
        body = {"email": email, **({"name": name} if name.strip() else {})}
        try:
            user = create_user(
                SYSTEM,
                body,
                False,
                auth_ids=[identity],
                comment="created at first login",
                email_verified=vouched,
            )
        except errors.EmailTaken as exc:
            raise errors.LoginRefused("email_in_use", "another user has this email") from exc
        except (errors.InvalidInput, errors.AuthIdTaken) as exc:
            raise errors.LoginRefused("invalid_profile", str(exc)) from exc
        return user.id
    holder = load_user(owner)
    if not (vouched and holder.email_verified):
        raise errors.LoginRefused("email_in_use", "another user has this email")
    if holder.suspended:
        raise errors.LoginRefused("suspended", "the user is suspended")
    link_identity(owner, identity)
    return owner


def link_identity(user_id: str, identity: str) -> None:
    """Add an OpenID Connect identity to a user's ``auth_ids``, logged as done by ``system``.

    Raises UserNotFound, AuthIdTaken.
    """

    def attempt() -> None:
        user = load_user(user_id)
        auth_ids = [*user.auth_ids, identity]
        transaction = Transaction()
        add_edit(
            transaction,
            user,
            SYSTEM,
            {"auth_ids": auth_ids},
            f"identity {identity} linked",
            actions=[User.auth_ids.set(auth_ids)],
        )
        transaction.put(
            Guard(key=guards.identity_key(identity), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.AuthIdTaken("another user holds this login identity"),
        )
        transaction.commit()

    retrying(attempt)
