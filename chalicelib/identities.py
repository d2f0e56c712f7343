"""OpenID Connect identities: which user an identity logs in as (API.md section 6)."""

from __future__ import annotations

from chalicelib import errors, guards
from chalicelib.batch import get_many
from chalicelib.changes import NewUser, add_edit
from chalicelib.errors import LoginFailed
from chalicelib.ids import SYSTEM
from chalicelib.models import Guard, User
from chalicelib.transactions import Transaction
from chalicelib.user_reads import load_user
from chalicelib.users import create_user
from chalicelib.versions import retrying


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
    LoginFailed otherwise.

    The identity's and the email's guards are read in one round trip, the
    user to link into once: a login is at most that read, the user's, the
    change, and the session.
    """
    keys = [guards.identity_key(identity), *([guards.email_key(email)] if email else [])]
    found = get_many([(Guard, {"key": key}) for key in keys])
    identity_owner, email_owner = [
        str(g.user_id) if isinstance(g, Guard) else None for g in [*found, None][:2]
    ]
    if identity_owner is not None:
        return identity_owner
    if not email:
        raise LoginFailed("email_missing", "the provider did not give an email address")
    vouched = may_link and email_verified
    if email_owner is None:
        body = {"email": email, **({"name": name} if name.strip() else {})}
        new = NewUser(
            body, auth_ids=(identity,), email_verified=vouched, comment="created at first login"
        )
        try:
            return create_user(SYSTEM, new).id
        except errors.EmailTaken as exc:
            raise LoginFailed("email_in_use", "another user has this email") from exc
        except (errors.InvalidInput, errors.AuthIdTaken) as exc:
            raise LoginFailed("invalid_profile", str(exc)) from exc
    if not vouched:
        raise LoginFailed("email_in_use", "another user has this email")
    user = load_user(email_owner)
    if not user.email_verified:
        raise LoginFailed("email_in_use", "another user has this email")
    link_identity(email_owner, identity, read=user)
    return email_owner


def link_identity(user_id: str, identity: str, read: User | None = None) -> None:
    """Add an OpenID Connect identity to a user's ``auth_ids``, logged as done by ``system``.

    ``read`` is the user as just read, if it was: the first attempt writes over
    it; a retry reads the user again. Raises UserNotFound, AuthIdTaken.
    """
    first = [read] if read is not None else []

    def attempt() -> None:
        user = first.pop() if first else load_user(user_id)
        auth_ids = [*user.auth_ids, identity]
        transaction = Transaction()
        add_edit(
            transaction,
            user,
            SYSTEM,
            {"auth_ids": auth_ids},
            f"identity {identity} linked",
            actions=[User.auth_ids.set(auth_ids)],
            old={"auth_ids": list(user.auth_ids)},
        )
        transaction.put(
            Guard(key=guards.identity_key(identity), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.AuthIdTaken("another user holds this login identity"),
        )
        transaction.commit()

    retrying(attempt)
