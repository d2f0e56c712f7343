"""Each fact declared once: the record's fields, the permissions, each route's
permission and the login errors, and what is derived from them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from app import app
from chalicelib import errors
from chalicelib.http import openapi
from chalicelib.http.operations import needs_of
from chalicelib.permissions import DESCRIPTIONS, PERMISSIONS, USER_MANAGEMENT, Caller, Needs
from chalicelib.records import record
from chalicelib.records.validation import EMAIL_FITS, MAX_EMAIL_BYTES
from chalicelib.text import char_class, email_local_char, is_clean
from ops import importer
from tests.conftest import assert_error

DOCUMENT = openapi.document(app.routes, openapi.DEFAULT_KEY_DAYS)
EMAIL = record.USER.by_name["email"]


def test_who_may_write_each_field_is_derived_from_its_declaration() -> None:
    assert record.PROFILE_FIELDS == ("name", "affiliation", "contact", "orcid", "url")
    assert ("email", *record.PROFILE_FIELDS) == record.CREATOR_FIELDS
    assert record.MANAGER_ONLY == ("permissions", "suspended")
    read_only = {f.name for f in record.USER.fields if f.read_only}
    assert read_only == {
        "id",
        "email_verified",
        "effective_permissions",
        "rule_permissions",
        "auth_ids",
        "version",
        "created",
        "updated",
    }


def test_an_erasure_replaces_the_fields_declared_personal() -> None:
    assert ("email", *record.PROFILE_FIELDS, "auth_ids") == record.PERSONAL_FIELDS


def test_document_schemas_of_the_record_follow_the_declaration() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    assert list(schemas["PublicUser"]["properties"]) == list(record.PUBLIC_FIELDS)
    assert list(schemas["UserRecord"]["properties"]) == [f.name for f in record.USER.fields]
    fields = schemas["UserFields"]["properties"]
    assert {name for name, schema in fields.items() if schema.get("readOnly")} == {
        f.name for f in record.USER.fields if f.read_only
    }


def test_importer_rules_follow_the_declaration() -> None:
    assert importer.REQUIRED == ("email",)
    assert importer.OPTIONAL == record.PROFILE_FIELDS
    assert importer.DROPPING == ("permissions",)
    assert (*record.CREATOR_FIELDS, "permissions") == importer.FIELDS


def test_every_permission_has_one_description_published_in_the_document() -> None:
    assert set(DESCRIPTIONS) == set(PERMISSIONS)
    published = DOCUMENT["x-permissions"]
    assert {name: entry["description"] for name, entry in published.items()} == DESCRIPTIONS
    assert published["DATA_MANAGEMENT"]["implies"] == ["DATA_EDIT", "OWNERS_READ"]


def test_every_route_behind_the_authorizer_declares_its_permission_in_the_document() -> None:
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if method == "OPTIONS":
                continue
            operation = DOCUMENT["paths"][path][method.lower()]
            needs = needs_of(entry.view_function)
            assert (needs is not None) == (entry.authorizer is not None), (path, method)
            if needs is not None:
                assert operation["x-permission"] == {
                    "name": needs.permission,
                    "or_self": needs.or_self,
                }


def test_self_may_call_a_self_or_manager_route_and_others_need_the_permission() -> None:
    rule = Needs(USER_MANAGEMENT, or_self=True)
    rule.check(Caller("u1", frozenset()), "u1")
    rule.check(Caller("u2", frozenset({USER_MANAGEMENT})), "u1")
    with pytest.raises(errors.PermissionDenied):
        rule.check(Caller("u2", frozenset()), "u1")


def test_route_refuses_a_caller_without_its_declared_permission(
    client: Client, make_user: Any
) -> None:
    nobody = make_user()
    assert_error(client.http.get("/api/v1/user", headers=nobody.headers), 403, "PermissionDenied")
    own_log = client.http.get(f"/api/v1/user/{nobody.id}/log", headers=nobody.headers)
    assert own_log.status_code == 200


def test_login_errors_are_one_enum_each_with_its_meaning_in_the_document() -> None:
    assert set(errors.LOGIN_ERRORS) == set(errors.LoginError)
    schema = DOCUMENT["components"]["schemas"]["LoginError"]
    assert schema["enum"] == [code.value for code in errors.LoginError]
    assert "invalid_request" in schema["enum"]


PUBLISHED_EMAIL = EMAIL.shape(char_class, EMAIL.published_pattern)
assert PUBLISHED_EMAIL.startswith(EMAIL_FITS)
# Hypothesis writes a lookahead's own text into the string it draws, so drawn whole the
# pattern yields mostly strings it refuses; drawn from what follows the lookahead and
# kept only where the whole pattern matches, every example is still one it allows.
PUBLISHED_EMAILS = st.from_regex(PUBLISHED_EMAIL.removeprefix(EMAIL_FITS), fullmatch=True)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(PUBLISHED_EMAILS.filter(re.compile(PUBLISHED_EMAIL).fullmatch))
def test_every_email_the_documented_pattern_allows_is_one_the_service_takes(email: str) -> None:
    if len(email.encode()) <= MAX_EMAIL_BYTES:
        EMAIL.check(email)


@pytest.mark.parametrize("kind", ["text", "multiline", "visible", "email"])
def test_documented_character_classes_hold_exactly_what_the_checks_let_through(kind: str) -> None:
    pattern = re.compile(char_class(kind))
    checks = {
        "text": is_clean,
        "multiline": lambda char: is_clean(char, multiline=True),
        "visible": lambda char: is_clean(char) and not char.isspace(),
        "email": lambda char: is_clean(char) and not char.isspace() and email_local_char(char),
    }
    for code in range(0, 0x110000, 7):
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates: refused by the checks, not nameable in a pattern
        char = chr(code)
        assert bool(pattern.fullmatch(char)) == checks[kind](char), hex(code)
