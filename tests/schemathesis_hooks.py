"""What schemathesis generates for the one rule of the document that no JSON Schema
keyword states: an ORCID's check digit (``format: orcid``). Loaded by
``tests/test_openapi.py`` through ``SCHEMATHESIS_HOOKS``."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from chalicelib.records.validation import orcid_check_digit


def _orcid(digits: str) -> str:
    whole = digits + orcid_check_digit(digits)
    return "-".join(whole[i : i + 4] for i in range(0, 16, 4))


schemathesis.openapi.format(
    "orcid", st.one_of(st.just(""), st.text("0123456789", min_size=15, max_size=15).map(_orcid))
)
