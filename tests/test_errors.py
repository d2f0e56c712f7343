"""The one error table (``chalicelib/errors.py``) and its copies for readers: the
README's table and the OpenAPI document's error responses."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from chalicelib import errors, openapi

README = Path(__file__).resolve().parent.parent / "README.md"


def declared() -> dict[int, set[str]]:
    """Each status a route answers with, and the codes that carry it."""
    table: dict[int, set[str]] = defaultdict(set)
    for error in errors.ANSWERED:
        table[error.STATUS_CODE].add(error.__name__)
    return dict(table)


def readme_table() -> dict[int, set[str]]:
    """The README's error table: the rows under the ``| status | codes |`` header."""
    text = README.read_text("utf-8")
    start = text.index("| status | codes |")
    table: dict[int, set[str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        status, codes = (cell.strip() for cell in line.strip("|").split("|", 1))
        table[int(status)] = set(re.findall(r"`(\w+)`", codes))
    return table


def test_readme_error_table_lists_every_error_class_under_its_status() -> None:
    assert readme_table() == declared()


def test_openapi_describes_each_status_with_every_code_it_carries() -> None:
    assert set(openapi.ERRORS) == set(declared())
    for status, codes in declared().items():
        described = set(re.findall(r"(?:: |; )(\w+) \(", openapi.ERRORS[status]))
        assert described == codes, status


def test_every_error_is_a_class_of_errors_py_with_a_docstring() -> None:
    for error in errors.DOMAIN_ERRORS:
        assert error.__module__ == "chalicelib.errors"
        assert (error.__doc__ or "").strip(), error.__name__


def test_login_refusal_is_not_answered_but_lands_as_login_error() -> None:
    assert errors.LoginRefused in errors.DOMAIN_ERRORS
    assert errors.LoginRefused not in errors.ANSWERED
