"""Write the OpenAPI document the service serves at ``/api/v1/openapi.json`` to a file,
without running the service: the web UI's build generates its API types from it.

    python -m devtools.openapi_json frontend/src/generated/openapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Write the document to ``argv[0]``."""
    if len(argv) != 1:
        print("usage: python -m devtools.openapi_json OUT.json", file=sys.stderr)
        return 2
    from app import app
    from chalicelib.http import openapi

    document = openapi.document(app.routes, openapi.DEFAULT_KEY_DAYS)
    Path(argv[0]).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
