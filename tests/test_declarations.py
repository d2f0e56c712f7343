"""Each fact declared once: the record's fields, the permissions, each route's
permission and the login errors, and what is derived from them."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import errors, importer, openapi, record
from chalicelib.operations import needs_of
from chalicelib.permissions import DESCRIPTIONS, PERMISSIONS, USER_MANAGEMENT, Caller, Needs
from tests.conftest import assert_error

DOCUMENT = openapi.document(app.routes)


def test_who_may_write_each_field_is_derived_from_its_declaration() -> None:
    assert record.PROFILE_FIELDS == ("name", "affiliation", "contact", "orcid", "url")
    assert ("email", *record.PROFILE_FIELDS) == record.CREATOR_FIELDS
    assert record.MANAGER_ONLY == ("permissions",)
    read_only = {f.name for f in record.USER.fields if f.read_only}
    assert read_only == {"id", "email_verified", "auth_ids", "version", "created", "updated"}


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
