"""Generated requests at every route: never a 5xx, and nothing written on a 4xx.

Hypothesis builds bodies (JSON of any shape, user records with hostile
strings, bytes that are not JSON), headers the service reads and query
strings, and sends them through ``chalice.test.Client`` to every route, with
the credentials of a manager, of nobody, or garbage. After each request the
tables are compared item by item with what they held before. The example
count comes from the ``fuzz`` settings profile (``FUZZ_EXAMPLES``, default
100), small enough for every run of the suite.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from typing import Any

from chalice.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app import app
from chalicelib import key_format
from tests.conftest import Account, stored_items

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize=True,
    # The tables live for the whole test (a function-scoped fixture) on purpose, and
    # the generated bodies are large: these checks are about test speed only.
    suppress_health_check=list(HealthCheck),
)

ROUTES = sorted((path, method) for path, methods in app.routes.items() for method in methods)
FIELDS = ["email", "name", "affiliation", "contact", "orcid", "url", "permissions", "auth_ids"]
QUERY_NAMES = ["limit", "cursor", "email", "origin", "code", "state", "error"]
HEADER_NAMES = ["Idempotency-Key", "If-Match", "X-CSRF-Token", "Cookie", "Content-Type"]

# Text with what breaks naive code: lone surrogates, controls, invisible and
# non-ASCII digits, separators.
PIECES = ["\ud800", "\udfff", "\x00", "\n", "\u200b", "\u00b2", "\u0661", "::", "@", "a@b.org"]
hostile = st.lists(st.one_of(st.characters(codec=None), st.sampled_from(PIECES)), max_size=20).map(
    "".join
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile, inner, max_size=3),
    max_leaves=10,
)
user_bodies = st.fixed_dictionaries(
    {"user": st.dictionaries(st.sampled_from(FIELDS), json_values | hostile, max_size=4)}
)
bodies = st.one_of(
    st.none(),
    user_bodies.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=60),
    st.sampled_from([5, 50, 2_000, 20_000]).map(
        lambda depth: '{"user": ' + "[" * depth + "]" * depth + "}"
    ),
)
# Numbers as a careless parser might take them.
numbers = st.sampled_from(
    ["5", "0", "1001", "\u00b2", "\u0661\u0660", "\uff15", "-1", 'W/"1"', '"1']
)
values = st.one_of(hostile, numbers)


def assert_storable(tables: dict[str, list[Any]]) -> None:
    """No stored string holds a lone surrogate or a control character (DynamoDB
    refuses the first; newline and tab appear only in free text)."""
    for items in tables.values():
        for item in items:
            text = json.loads(item)
            pending = [text]
            while pending:
                value = pending.pop()
                if isinstance(value, dict):
                    pending.extend(value.values())
                elif isinstance(value, list):
                    pending.extend(value)
                elif isinstance(value, str):
                    assert not any(
                        unicodedata.category(char) == "Cs"
                        or (unicodedata.category(char) == "Cc" and char not in "\n\t")
                        for char in value
                    ), (item, value)


def key_id_of(account: Account) -> str:
    parts = key_format.parse(account.key, "uk")
    assert parts is not None
    return parts.key_id


def test_generated_requests_get_no_5xx_and_write_nothing_on_a_4xx(
    client: Client, admin: Account, make_user: Any
) -> None:
    other = make_user(name="Other")
    # The first use of a key records when it was used: do it before comparing.
    assert client.http.get("/api/v1/user/me", headers=admin.headers).status_code == 200
    assert client.http.get("/api/v1/user/me", headers=other.headers).status_code == 200
    credentials = st.sampled_from(
        [admin.headers] * 4 + [{}, {"Authorization": "Bearer uk_x"}, {"Authorization": "Bearer a"}]
    )
    path_values = st.one_of(
        st.sampled_from([other.id, key_id_of(other), "local"]),
        hostile.map(lambda text: re.sub("[/?#]", "_", text) or "_"),
    )

    def attack(route: tuple[str, str], **sent: Any) -> Any:
        """An example hypothesis always tries: an attack once answered 5xx, or stored
        what DynamoDB refuses."""
        defaults = {"params": {}, "query": {}, "headers": {}, "auth": admin.headers, "body": None}
        return example(route=route, **{**defaults, **sent})

    # What the tables hold now: only the requests below change them, so the
    # state after one is the state before the next.
    tables = [stored_items()]
    user_path = "/api/v1/user/{user_id}"
    deep = '{"user": ' + "[" * 20_000 + "]" * 20_000 + "}"

    @attack(("/api/v1/user", "POST"), body=deep)
    @attack(("/api/v1/user", "GET"), query={"limit": "\u00b2"})
    @attack((user_path, "PATCH"), headers={"If-Match": "\u0661"}, body='{"user": {}}')
    @attack(("/api/v1/user/me", "PATCH"), body='{"user": {"name": "\\ud800"}}')
    @attack(("/api/v1/user/me", "PATCH"), body='{"user": {"contact": "a\\u0000b"}}')
    @attack(
        ("/api/v1/user", "POST"),
        headers={"Idempotency-Key": "k"},
        body='{"user": {"email": "a@example.org", "name": "\\udfff"}}',
    )
    @settings(settings.get_profile("fuzz"))
    @given(
        route=st.sampled_from(ROUTES),
        params=st.fixed_dictionaries({}, optional={"user_id": path_values, "key_id": path_values}),
        query=st.dictionaries(st.sampled_from(QUERY_NAMES) | hostile, values, max_size=3),
        headers=st.dictionaries(st.sampled_from(HEADER_NAMES), values, max_size=3),
        auth=credentials,
        body=bodies,
    )
    def send(
        route: tuple[str, str],
        params: dict[str, str],
        query: dict[str, str],
        headers: dict[str, str],
        auth: dict[str, str],
        body: str | bytes | None,
    ) -> None:
        path, method = route
        for name in ("user_id", "key_id", "provider"):
            value = params.get(name, other.id if name == "user_id" else "0" * 16)
            path = path.replace(f"{{{name}}}", value if name != "provider" else "local")
        if query:
            path += "?" + "&".join(f"{name}={value}" for name, value in query.items())
        sent = {"Content-Type": "application/json", **headers, **auth}
        before = tables[0]
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body or b""
        response = client.http.request(method, path, headers=sent, body=raw)
        after = tables[0] = stored_items()
        assert response.status_code < 500, (method, path, sent, body, response.body)
        if 400 <= response.status_code < 500:
            assert after == before, (method, path, sent, body, response.body)
        assert_storable(after)

    send()
