"""The packaged template, finished: API Gateway calls each function through its alias.

``make package`` runs this on the ``sam.yaml`` that ``chalice package`` wrote. Chalice
points every integration, the authorizer and their invoke permissions at the
unqualified function (its ``$LATEST``); the merge template gives each function
``AutoPublishAlias: live`` (a version published on every deploy, and the alias
``<Function>Aliaslive``, as SAM names it, moved to it). Here the calls and the
permissions are pointed at that alias, so that what API Gateway invokes is a published
version: the only kind SnapStart serves (the ``SnapStart`` template parameter).

Usage: ``python -m deploy.template OUT/sam.yaml`` (rewrites the file in place).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

FUNCTIONS = ("APIHandler", "Authorizer")
ALIAS = "live"


def alias_of(function: str) -> str:
    """The logical id SAM gives the alias ``AutoPublishAlias`` makes."""
    return f"{function}Alias{ALIAS}"


def route_to_aliases(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with each function's invocation URIs and invoke permission naming its
    alias; ValueError when there is nothing to rewrite (Chalice's template changed shape)."""
    text = json.dumps(template)
    for function in FUNCTIONS:
        unqualified = f"/functions/${{{function}.Arn}}/invocations"
        if unqualified not in text:
            raise ValueError(f"no invocation URI of {function} in the template")
        text = text.replace(unqualified, f"/functions/${{{alias_of(function)}}}/invocations")
    routed: dict[str, Any] = json.loads(text)
    resources = routed["Resources"]
    for function in FUNCTIONS:
        permission = resources.get(f"{function}InvokePermission")
        if permission is None:
            raise ValueError(f"no invoke permission of {function} in the template")
        permission["Properties"]["FunctionName"] = {"Ref": alias_of(function)}
    return routed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    path = Path(argv[0])
    template = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(route_to_aliases(template), sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
