"""One structured JSON log line per request, for CloudWatch Logs Insights.

The line holds ids, the route template, the status and the latency only:
never a token, key, cookie, email address or request body.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from chalice.app import Request

LOGGER = logging.getLogger("users_service.requests")
# Libraries whose DEBUG lines carry whole requests and answers (emails, names, key
# hashes, tokens): they never write below INFO, whatever the root level is.
QUIET_LIBRARIES = ("botocore", "boto3", "pynamodb", "urllib3", "authlib", "requests")


def _configure() -> None:
    if not LOGGER.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO)


_configure()


def log_request(
    request_id: str, method: str, route: str, status: int, latency_ms: float, user_id: str | None
) -> dict[str, Any]:
    """Write the line for one request; returns what it wrote."""
    line = {
        "type": "request",
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": status,
        "latency_ms": round(latency_ms, 2),
        "user_id": user_id or None,
    }
    LOGGER.info(json.dumps(line, separators=(",", ":")))
    return line


def log_answer(request: Request, status: int, latency_ms: float) -> dict[str, Any]:
    """Write the line for a request answered with ``status``."""
    context = request.context or {}
    lambda_request_id = getattr(request.lambda_context, "aws_request_id", "")
    return log_request(
        request_id=str(context.get("requestId") or lambda_request_id),
        method=request.method,
        route=context.get("resourcePath", ""),
        status=status,
        latency_ms=latency_ms,
        user_id=(context.get("authorizer") or {}).get("user_id"),
    )
