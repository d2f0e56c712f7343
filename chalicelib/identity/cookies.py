"""The service's cookies: reading the ``Cookie`` header, writing ``Set-Cookie``
(docs/API.md section 6).

Browsers write ``Cookie`` as ``name=value`` pairs joined by ``"; "`` (RFC 6265
section 5.4), holding whatever other applications on the site stored: values
with spaces, quotes, JSON or non-ASCII. The header is read pair by pair (the
lenient reading of section 5.2), so such a pair never hides ours; a pair that
is not ours is ignored.

Served over HTTPS the cookies carry the ``__Host-`` prefix (RFC 6265bis
section 4.1.3.2): a browser keeps such a cookie only when it is ``Secure``,
has ``Path=/`` and no ``Domain``, so a page on a sibling or parent domain
cannot set one of ours ("cookie tossing"). The plain name is then not read at
all. Two cookies of one of our names in one request are ambiguous and count as
none: which one a browser lists first depends on paths and ages, not on who
set it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SESSION = "session"
CSRF = "_csrf_token"
OIDC_LOGIN = "oidc_login"
OURS = (SESSION, CSRF, OIDC_LOGIN)
HOST_PREFIX = "__Host-"


def wire_name(name: str, secure: bool) -> str:
    """The name cookie ``name`` travels under: ``__Host-<name>`` over HTTPS."""
    return f"{HOST_PREFIX}{name}" if secure else name


@dataclass(frozen=True)
class Jar:
    """Our cookies in one request, by their plain names; ``repeated`` names the ones
    sent more than once, which have no value."""

    values: dict[str, str] = field(default_factory=dict)
    repeated: frozenset[str] = frozenset()

    def get(self, name: str) -> str | None:
        """The value of cookie ``name``; None when it was absent or sent twice."""
        return self.values.get(name)

    def holds(self, name: str) -> bool:
        """Whether the request carried cookie ``name`` at all, even twice."""
        return name in self.values or name in self.repeated


def parse(header: str | None, secure: bool) -> Jar:
    """Our cookies in a ``Cookie`` header, read pair by pair; over HTTPS (``secure``)
    only their ``__Host-`` names count."""
    wanted = {wire_name(name, secure): name for name in OURS}
    values: dict[str, str] = {}
    repeated: set[str] = set()
    for pair in (header or "").split(";"):
        name, equals, value = pair.partition("=")
        ours = wanted.get(name.strip())
        if not equals or ours is None:
            continue
        if ours in values or ours in repeated:
            values.pop(ours, None)
            repeated.add(ours)
        else:
            values[ours] = value.strip()
    return Jar(values, frozenset(repeated))


def set_cookie(
    name: str, value: str, max_age: int, path: str, secure: bool, http_only: bool = True
) -> str:
    """A ``Set-Cookie`` value for cookie ``name``: SameSite=Lax; when ``secure``
    (outside local development: ``Base.secure``) ``Secure`` and the ``__Host-``
    name, which needs ``Path=/`` whatever ``path`` says."""
    path = "/" if secure else path
    parts = [f"{wire_name(name, secure)}={value}", f"Path={path}", f"Max-Age={max_age}"]
    parts.append("SameSite=Lax")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
