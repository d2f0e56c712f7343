"""The service as browsers see it: the API's path prefix and a public base.

A plain value, found at the HTTP edge (``urls.request_base``) and handed down
to what sets cookies and builds links (sessions, OpenID Connect login).
"""

from __future__ import annotations

from dataclasses import dataclass

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Base:
    """The service as browsers see it: ``origin`` (scheme, host, port) and ``prefix``
    (``""`` or a path such as ``/api`` or ``/users``, without a trailing slash)."""

    origin: str
    prefix: str = ""
    # Whether cookies set for this base carry ``Secure``: everywhere but local
    # development and tests.
    secure: bool = True

    @property
    def api_path(self) -> str:
        """The path every route hangs off: ``<prefix>/api/v1``."""
        return f"{self.prefix}{API_PREFIX}"

    def path(self, route: str) -> str:
        """The path a browser uses for ``route``: ``/login`` -> ``<prefix>/api/v1/login``."""
        return f"{self.api_path}{route}"

    def url(self, route: str) -> str:
        """The absolute URL of ``route``."""
        return f"{self.origin}{self.path(route)}"

    @property
    def site_path(self) -> str:
        """The path of the whole deployment, ``<prefix>/``: where a cookie for its pages goes."""
        return f"{self.prefix}/"
