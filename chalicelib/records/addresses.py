"""Email addresses: which ones a user record takes, and the one form it stores
(docs/API.md section 3).

An address is stored as the ``email-validator`` package normalises it: the
local part in Unicode NFC, the domain as its IDNA A-label (``exämple.org`` and
``xn--exmple-cua.org`` are one domain, ``example。org`` is ``example.org``).
Besides what a mail system refuses, an address is refused when it would look
like another one, each rule named in the 400:

- ``invisible``: a character that shows as nothing anywhere in the address
  (``chalicelib.text.invisible``: default-ignorable, non-printing, blank);
- ``mixed scripts``: a local part that mixes scripts, unless UTS #39's
  "highly restrictive" level allows the mix (Latin with Han and Japanese
  kana, Han with Bopomofo, or Han with Hangul); Common and Inherited
  characters (digits, punctuation, marks) go with any script;
- ``ASCII lookalike``: a Latin or Common character outside ASCII that UTS #39's
  confusables list as a plain ASCII letter or digit (``adm\u0131n`` with a
  dotless i). Forms that NFKC folds into ASCII (fullwidth letters) are not refused:
  they compare equal to the ASCII address instead (``guards.normalise_email``).

Script and confusable data come from the ``confusable_homoglyphs`` package
(Unicode's Scripts.txt and confusables.txt), imported (about 80 ms) only for a
local part outside ASCII; ``email-validator`` is imported on first use: the
authorizer and routes that take no address load neither.
"""

from __future__ import annotations

import functools
import unicodedata

from chalicelib import errors
from chalicelib.records.guards import IDENTITY_SEPARATOR
from chalicelib.text import invisible

ANY_SCRIPT = frozenset({"COMMON", "INHERITED"})
HIGHLY_RESTRICTIVE = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def normalise(email: str) -> str:
    """The form ``email`` is stored in; InvalidInput naming the rule it breaks."""
    hidden = next((char for char in email if invisible(char) or char.isspace()), None)
    if hidden is not None:
        raise errors.InvalidInput(
            f"email holds an invisible, blank or non-printing character (U+{ord(hidden):04X})"
        )
    if IDENTITY_SEPARATOR in email:
        raise errors.InvalidInput("email must not hold '::', which only login identities hold")
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        message = f"email is not an address a mail system would accept: {exc}"
        raise errors.InvalidInput(message) from exc
    _check_local_part(unicodedata.normalize("NFKC", valid.local_part))
    return f"{valid.local_part}@{valid.ascii_domain}"


@functools.lru_cache(maxsize=4096)
def comparable(email: str) -> str:
    """``email`` in its stored form when it is a valid address, else as given: what
    ``guards.normalise_email`` case-folds, so that a lookup with the Unicode form
    of a domain finds the address stored with its A-label."""
    try:
        return normalise(email)
    except errors.InvalidInput:
        return email


def _check_local_part(local: str) -> None:
    if local.isascii():
        return  # one script (Latin and Common), and nothing to look like ASCII
    from confusable_homoglyphs import categories, confusables  # type: ignore[import-untyped]

    scripts = {categories.aliases_categories(char)[0] for char in local} - ANY_SCRIPT
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in HIGHLY_RESTRICTIVE):
        raise errors.InvalidInput(
            f"email's local part mixes scripts ({', '.join(sorted(scripts)).title()}); "
            "an address is written in one script"
        )
    for char in local:
        if char.isascii() or categories.aliases_categories(char)[0] not in {"LATIN", *ANY_SCRIPT}:
            continue
        lookalikes = [h["c"] for h in confusables.confusables_data.get(char, ())]
        ascii_twin = next((c for c in lookalikes if c.isascii() and c.isalnum()), None)
        if ascii_twin is not None:
            raise errors.InvalidInput(
                f"email's local part holds {char!r} (U+{ord(char):04X}), "
                f"an ASCII lookalike of {ascii_twin!r}"
            )
