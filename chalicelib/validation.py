"""What callers may send: request bodies field by field, and page parameters.

The ``Body`` definitions here are the one source of both request validation
and the schemas of the OpenAPI document. A rule JSON Schema cannot say (the
ORCID check digit) is an extra check named in the field's description.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import errors
from chalicelib.permissions import PERMISSIONS
from chalicelib.text import is_clean, whole_number

MAX_SHORT = 400
MAX_URL = 2048
MAX_PAGE = 1000
MAX_CURSOR = 2048
DEFAULT_PAGE = 100


def orcid_is_valid(orcid: str) -> bool:
    """True for ``dddd-dddd-dddd-dddX`` with a valid ISO 7064 11,2 check digit."""
    if not re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", orcid):
        return False
    digits = orcid.replace("-", "")
    total = 0
    for digit in digits[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def email_is_valid(email: str) -> bool:
    """True for an address the record takes (chalicelib/addresses.py: what a mail
    system accepts, as ``email-validator`` reads it, and no lookalike of another);
    otherwise InvalidInput naming the rule the address breaks. No DNS lookup is made."""
    from chalicelib.addresses import normalise

    normalise(email)
    return True


@dataclass(frozen=True)
class Field:
    """One field of a request body: its JSON type and rules."""

    name: str
    kind: str = "string"  # string, integer, boolean, permissions, strings, objects, any
    description: str = ""
    max_length: int = MAX_SHORT
    pattern: str | None = None  # the whole value must match (anchored in the schema)
    multiline: bool = False  # newline and tab allowed
    format: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    read_only: bool = False
    extra: Callable[[str], bool] | None = None
    max_items: int | None = None  # of a list

    def check(self, value: Any) -> None:
        """Raise InvalidInput when ``value`` breaks this field's rules."""
        if self.kind == "any":
            return
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise errors.InvalidInput(f"{self.name} must be true or false")
            return
        if self.kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise errors.InvalidInput(f"{self.name} must be a whole number")
            if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum
            ):
                raise errors.InvalidInput(
                    f"{self.name} must be from {self.minimum} to {self.maximum}"
                )
            return
        if self.kind in ("permissions", "strings"):
            self._check_list(value)
            return
        if not isinstance(value, str):
            raise errors.InvalidInput(f"{self.name} must be a string")
        if len(value) > self.max_length:
            raise errors.InvalidInput(f"{self.name} is longer than {self.max_length} characters")
        if not is_clean(value, self.multiline):
            raise errors.InvalidInput(
                f"{self.name} holds a control or invisible character or a lone surrogate"
            )
        if (self.pattern and not re.fullmatch(self.pattern, value)) or (
            self.extra is not None and value and not self.extra(value)
        ):
            raise errors.InvalidInput(f"{self.name}: {self.description}")

    def _check_list(self, value: Any) -> None:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise errors.InvalidInput(f"{self.name} must be a list of strings")
        if self.max_items is not None and len(value) > self.max_items:
            raise errors.InvalidInput(f"{self.name} holds more than {self.max_items} items")
        if not all(is_clean(item) for item in value):
            raise errors.InvalidInput(f"{self.name} holds a control character or a lone surrogate")
        if self.kind == "permissions":
            unknown = [item for item in value if item not in PERMISSIONS]
            if unknown:
                raise errors.InvalidInput(f"unknown permission {unknown[0]!r}")
            if len(set(value)) != len(value):
                raise errors.InvalidInput(f"{self.name} must not repeat a name")

    def schema(self) -> dict[str, Any]:
        """This field as JSON Schema (2020-12, as OpenAPI 3.1 uses it)."""
        result: dict[str, Any]
        if self.kind == "any":
            result = {}
        elif self.kind == "boolean":
            result = {"type": "boolean"}
        elif self.kind == "integer":
            result = {"type": "integer"}
            if self.minimum is not None:
                result["minimum"] = self.minimum
            if self.maximum is not None:
                result["maximum"] = self.maximum
        elif self.kind == "permissions":
            result = {
                "type": "array",
                "items": {"type": "string", "enum": list(PERMISSIONS)},
                "uniqueItems": True,
            }
        elif self.kind == "strings":
            result = {"type": "array", "items": {"type": "string"}}
        elif self.kind == "objects":
            result = {"type": "array", "items": {"type": "object"}}
        else:
            result = {"type": "string", "maxLength": self.max_length}
            if self.pattern:
                result["pattern"] = f"^(?:{self.pattern})$"
            if self.format:
                result["format"] = self.format
        if self.max_items is not None:
            result["maxItems"] = self.max_items
        if self.description:
            result["description"] = self.description
        if self.read_only:
            result["readOnly"] = True
        return result


@dataclass(frozen=True)
class Body:
    """A JSON object a route accepts: its fields, the required ones, no others."""

    name: str
    fields: tuple[Field, ...]
    required: tuple[str, ...] = ()
    by_name: Mapping[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def check(self, body: Mapping[str, Any]) -> None:
        """Raise UnknownField or InvalidInput for a body that breaks these rules.

        Read-only fields are not checked here: a route compares them with the
        record's current values.
        """
        for name, value in body.items():
            spec = self.by_name.get(name)
            if spec is None:
                raise errors.UnknownField(f"{self.name} has no field {name!r}")
            if not spec.read_only:
                spec.check(value)
        missing = [name for name in self.required if name not in body]
        if missing:
            raise errors.InvalidInput(f"{missing[0]} is required")

    def schema(self) -> dict[str, Any]:
        """This body as a JSON Schema object."""
        result: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: f.schema() for f in self.fields},
            "additionalProperties": False,
        }
        if self.required:
            result["required"] = list(self.required)
        return result


USER = Body(
    "User",
    (
        Field("id", read_only=True, description="opaque, made by the service"),
        Field(
            "email",
            pattern=r"[^@\s]+@[^@\s]+",
            format="email",
            extra=email_is_valid,
            description="an address a mail system would accept, without '::', invisible "
            "characters, mixed scripts or ASCII lookalikes in the local part; stored with the "
            "domain as its IDNA A-label; unique (compared after Unicode NFKC normalisation and "
            "case folding)",
        ),
        Field(
            "email_verified",
            kind="boolean",
            read_only=True,
            description="whether a trusted party vouched for the address",
        ),
        Field("name", pattern=r".*\S.*", description="not empty"),
        Field("affiliation", multiline=True),
        Field("contact", multiline=True),
        Field(
            "orcid",
            pattern=r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])?",
            extra=orcid_is_valid,
            description="empty, or dddd-dddd-dddd-dddX with a valid ISO 7064 11,2 check digit",
        ),
        Field(
            "url",
            max_length=MAX_URL,
            pattern=r"(https?://[^\s/?#]+\S*)?",
            description="empty, or an http:// or https:// URL",
        ),
        Field("permissions", kind="permissions", description="stored as given"),
        Field(
            "effective_permissions",
            kind="permissions",
            read_only=True,
            description="sorted; what the user may do now: the closure of the grants by hand "
            "and the live grants of providers' rules",
        ),
        Field(
            "rule_permissions",
            kind="objects",
            read_only=True,
            description="permissions granted by a provider's rule at login: "
            '{"permission", "provider", "claim", "value", "asserted"}',
        ),
        Field("auth_ids", kind="strings", read_only=True, description="login identities"),
        Field(
            "suspended",
            kind="boolean",
            description="a suspended user's sessions end and its keys and logins are refused",
        ),
        Field("version", kind="integer", read_only=True),
        Field("created", format="date-time", read_only=True),
        Field("updated", format="date-time", read_only=True),
    ),
)
FIELDS = tuple(f.name for f in USER.fields)
PUBLIC_FIELDS = ("id", "name", "email", "affiliation", "contact", "orcid", "url")
PROFILE_FIELDS = ("name", "affiliation", "contact", "orcid", "url")
CREATOR_FIELDS = ("email", *PROFILE_FIELDS)
MANAGER_FIELDS = (*CREATOR_FIELDS, "permissions", "suspended")
# The values that name or describe a person: an erasure replaces them in every log
# entry of the record (API.md section 10); an export holds them.
PERSONAL_FIELDS = ("email", *PROFILE_FIELDS, "auth_ids")

API_KEY_REQUEST = Body(
    "ApiKeyRequest",
    (
        Field("name", max_length=100, description="a label for the key"),
        Field(
            "expires_in_days",
            kind="integer",
            minimum=1,
            description="1 to API_KEY_MAX_DAYS (365 unless the deployment sets it; more "
            "gives 400); absent: API_KEY_DEFAULT_DAYS (90 unless set)",
        ),
        Field(
            "permissions",
            kind="permissions",
            description="what the key may use, implied permissions included, and only while "
            "its owner has them; at most the caller's own; absent: the caller's scope",
        ),
        Field(
            "read_only",
            kind="boolean",
            description="only GET routes and POST /login/token; writes get 403 KeyReadOnly",
        ),
    ),
)
MAX_OVERLAP_HOURS = 168
API_KEY_ROTATION = Body(
    "ApiKeyRotation",
    (
        Field(
            "overlap_hours",
            kind="integer",
            minimum=0,
            maximum=MAX_OVERLAP_HOURS,
            description="how long the old key keeps working; default 24",
        ),
    ),
)
MAX_LEAKED_KEYS = 100
LEAKED_KEYS = Body(
    "LeakedKeys",
    (
        Field(
            "keys",
            kind="strings",
            max_items=MAX_LEAKED_KEYS,
            description="keys found in the open, as a secret scanner reported them",
        ),
    ),
    required=("keys",),
)
API_KEY_LOGIN = Body(
    "ApiKeyLogin",
    (
        Field("api-key", pattern=r".*\S.*", description="an API key"),
        Field("api-user", kind="any", description="sent by older clients; ignored, any type"),
    ),
    required=("api-key",),
)


@dataclass(frozen=True)
class Page:
    """A page request: how many items, and the ``next`` of the page before."""

    limit: int
    cursor: str | None


def parse_page(params: Mapping[str, str], extra: tuple[str, ...] = ()) -> Page:
    """Read ``limit`` and ``cursor``; raises InvalidInput for anything else."""
    unknown = sorted(set(params) - {"limit", "cursor", *extra})
    if unknown:
        raise errors.InvalidInput(f"unknown query parameter {unknown[0]!r}")
    for name, value in params.items():
        if not is_clean(value):
            raise errors.InvalidInput(f"{name} holds a control character or a lone surrogate")
    limit = whole_number(params.get("limit", str(DEFAULT_PAGE)), max_digits=4)
    if limit is None or not 1 <= limit <= MAX_PAGE:
        raise errors.InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}")
    cursor = params.get("cursor")
    if cursor is not None and len(cursor) > MAX_CURSOR:
        raise errors.InvalidCursor("cursor is not the next of an earlier page")
    return Page(limit, cursor)
