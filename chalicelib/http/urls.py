"""Where browsers see the service: each request's public base (``public_base.Base``).

The service may sit under a path prefix (docs/API.md section 6): the API Gateway stage
on an ``execute-api`` host (``/api/api/v1/...``), or the path of ``PUBLIC_URL``
(``https://example.org/users`` -> ``/users/api/v1/...``). Cookie paths, the OIDC
``redirect_uri`` and the login links all derive from ``Base``.

How the base is found, first match wins:

1. ``PUBLIC_URL`` set: its scheme, host and path.
2. In AWS: ``https://`` and the domain name API Gateway put in the request
   context, with ``/<stage>`` on an ``execute-api`` host (a custom domain's base
   path mapping is not in the context: set ``PUBLIC_URL`` there). Never a header
   the client sent (docs/API.md section 7).
3. Under ``chalice local`` and the test client (``SERVICE_ENV`` local or test):
   ``http://`` and the request's ``Host`` header, no prefix. The client is the
   developer's own browser there; behind a proxy that adds a prefix, set
   ``PUBLIC_URL``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chalicelib import errors
from chalicelib.config import Settings
from chalicelib.public_base import API_PREFIX, Base

__all__ = ["API_PREFIX", "Base", "public_url_base", "request_base"]

EXECUTE_API = ".execute-api."
HOST_RE = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
STAGE_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
LOCAL_HOST = "localhost"


def public_url_base(public_url: str, secure: bool = True) -> Base:
    """The base ``PUBLIC_URL`` names (already checked by the settings)."""
    parts = urlsplit(public_url)
    return Base(f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/"), secure)


def request_base(
    settings: Settings, headers: Mapping[str, str], context: Mapping[str, Any]
) -> Base:
    """The public base of one request (rules in the module's docstring).

    ``headers`` are the request's (lower-case names), ``context`` API Gateway's
    request context. Raises ServiceMisconfigured in AWS when neither
    ``PUBLIC_URL`` nor the request context names the service's domain.
    """
    if settings.public_url is not None:
        return public_url_base(settings.public_url, not settings.is_local)
    if not settings.is_local:
        domain = str(context.get("domainName") or "")
        stage = str(context.get("stage") or "")
        if not HOST_RE.fullmatch(domain):
            raise errors.ServiceMisconfigured(
                "PUBLIC_URL is not set and API Gateway named no domain for this request"
            )
        prefix = f"/{stage}" if EXECUTE_API in domain and STAGE_RE.fullmatch(stage) else ""
        return Base(f"https://{domain}", prefix)
    host = headers.get("host") or LOCAL_HOST
    return Base(f"http://{host if HOST_RE.fullmatch(host) else LOCAL_HOST}", secure=False)
