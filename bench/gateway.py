"""A request served as API Gateway serves it: the authorizer's function called with a
TOKEN event, then the API function with that decision and the request's arrival time.

``chalice local`` and the test client run the authorizer for every request and give
the route no arrival time; API Gateway keeps a decision for the authorizer's TTL
and hands a later request of the same token the decision it kept. Both are served
here: ``decided`` (the authorizer runs for this request) and ``cached`` (a decision
made before this request arrived).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from app import app, authorizer

ARN = "arn:aws:execute-api:eu-north-1:123456789012:bench/api/{method}{path}"


class LambdaContext:
    """What the Lambda runtime hands a function besides the event."""

    aws_request_id = "gateway-request"
    function_name = "users-service"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def now_ms() -> int:
    return int(time.time() * 1000)


def decide(header: str, path: str, method: str = "GET") -> dict[str, str]:
    """The authorizer function's answer to a token, as the route's context: the
    decision's context and ``principalId``."""
    event = {
        "type": "TOKEN",
        "authorizationToken": header,
        "methodArn": ARN.format(method=method, path=path),
    }
    answer: dict[str, Any] = authorizer(event, LambdaContext())
    return {"principalId": answer["principalId"], **answer.get("context", {})}


@dataclass
class Reply:
    status: int
    body: Any


def route(
    resource: str,
    params: dict[str, str],
    header: str,
    context: dict[str, str],
    arrived: int,
    method: str = "GET",
    query: dict[str, str] | None = None,
) -> Reply:
    """The API function's answer to a request that arrived at ``arrived`` (epoch ms)
    with the authorizer's ``context``; ``resource`` is the route's path template."""
    path = resource.format(**params)
    headers = {"Authorization": header, "Host": "api.example.org"}
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "domainName": headers["Host"],
            "requestId": "gateway-request",
            "requestTimeEpoch": arrived,
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": dict(context),
        },
        "body": None,
        "isBase64Encoded": False,
    }
    answer = app(event, LambdaContext())
    body = answer.get("body") or ""
    return Reply(answer["statusCode"], json.loads(body) if body else None)


def decided(
    resource: str, params: dict[str, str], header: str, query: dict[str, str] | None = None
) -> Reply:
    """A request whose decision the authorizer makes for it (API Gateway's cache missed).
    It arrived a millisecond before the authorizer ran: the epoch time has
    milliseconds, and a gateway takes at least that long to call a function."""
    arrived = now_ms() - 1
    context = decide(header, resource.format(**params))
    return route(resource, params, header, context, arrived, query=query)


def cached(
    resource: str,
    params: dict[str, str],
    header: str,
    context: dict[str, str],
    query: dict[str, str] | None = None,
) -> Reply:
    """A request handed ``context``, a decision made before it arrived (a cache hit)."""
    return route(resource, params, header, context, now_ms(), query=query)
