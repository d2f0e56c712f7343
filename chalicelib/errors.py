"""Every domain error of the service, each carrying its HTTP status.

Chalice turns a ``ChaliceViewError`` raised by a route into
``{"Code": <class name>, "Message": <text>}`` with the class's ``STATUS_CODE``,
so the class name is the stable wire ``Code`` and this module is the one
error-to-HTTP table.
"""

from __future__ import annotations

from enum import StrEnum

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


class FieldNotWritable(ForbiddenError):
    """The caller may not change this field."""


class CsrfTokenMismatch(ForbiddenError):
    """The ``X-CSRF-Token`` header does not match the ``_csrf_token`` cookie."""


class UserNotFound(NotFoundError):
    """No user has this id."""


class ApiKeyNotFound(NotFoundError):
    """The user has no API key with this id."""


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


class UserDeleted(ChaliceViewError):
    """An ``Idempotency-Key`` retry of a create whose user has been deleted since."""

    STATUS_CODE = 410


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


class LoginError(StrEnum):
    """Each ``login_error`` code a failed OpenID Connect login lands with on its origin
    (``?login_error=<code>``); ``LOGIN_ERRORS`` says what each means."""

    INVALID_STATE = "invalid_state"
    INVALID_REQUEST = "invalid_request"
    INVALID_ISSUER = "invalid_issuer"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    TOKEN_EXCHANGE_FAILED = "token_exchange_failed"
    INVALID_ID_TOKEN = "invalid_id_token"
    EMAIL_MISSING = "email_missing"
    EMAIL_IN_USE = "email_in_use"
    INVALID_PROFILE = "invalid_profile"


LOGIN_ERRORS: dict[LoginError, str] = {
    LoginError.INVALID_STATE: "no, expired or foreign login cookie, or a state that does not "
    "match: the login took too long or began in another browser",
    LoginError.INVALID_REQUEST: "the provider came back without an authorization code",
    LoginError.INVALID_ISSUER: "the authorization response named another issuer than the "
    "provider's (RFC 9207)",
    LoginError.PROVIDER_ERROR: "the provider refused the login",
    LoginError.PROVIDER_UNAVAILABLE: "the provider's discovery document or keys could not be read",
    LoginError.TOKEN_EXCHANGE_FAILED: "the provider did not exchange the code for tokens",
    LoginError.INVALID_ID_TOKEN: "the ID token's signature, iss, aud, exp, iat or nonce is wrong",
    LoginError.EMAIL_MISSING: "the provider gave no email address",
    LoginError.EMAIL_IN_USE: "a user has the email, and the provider is not trusted for linking "
    "or did not verify the email, or that user's email is not verified",
    LoginError.INVALID_PROFILE: "the provider's profile cannot be stored (an unusable email or "
    "identity)",
}
"""What each ``login_error`` code means: the OpenAPI document and docs/API.md show it."""


class LoginRefused(ForbiddenError):
    """An OpenID Connect login that the service refuses; ``reason`` is the
    ``login_error`` code the browser lands with."""

    def __init__(self, reason: LoginError, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class ServiceMisconfigured(ChaliceViewError):
    """A setting the request needs is missing (the message names it); 500."""


DOMAIN_ERRORS: tuple[type[ChaliceViewError], ...] = tuple(
    value
    for value in list(globals().values())
    if isinstance(value, type)
    and issubclass(value, ChaliceViewError)
    and value.__module__ == __name__
)
"""Every error above, in the order declared."""

ANSWERED = tuple(error for error in DOMAIN_ERRORS if error is not LoginRefused)
"""The errors a route answers with: LoginRefused ends a login on its origin instead."""
