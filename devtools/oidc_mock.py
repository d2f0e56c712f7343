"""Serve PyPI's ``oidc-provider-mock`` on 127.0.0.1, its pages self-contained.

``python -m devtools.oidc_mock --port P [--user-claims JSON ...]`` runs the
mock's own Flask application (nonce required, one predefined user per
``--user-claims`` object with its ``sub``) and prints ``listening on <issuer>``
once it accepts connections; port 0 picks a free one. The mock's page
templates link a stylesheet on a public CDN; here they are served without it,
so that a browser on the form (a person, or a test) loads nothing from outside
this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(prog="python -m devtools.oidc_mock")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user-claims", action="append", default=[], type=json.loads)
    args = parser.parse_args(argv)
    # The mock is imported here, in its own process: it imports authlib.jose,
    # which warns of its deprecation.
    import oidc_provider_mock  # type: ignore[import-untyped]  # no type hints
    from jinja2 import ChoiceLoader, DictLoader
    from werkzeug.serving import make_server

    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on 127.0.0.1
    users = [
        oidc_provider_mock.User(
            sub=claims["sub"], claims={name: v for name, v in claims.items() if name != "sub"}
        )
        for claims in args.user_claims
    ]
    app = oidc_provider_mock.app(require_nonce=True, user_claims=users)
    own = DictLoader({"_base.html": BASE_TEMPLATE, "error.html": ERROR_TEMPLATE})
    app.jinja_loader = ChoiceLoader([own, *([app.jinja_loader] if app.jinja_loader else [])])
    try:
        server = make_server(HOST, args.port, app, threaded=True)
    except (OSError, SystemExit):
        print(f"oidc_mock: port {args.port} on {HOST} is in use", file=sys.stderr)
        return 2
    print(f"listening on http://{HOST}:{server.server_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
