"""PyPI's ``oidc-provider-mock`` served on 127.0.0.1, its pages self-contained.

``serve`` runs the mock's own Flask application (nonce required, one predefined
user per claims object, with its ``sub``) in the process that calls it, until
that process is terminated. ``devtools/oidc_provider.py`` calls it in a process
forked from one that imported this module already (a ``multiprocessing`` fork
server): the mock's imports are most of what a start costs, and are then paid
once per process that starts providers, not once per provider. The mock's page
templates link a stylesheet on a public CDN; here they are served without it, so
that a browser on the form (a person, or a test) loads nothing from outside this
machine.

Import it only in a process of its own: the mock imports ``authlib.jose``, which
warns of its deprecation (quieted here, as it is the mock's to fix).
"""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from jinja2 import ChoiceLoader, DictLoader
from werkzeug.serving import make_server

with warnings.catch_warnings():
    import authlib.deprecate  # sets its warnings to "always": quieted after it

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    import oidc_provider_mock  # type: ignore[import-untyped]  # no type hints
    from joserfc.jwk import RSAKey

HOST = "127.0.0.1"
BASE_TEMPLATE = """<!doctype html>
<html lang="en">
  <style>body { font-family: sans-serif; max-width: 40rem; margin: 2rem auto; }</style>
  <main class="container">{% block content %}{{ content }}{% endblock %}</main>
</html>
"""
ERROR_TEMPLATE = """{% extends "_base.html" %}
{% block content %}<h1>Error: {{ name }}</h1><p>{{ description }}</p>{% endblock %}
"""


def _sign_with_a_key_imported_once() -> None:
    """Sign ID tokens with the provider's key object, imported once.

    The mock hands authlib its signing key as a JWK (a dict) for every ID token,
    and authlib imports it again each time, checking the RSA key's primes: 40 ms
    of CPU a token, most of what a login cost the provider. Handed the key object
    imported from that same JWK, authlib uses it as it is (its ``import_any_key``).
    The key, the algorithm and the claims stay the mock's."""
    grant = oidc_provider_mock._app.OpenIDCode
    jwt_config = grant.get_jwt_config
    imported: dict[str, RSAKey] = {}  # by modulus: one key per provider process

    def get_jwt_config(self: object, grant: object, client: object = None) -> dict[str, Any]:
        config = dict(jwt_config(self, grant, client))
        jwk = config["key"]
        if jwk["n"] not in imported:
            imported[jwk["n"]] = RSAKey.import_key(jwk)
        config["key"] = imported[jwk["n"]]
        return config

    grant.get_jwt_config = get_jwt_config


_sign_with_a_key_imported_once()


def serve(port: int, user_claims: Sequence[Mapping[str, Any]], report: Connection) -> None:
    """Serve the mock on ``port`` of 127.0.0.1 (0: a free one) with one user per
    claims object, until terminated. Once it accepts connections, sends
    ``("listening", <issuer>)`` on ``report``; ``("failed", <why>)`` when it
    cannot bind."""
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on 127.0.0.1
    users = [
        oidc_provider_mock.User(
            sub=claims["sub"], claims={name: v for name, v in claims.items() if name != "sub"}
        )
        for claims in user_claims
    ]
    app = oidc_provider_mock.app(require_nonce=True, user_claims=users)
    own = DictLoader({"_base.html": BASE_TEMPLATE, "error.html": ERROR_TEMPLATE})
    app.jinja_loader = ChoiceLoader([own, *([app.jinja_loader] if app.jinja_loader else [])])
    try:
        server = make_server(HOST, port, app, threaded=True)
    except (OSError, SystemExit):
        report.send(("failed", f"port {port} on {HOST} is in use"))
        return
    # Terminated, it exits as a process does, and lets go of what it holds: the mock's
    # debugger makes a semaphore, which the fork server's resource tracker watches.
    signal.signal(signal.SIGTERM, _exit)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # its request log, once it serves: nobody reads it
    os.dup2(devnull, 2)
    report.send(("listening", f"http://{HOST}:{server.server_port}"))
    report.close()
    server.serve_forever()


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
