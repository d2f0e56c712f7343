"""The user record, field by field (docs/API.md section 3): the one declaration of each field.

Each ``Field`` of ``USER`` says its type and rules, who may write it
(``writers``: ``SELF``, ``CREATOR``, ``MANAGER``; none for fields the service
sets), whether callers without USER_MANAGEMENT see it (``public``), whether it
names or describes the person, so an erasure replaces it (``personal``), and what
``import-users`` does with a value the rules refuse (``on_import``). Everything
else is derived from here: request validation (``USER.check``), the record as
callers see it (``user_views.user_view``), the request and response schemas
of the OpenAPI document, the importer's rules, the values an erasure replaces,
and the web UI's types (from the document). A new field is one more ``Field``
below, plus its storage attribute on ``models.User``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.records.validation import (
    MAX_EMAIL_BYTES,
    MAX_URL,
    Body,
    Field,
    email_is_valid,
    email_pattern,
    orcid_is_valid,
)

SELF = "self"
CREATOR = "creator"
MANAGER = "USER_MANAGEMENT"
NOBODY: frozenset[str] = frozenset()
PROFILE = frozenset({SELF, CREATOR, MANAGER})

# What import-users does with a value today's rules refuse (Field.on_import).
REJECT = "reject"  # the record is rejected and listed
CLEAR = "clear"  # the value is cleared and the change listed
DROP_UNKNOWN = "drop_unknown"  # list items no longer known are dropped and listed
SERVICE = "service"  # not taken from the export: the service sets it

USER = Body(
    "User",
    (
        Field(
            "id",
            writers=NOBODY,
            public=True,
            on_import=SERVICE,
            description="opaque, made by the service",
        ),
        Field(
            "email",
            pattern="<visible>+",  # the rest is email_is_valid's
            schema_pattern=email_pattern,
            max_length=MAX_EMAIL_BYTES,
            extra=email_is_valid,
            writers=frozenset({CREATOR, MANAGER}),
            public=True,
            personal=True,
            required=True,
            on_import=REJECT,
            description="an address a mail system would accept, without '::', invisible "
            "characters, mixed scripts or ASCII lookalikes in the local part; stored with the "
            "domain as its IDNA A-label; unique (compared after Unicode NFKC normalisation and "
            "case folding). The pattern is the part of the rule a pattern can state: every "
            "address of it is taken, and internationalised ones in one script besides",
        ),
        Field(
            "email_verified",
            kind="boolean",
            writers=NOBODY,
            on_import=SERVICE,
            description="whether a trusted party vouched for the address",
        ),
        Field(
            "name",
            pattern="<text>*<visible><text>*",
            writers=PROFILE,
            public=True,
            personal=True,
            on_import=CLEAR,
            description="not empty",
        ),
        Field(
            "affiliation",
            multiline=True,
            writers=PROFILE,
            public=True,
            personal=True,
            on_import=CLEAR,
        ),
        Field(
            "contact",
            multiline=True,
            writers=PROFILE,
            public=True,
            personal=True,
            on_import=CLEAR,
        ),
        Field(
            "orcid",
            pattern="([0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X])?",
            format="orcid",  # the check digit, which no pattern states
            extra=orcid_is_valid,
            writers=PROFILE,
            public=True,
            personal=True,
            on_import=CLEAR,
            description="empty, or dddd-dddd-dddd-dddX with a valid ISO 7064 11,2 check digit",
        ),
        Field(
            "url",
            max_length=MAX_URL,
            pattern="(https?://<host>+<visible>*)?",
            writers=PROFILE,
            public=True,
            personal=True,
            on_import=CLEAR,
            description="empty, or an http:// or https:// URL",
        ),
        Field(
            "permissions",
            kind="permissions",
            writers=frozenset({MANAGER}),
            on_import=DROP_UNKNOWN,
            description="stored as given",
        ),
        Field(
            "effective_permissions",
            kind="permissions",
            writers=NOBODY,
            on_import=SERVICE,
            description="sorted; what the user may do now: the closure of the grants by hand "
            "and the live grants of providers' rules",
        ),
        Field(
            "rule_permissions",
            kind="objects",
            members=("permission", "provider", "claim", "value", "asserted"),
            writers=NOBODY,
            on_import=SERVICE,
            description="permissions granted by a provider's rule at login, each with the "
            "provider, the claim and value that matched, and when it was asserted",
        ),
        Field(
            "auth_ids",
            kind="strings",
            writers=NOBODY,
            personal=True,
            on_import=CLEAR,
            description="login identities",
        ),
        Field(
            "suspended",
            kind="boolean",
            writers=frozenset({MANAGER}),
            on_import=SERVICE,
            description="a suspended user's sessions end and its keys and logins are refused",
        ),
        Field("version", kind="integer", writers=NOBODY, on_import=SERVICE),
        Field("created", format="date-time", writers=NOBODY, on_import=SERVICE),
        Field("updated", format="date-time", writers=NOBODY, on_import=SERVICE),
    ),
)


NEW_USER = Body("NewUser", USER.fields, required=tuple(f.name for f in USER.fields if f.required))
"""What ``POST /user`` takes: the record's fields, those a record needs required."""


def writable_by(writer: str) -> tuple[str, ...]:
    """The names of the fields ``writer`` may write, in declaration order."""
    return tuple(f.name for f in USER.fields if f.writers and writer in f.writers)


PUBLIC_FIELDS = tuple(f.name for f in USER.fields if f.public)
PROFILE_FIELDS = writable_by(SELF)
CREATOR_FIELDS = writable_by(CREATOR)
MANAGER_FIELDS = writable_by(MANAGER)
PERSONAL_FIELDS = tuple(f.name for f in USER.fields if f.personal)
"""The values that name or describe a person: an erasure replaces them in every log
entry of the record (docs/API.md section 10)."""
MANAGER_ONLY = tuple(name for name in MANAGER_FIELDS if name not in CREATOR_FIELDS)
"""Fields a creator may set only when it holds USER_MANAGEMENT too."""


def stored_value(field: Field, value: Any) -> Any:
    """A stored attribute's value as the API shows it (PynamoDB numbers and sets to JSON)."""
    if field.kind == "integer":
        return int(value)
    if field.kind == "boolean":
        return bool(value)
    if field.kind in ("permissions", "strings", "objects"):
        return list(value or ())
    return value
