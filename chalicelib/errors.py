"""Every domain error of the service, each carrying its HTTP status.

Chalice turns a ``ChaliceViewError`` raised by a route into
``{"Code": <class name>, "Message": <text>}`` with the class's ``STATUS_CODE``,
so the class name is the stable wire ``Code`` and this module is the one
error-to-HTTP table.
"""

from __future__ import annotations

from chalice.app import (
    BadRequestError,
    ChaliceViewError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    UnprocessableEntityError,
)


class InvalidInput(BadRequestError):
    """The request body or a parameter breaks the contract's rules."""


class UnknownField(BadRequestError):
    """The body names a field the record does not have."""


class InvalidCursor(BadRequestError):
    """The ``cursor`` parameter is not the ``next`` of an earlier page."""


class InvalidCredentials(UnauthorizedError):
    """Missing, malformed, expired or revoked credentials."""


class PermissionDenied(ForbiddenError):
    """Valid credentials without the permission the route needs."""


class KeyReadOnly(ForbiddenError):
    """The request was made with a read-only API key (or its session) and would write."""


class FieldNotWritable(ForbiddenError):
    """The caller may not change this field."""


class RecentLoginRequired(ForbiddenError):
    """Deleting one's own account needs a sign-in at a provider within the last minutes."""


class CsrfTokenMismatch(ForbiddenError):
    """The ``X-CSRF-Token`` header does not match the ``_csrf_token`` cookie."""


class UserNotFound(NotFoundError):
    """No user has this id."""


class ApiKeyNotFound(NotFoundError):
    """The user has no API key with this id."""


class IdentityNotFound(NotFoundError):
    """The user has no linked OpenID Connect identity of this name."""


class ProviderNotFound(NotFoundError):
    """No OpenID Connect provider of this name is configured."""


class WebFileNotFound(NotFoundError):
    """The web UI has no built file of this name (or was not built)."""


class EmailTaken(ConflictError):
    """Another user has this email address (compared case-insensitively)."""


class UserExists(ConflictError):
    """A user with this id exists already."""


class AuthIdTaken(ConflictError):
    """Another user holds this login identity."""


class LastUserManager(ConflictError):
    """The change would leave no user holding USER_MANAGEMENT."""


class TooManyApiKeys(ConflictError):
    """The user holds as many API keys as the service allows."""


class EditConflict(ConflictError):
    """The record kept changing under concurrent edits; try again."""


class VersionMismatch(ChaliceViewError):
    """The ``If-Match`` version is not the record's current version."""

    STATUS_CODE = 412


class IfMatchRequired(ChaliceViewError):
    """The request must name the record's version in ``If-Match``."""

    STATUS_CODE = 428


class RequestTooLarge(ChaliceViewError):
    """The request body is larger than the service accepts."""

    STATUS_CODE = 413


class UnsupportedMediaType(ChaliceViewError):
    """The body's Content-Type is not JSON; Chalice itself answers this one."""

    STATUS_CODE = 415


class IdempotencyKeyReused(UnprocessableEntityError):
    """The ``Idempotency-Key`` was used before with another request body."""


class StorageUnavailable(ChaliceViewError):
    """A storage fault the service could not ride out; nothing was written."""

    STATUS_CODE = 503


class ServiceMisconfigured(ChaliceViewError):
    """A setting the request needs is missing (the message names it); 500."""


DOMAIN_ERRORS: tuple[type[ChaliceViewError], ...] = tuple(
    value
    for value in list(globals().values())
    if isinstance(value, type)
    and issubclass(value, ChaliceViewError)
    and value.__module__ == __name__
)
"""Every error a route answers with, in the order declared."""


class LoginFailed(Exception):
    """An OpenID Connect login that ends on its origin with ``?login_error=<code>``
    (API.md section 6), never an answer of its own: no HTTP status."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
