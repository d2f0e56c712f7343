"""The one error table (``chalicelib/errors.py``) and what is written from it: the
OpenAPI document's error responses (docs/API.md's table: tests/test_api_doc.py)."""

from __future__ import annotations

import re
from collections import defaultdict

from chalicelib import errors
from chalicelib.http import openapi


def declared() -> dict[int, set[str]]:
    """Each status a route answers with, and the codes that carry it."""
    table: dict[int, set[str]] = defaultdict(set)
    for error in errors.DOMAIN_ERRORS:
        table[error.STATUS_CODE].add(error.__name__)
    return dict(table)


def test_openapi_describes_each_status_with_every_code_it_carries() -> None:
    assert set(openapi.ERRORS) == set(declared())
    for status, codes in declared().items():
        described = set(re.findall(r"(?:: |; )(\w+) \(", openapi.ERRORS[status]))
        assert described == codes, status


def test_every_error_is_a_class_of_errors_py_with_a_docstring() -> None:
    for error in errors.DOMAIN_ERRORS:
        assert error.__module__ == "chalicelib.errors"
        assert (error.__doc__ or "").strip(), error.__name__


def test_a_failed_login_is_no_answer_but_lands_with_a_login_error_code() -> None:
    assert not issubclass(errors.LoginFailed, errors.DOMAIN_ERRORS)
    assert set(errors.LOGIN_ERRORS) == set(errors.LoginError)
