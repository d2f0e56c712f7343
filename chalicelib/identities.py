"""OpenID Connect identities: which user an identity logs in as (API.md section 6)."""

from __future__ import annotations

from chalicelib import errors
from chalicelib.changes import SYSTEM, add_edit, load_user, retrying
from chalicelib.models import Guard, User, storage_errors
from chalicelib.transactions import Transaction
from chalicelib.users import auth_guard, create_user, email_guard


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

    A known identity is its user. An unknown one is linked to the user with the
    same email when the provider asserts the email verified and is trusted for
    linking, or makes a new user when the email is new; both are logged as done
    by ``system``. Raises LoginRefused otherwise.
    """
    owner = _guard_owner(auth_guard(identity))
    if owner is not None:
        return owner
    if not email:
        raise errors.LoginRefused("email_missing", "the provider did not give an email address")
    owner = _guard_owner(email_guard(email))
    if owner is None:
        body = {"email": email, **({"name": name} if name.strip() else {})}
        try:
            user = create_user(
                SYSTEM, body, False, auth_ids=[identity], comment="created at first login"
            )
        except errors.EmailTaken as exc:
            raise errors.LoginRefused("email_in_use", "another user has this email") from exc
        except (errors.InvalidInput, errors.AuthIdTaken) as exc:
            raise errors.LoginRefused("invalid_profile", str(exc)) from exc
        return user.id
    if not (may_link and email_verified):
        raise errors.LoginRefused("email_in_use", "another user has this email")
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
            Guard(key=auth_guard(identity), user_id=user.id),
            condition=Guard.key.does_not_exist(),
            error=lambda: errors.AuthIdTaken("another user holds this login identity"),
        )
        transaction.commit()

    retrying(attempt)
