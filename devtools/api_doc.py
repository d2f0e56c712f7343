"""The tables of ``docs/API.md`` that the service's declarations say: permissions,
the record's fields, the routes, the errors and the login errors.

Each table sits between ``<!-- table: NAME -->`` and ``<!-- end table -->`` in the
page; the prose around them is written by hand. ``python -m devtools.api_doc``
writes the tables into the page; ``tests/test_api_doc.py`` fails while the page
and the declarations disagree.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent.parent / "docs/API.md"
TABLE = re.compile(r"(<!-- table: ([\w-]+) -->\n).*?(<!-- end table -->)", re.DOTALL)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def permissions() -> str:
    """Each permission, what it lets its holder do and what it implies."""
    from chalicelib.permissions import DESCRIPTIONS, IMPLIES, PERMISSIONS

    return _table(
        ("permission", "lets its holder", "implies"),
        (
            (f"`{name}`", DESCRIPTIONS[name], ", ".join(f"`{p}`" for p in IMPLIES.get(name, ())))
            for name in PERMISSIONS
        ),
    )


def _rules(field: Any) -> str:
    if field.kind == "permissions":
        rule = "known permission names, none twice"
    elif field.kind in ("integer", "boolean"):
        rule = field.kind
    elif field.kind == "strings":
        rule = "list of strings"
    elif field.kind == "objects":
        rule = "list of objects: " + ", ".join(f"`{name}`" for name in field.members)
    else:
        lines = "newline and tab allowed" if field.multiline else "one line"
        rule = f"text, at most {field.max_length} characters, {lines}"
    return f"{rule}; {field.description}" if field.description else rule


def record() -> str:
    """Each field of the user record: its rules, who writes it, who sees it, import."""
    from chalicelib.records.record import USER

    def writers(field: Any) -> str:
        return ", ".join(sorted(field.writers)) if field.writers else "nobody (the service)"

    return _table(
        ("field", "rules", "who may write it", "shown to", "personal", "a bad value on import"),
        (
            (
                f"`{f.name}`" + (" (required)" if f.required else ""),
                _rules(f),
                writers(f),
                "everyone who may list users" if f.public else "self and USER_MANAGEMENT",
                "yes, erased with the user" if f.personal else "no",
                f.on_import.replace("_", " "),
            )
            for f in USER.fields
        ),
    )


def routes() -> str:
    """Each route: method and path, who may call it, success status, what it does."""
    from app import app
    from chalicelib.http import openapi

    document = openapi.document(app.routes, openapi.DEFAULT_KEY_DAYS)
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            rule = operation.get("x-permission")
            if "security" not in operation:
                who = "anyone"
            elif rule is None or rule["name"] is None:
                who = "signed in"
            else:
                who = ("self or " if rule["or_self"] else "") + f"`{rule['name']}`"
            statuses = sorted(operation["responses"])
            rows.append(
                (
                    f"`{method.upper()} {path}`",
                    who,
                    operation["summary"],
                    ", ".join(statuses),
                )
            )
    return _table(("method and path", "who", "what", "answers"), rows)


def error_codes() -> str:
    """Each error status and the codes that carry it, from ``errors.py``."""
    from chalicelib import errors
    from chalicelib.http.openapi import meaning

    statuses = sorted({error.STATUS_CODE for error in errors.DOMAIN_ERRORS})
    return _table(
        ("status", "code", "meaning"),
        (
            (str(status), f"`{error.__name__}`", meaning(error))
            for status in statuses
            for error in errors.DOMAIN_ERRORS
            if status == error.STATUS_CODE
        ),
    )


def login_errors() -> str:
    """Each ``login_error`` code and its meaning."""
    from chalicelib.errors import LOGIN_ERRORS

    return _table(
        ("login_error", "meaning"), ((f"`{c.value}`", m) for c, m in LOGIN_ERRORS.items())
    )


TABLES: Mapping[str, Callable[[], str]] = {
    "permissions": permissions,
    "record": record,
    "routes": routes,
    "errors": error_codes,
    "login-errors": login_errors,
}


def render(page: str) -> str:
    """``page`` with every table written from the declarations."""

    def fill(match: re.Match[str]) -> str:
        return f"{match.group(1)}{TABLES[match.group(2)]()}{match.group(3)}"

    return TABLE.sub(fill, page)


def main() -> int:
    """Write the tables into docs/API.md."""
    PAGE.write_text(render(PAGE.read_text("utf-8")), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
