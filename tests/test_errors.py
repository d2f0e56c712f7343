"""The one error table (``chalicelib/errors.py``) and its copy for readers, the
README's table."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from chalicelib import errors

README = Path(__file__).resolve().parent.parent / "README.md"


def declared() -> dict[int, set[str]]:
    """Each status a route answers with, and the codes that carry it."""
    table: dict[int, set[str]] = defaultdict(set)
    for error in errors.DOMAIN_ERRORS:
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


def test_every_error_is_a_class_of_errors_py_with_a_docstring() -> None:
    for error in errors.DOMAIN_ERRORS:
        assert error.__module__ == "chalicelib.errors"
        assert (error.__doc__ or "").strip(), error.__name__
