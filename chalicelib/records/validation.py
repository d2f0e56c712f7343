"""What callers may send: request bodies field by field, and page parameters.

The ``Body`` definitions here are the one source of both request validation
and the schemas of the OpenAPI document. A rule JSON Schema cannot say (the
ORCID check digit) is an extra check named in the field's description.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import errors
from chalicelib.permissions import PERMISSIONS
from chalicelib.text import char_class, is_clean, whole_number

MAX_SHORT = 400
MAX_URL = 2048
MAX_PAGE = 1000
MAX_CURSOR = 2048
CURSOR_PATTERN = f"[A-Za-z0-9_-]{{1,{MAX_CURSOR}}}"  # base64url, as cursors.encode_cursor writes
DEFAULT_PAGE = 100


def orcid_check_digit(digits: str) -> str:
    """The ISO 7064 11,2 check digit of an ORCID's first 15 digits (``X`` for 10)."""
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def orcid_is_valid(orcid: str) -> bool:
    """True for ``dddd-dddd-dddd-dddX`` with a valid ISO 7064 11,2 check digit."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]", orcid):
        return False
    digits = orcid.replace("-", "")
    return digits[-1] == orcid_check_digit(digits[:-1])


FULLWIDTH = 0xFEE0  # U+FF01..FF5E are ASCII's ! to ~, which NFKC folds them back to


def _either(char: str) -> str:
    """A class of ``char`` in either case, as ASCII or fullwidth."""
    forms = {char.lower(), char.upper()} if char.isalpha() else {char}
    forms |= {chr(ord(form) + FULLWIDTH) for form in forms}
    return "[" + "".join(f"\\u{ord(form):04x}" for form in sorted(forms)) + "]"


def _special_use_tlds() -> str:
    """A lookahead refusing the special-use top-level domains (RFC 6761) that
    ``email-validator`` refuses, in any case, ASCII or fullwidth."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    names = sorted(name for name in SPECIAL_USE_DOMAIN_NAMES if "." not in name)
    return "(?!(?:" + "|".join("".join(_either(c) for c in name) for name in names) + ")$)"


ALNUM = "A-Za-z0-9\\uff10-\\uff19\\uff21-\\uff3a\\uff41-\\uff5a"
LETTER = "A-Za-z\\uff21-\\uff3a\\uff41-\\uff5a"
MAX_EMAIL_BYTES = 254  # RFC 5321 4.5.3.1.3, in UTF-8
MAX_EMAIL_WIDE = MAX_EMAIL_BYTES // 3  # fullwidth forms take 3 bytes each in UTF-8
# ASCII up to the document's maxLength, or short enough that its UTF-8 fits the limit
EMAIL_FITS = rf"(?=[\x00-\x7f]*$|.{{1,{MAX_EMAIL_WIDE}}}$)"


@functools.cache
def email_pattern() -> str:
    """The addresses the OpenAPI document promises to take: a dot-atom local part (RFC
    5322's atext, or its fullwidth forms) and a host name of ASCII (or fullwidth) letters,
    digits and hyphens whose top-level domain is letters. Every one of them passes
    ``email_is_valid``; the service takes more (internationalised hosts, local parts in
    one script), which no pattern can state without its lookalike rules.

    Built on first use: it reads ``email-validator``'s list of special-use domains, an
    import a request that only reads records does not need."""
    return (
        EMAIL_FITS
        + rf"<email>+(?:\.<email>+)*@(?:[{ALNUM}]{{1,30}}(?:-[{ALNUM}]{{1,30}})?\.)+"
        + _special_use_tlds()
        + f"[{LETTER}]{{2,30}}"
    )


def email_is_valid(email: str) -> bool:
    """True for an address the record takes (chalicelib/records/addresses.py: what a mail
    system accepts, as ``email-validator`` reads it, and no lookalike of another);
    otherwise InvalidInput naming the rule the address breaks. No DNS lookup is made.
    ``email_pattern()`` is the part of this rule the OpenAPI document can state."""
    from chalicelib.records.addresses import normalise

    normalise(email)
    return True


_RUNTIME = {
    "text": ".",
    "multiline": ".",
    "visible": r"\S",
    "host": r"[^\s/?#]",
    "email": r"(?:[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]|[^\x00-\x7f])",
}


@dataclass(frozen=True)
class Field:
    """One field of a request body: its JSON type and rules."""

    name: str
    kind: str = "string"  # string, integer, boolean, permissions, strings, objects, any
    description: str = ""
    max_length: int = MAX_SHORT
    # The whole value must match; ``<text>``, ``<visible>``, ``<host>``, ``<email>`` stand
    # for a character of that class (text.char_class). Default: any clean text.
    pattern: str | None = None
    # Published instead of ``pattern`` where the rule (``extra``) is more than a pattern
    # can say: the part of it every value of this pattern passes (built when first asked).
    schema_pattern: Callable[[], str] | None = None
    multiline: bool = False  # newline and tab allowed
    format: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    extra: Callable[[str], bool] | None = None
    max_items: int | None = None  # of a list
    members: tuple[str, ...] = ()  # kind "objects": the string members of each object
    # Record fields only (chalicelib/records/record.py); a request body's fields keep the defaults.
    writers: frozenset[str] | None = None  # who may write it; None: whoever sends the body
    public: bool = False  # shown to callers without USER_MANAGEMENT
    personal: bool = False  # names or describes a person: erased with the user
    required: bool = False  # a record cannot be made without it
    on_import: str = "reject"  # what import-users does with a value these rules refuse

    @property
    def read_only(self) -> bool:
        """True when nobody may write the field: the service sets it."""
        return self.writers is not None and not self.writers

    def check(self, value: Any) -> None:
        """Raise InvalidInput when ``value`` breaks this field's rules."""
        if self.kind == "any":
            return
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise errors.InvalidInput(f"{self.name} must be true or false")
            return
        if self.kind == "integer":
            # JSON Schema counts 5.0 as an integer, and so does the service.
            if isinstance(value, float) and value.is_integer():
                value = int(value)
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
        if not re.fullmatch(self.runtime_pattern, value, re.DOTALL) or (
            self.extra is not None and value and not self.extra(value)
        ):
            raise errors.InvalidInput(f"{self.name}: {self.description}")

    def shape(self, token: Callable[[str], str], pattern: str | None = None) -> str:
        """The field's pattern (or ``pattern``) with each ``<kind>`` written by ``token(kind)``."""
        pattern = pattern or self.pattern or "<text>*"
        for kind in ("text", "visible", "host", "email"):
            shown = "multiline" if kind == "text" and self.multiline else kind
            pattern = pattern.replace(f"<{kind}>", token(shown))
        return pattern

    @property
    def published_pattern(self) -> str | None:
        """The pattern the OpenAPI document states, where it differs from ``pattern``."""
        return self.schema_pattern() if self.schema_pattern is not None else None

    @functools.cached_property
    def runtime_pattern(self) -> str:
        """The pattern that checks a value ``is_clean`` has passed (and, for an email,
        ``email_local_char``): cheap classes where the clean ones are implied."""
        return self.shape(_RUNTIME.__getitem__)

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
            clean = {"type": "string", "pattern": f"^{char_class('text')}*$"}
            result = {"type": "array", "items": clean}
        elif self.kind == "objects":
            item = {name: {"type": "string"} for name in self.members}
            result = {
                "type": "array",
                "items": {"type": "object", "properties": item, "required": list(item)},
            }
        else:
            result = {
                "type": "string",
                "maxLength": self.max_length,
                "pattern": f"^(?:{self.shape(char_class, self.published_pattern)})$",
            }
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
        Field("api-key", pattern="<text>*<visible><text>*", description="an API key"),
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
    if cursor is not None and not re.fullmatch(CURSOR_PATTERN, cursor):
        raise errors.InvalidCursor("cursor is not the next of an earlier page")
    return Page(limit, cursor)
