"""Write ``LOG_RETENTION_DAYS`` into every log group of the packaged template.

``make package`` runs ``python -m deploy.retention OUT/sam.yaml`` after ``chalice
package``: the API's access log and each function's log group then keep their
lines as long as the setting says (API.md sections 8 and 10), and no longer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from chalicelib.config import ConfigError, log_retention_days

LOG_GROUP = "AWS::Logs::LogGroup"


def apply(template: dict[str, Any], days: int) -> list[str]:
    """Set ``RetentionInDays`` of every log group in ``template``; returns their names."""
    names = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == LOG_GROUP:
            resource.setdefault("Properties", {})["RetentionInDays"] = days
            names.append(name)
    return names


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    """Rewrite the template named by ``argv[0]``; exit 2 on a bad setting."""
    if len(argv) != 1:
        print("usage: python -m deploy.retention TEMPLATE.yaml", file=sys.stderr)
        return 2
    try:
        days = log_retention_days(environ)
    except ConfigError as exc:
        print(f"deploy.retention: {exc}", file=sys.stderr)
        return 2
    path = Path(argv[0])
    template = yaml.safe_load(path.read_text())
    names = apply(template, days)
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    print(f"log retention {days} days: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
