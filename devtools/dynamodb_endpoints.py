"""Write ``chalicelib/storage/botocore_data/endpoints.json``: botocore's own
``endpoints.json`` with every partition kept whole but its services cut to DynamoDB,
the one service the service's DynamoDB session builds a client for.

botocore parses its whole ``endpoints.json`` (1.2 MB, some 450 services) every
time a session builds its first client; the cut copy holds what a DynamoDB
client reads of it. ``tests/test_dynamodb_endpoints.py`` fails when the
installed botocore's data no longer cuts to the committed file: then run

    python -m devtools.dynamodb_endpoints
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from botocore.loaders import JSONFileLoader, Loader

from chalicelib.storage.models import SERVICE, TRIMMED_DATA

TARGET = TRIMMED_DATA / "endpoints.json"


def trimmed(endpoints: dict[str, Any]) -> dict[str, Any]:
    """``endpoints`` with each partition's services cut to ``SERVICE``."""
    partitions = [
        {
            **partition,
            "services": {k: v for k, v in partition["services"].items() if k == SERVICE},
        }
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def text(endpoints: dict[str, Any]) -> str:
    """The file's text: botocore's order, one level of indentation, a final newline."""
    return json.dumps(endpoints, indent=1) + "\n"


def builtin_endpoints() -> dict[str, Any]:
    """The ``endpoints.json`` of the installed botocore, as botocore reads it."""
    found: dict[str, Any] = JSONFileLoader().load_file(
        str(Path(Loader.BUILTIN_DATA_PATH) / "endpoints")
    )
    return found


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m devtools.dynamodb_endpoints", file=sys.stderr)
        return 2
    TARGET.write_text(text(trimmed(builtin_endpoints())), "utf-8")
    print(f"wrote {TARGET.name} ({TARGET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
