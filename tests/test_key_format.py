"""The API key format (docs/API.md section 1): check digits, no storage read for a bad
key, keys of the older form, the README's regular expression and the detect-secrets
plugin run for real."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from bench.harness import counting
from chalicelib import key_format, timestamps
from chalicelib.http import container
from chalicelib.identity import auth
from chalicelib.ids import new_id
from chalicelib.storage.models import ApiKey, User
from tests.conftest import ROOT, assert_error

API = "/api/v1"
USER_IDS = [
    "0123456789abcdef01234567",  # an ObjectId
    "0123456789abcdef0123456789abcdef",  # a service id
    "u-01234567-89ab-cdef-0123-456789abcdef",  # the tracker's own
]
PLUGIN = ROOT / "scanners" / "users_service_keys.py"


def readme_regex() -> re.Pattern[str]:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- api-key-regex -->\s*```\s*\n\s*(.+?)\n\s*```", text)
    assert found, "the README publishes the regular expression after <!-- api-key-regex -->"
    return re.compile(found.group(1).strip())


def legacy_key(user_id: str, key_id: str | None = None) -> tuple[str, str, str]:
    """A key of the older form, stored as the service stored them: (key, key id, secret)."""
    key_id = key_id or new_id()[:16]
    secret = secrets.token_urlsafe(32)
    return f"uk_{user_id}.{key_id}.{secret}", key_id, secret


def store_legacy(user_id: str, created: datetime, expires: str | None = None) -> str:
    key, key_id, secret = legacy_key(user_id)
    ApiKey(
        user_id=user_id,
        key_id=key_id,
        secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
        created=timestamps.stamp(created),
        expires=expires,
    ).save()
    User(id=user_id).update(actions=[User.api_key_ids.add({key_id})])
    return key


def not_keys(prefix: str = "uk") -> list[str]:
    """Strings a scanner must not report: near misses of real keys and other tokens."""
    key, _ = key_format.make_key(prefix, USER_IDS[1], "0123456789abcdef")
    changed = key[:20] + ("A" if key[20] != "A" else "B") + key[21:]
    return [
        changed,  # one character changed: its check fails
        key[:-1],  # cut short
        key + "x",  # inside a longer word
        "x" + key,
        key.replace(f"{prefix}_", "ghp_"),  # another service's prefix
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",  # an access token
        "uk_1" + "a" * 97,  # the shape without a valid check
    ]


# -- the format ----------------------------------------------------------------


@pytest.mark.parametrize("user_id", USER_IDS)
def test_key_names_its_owner_key_and_secret(user_id: str) -> None:
    key, secret = key_format.make_key("uk", user_id, "0123456789abcdef")
    assert re.fullmatch(r"uk_[0-9A-Za-z]{98}", key)
    assert key_format.parse(key, "uk") == key_format.KeyParts(user_id, "0123456789abcdef", secret)


def test_check_is_the_base62_crc32_of_everything_before_it() -> None:
    key, _ = key_format.make_key("uk", USER_IDS[1], "0123456789abcdef")
    number = 0
    for char in key[-6:]:
        number = number * 62 + key_format.ALPHABET.index(char)
    assert number == zlib.crc32(key[:-6].encode())


def test_every_single_character_change_fails_the_check() -> None:
    key, _ = key_format.make_key("uk", USER_IDS[0], "0123456789abcdef")
    for at in range(3, len(key)):
        for char in "0aZ":
            if key[at] != char:
                assert key_format.parse(key[:at] + char + key[at + 1 :], "uk") is None, at


def test_key_of_another_prefix_is_not_read() -> None:
    key, _ = key_format.make_key("acme", USER_IDS[1], "0123456789abcdef")
    assert key.startswith("acme_")
    assert key_format.parse(key, "acme") is not None
    assert key_format.parse(key, "uk") is None


# -- no storage read for a bad key ----------------------------------------------


NOT_KEYS = ("changed", "cut", "longer", "prefixed", "other-prefix", "access-token", "no-check")


@pytest.mark.parametrize("which", range(len(NOT_KEYS)), ids=NOT_KEYS)
def test_key_failing_its_check_costs_no_storage_read(make_user: Any, which: int) -> None:
    make_user()  # the tables exist, the client is built
    token = not_keys()[which]
    with counting() as counts:
        decision = auth.decide(
            f"Bearer {token}", container.session_secret, container.settings(), container.rulebook()
        )
    assert not decision.user_id
    assert counts.round_trips == 0, counts.operations()


def test_mistyped_key_gets_401_with_no_storage_read(client: Client, owner_key: Any) -> None:
    key = owner_key.key
    typo = key[:30] + ("b" if key[30] != "b" else "c") + key[31:]
    with counting() as counts:
        response = client.http.get(f"{API}/user/me", headers={"Authorization": f"Bearer {typo}"})
    assert_error(response, 401, "InvalidCredentials")
    assert counts.round_trips == 0, counts.operations()


def test_well_formed_key_costs_one_batch_read(client: Client, owner_key: Any) -> None:
    with counting() as counts:
        decision = auth.decide(
            f"Bearer {owner_key.key}",
            container.session_secret,
            container.settings(),
            container.rulebook(),
        )
    assert decision.user_id == owner_key.id
    assert counts.operations() == {"BatchGetItem": 1}


@pytest.fixture
def owner_key(make_user: Any) -> Any:
    return make_user(name="Owner")


def test_service_prefix_is_a_setting(client: Client, make_user: Any, configure: Any) -> None:
    configure(API_KEY_PREFIX="acme")
    account = make_user()
    assert account.key.startswith("acme_")
    response = client.http.get(f"{API}/user/me", headers=account.headers)
    assert response.status_code == 200, response.body


# -- keys of the older form -----------------------------------------------------


def test_older_form_key_keeps_working(client: Client, make_user: Any) -> None:
    account = make_user()
    key = store_legacy(account.id, datetime.now(UTC) - timedelta(days=10))
    response = client.http.get(f"{API}/user/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.body
    assert response.json_body["user"]["id"] == account.id
    assert "API-Key-Expires" in response.headers


def test_older_form_key_without_expiry_ends_max_days_after_it_was_made(
    client: Client, make_user: Any
) -> None:
    account = make_user()
    key = store_legacy(account.id, datetime.now(UTC) - timedelta(days=366))
    response = client.http.get(f"{API}/user/me", headers={"Authorization": f"Bearer {key}"})
    assert_error(response, 401, "InvalidCredentials")


def test_older_form_key_with_expiry_keeps_it(client: Client, make_user: Any) -> None:
    account = make_user()
    soon = timestamps.stamp(datetime.now(UTC) + timedelta(days=3))
    key = store_legacy(account.id, datetime.now(UTC) - timedelta(days=400), soon)
    response = client.http.get(f"{API}/user/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.body
    assert response.headers["API-Key-Expires"] == soon


def test_older_form_key_can_be_revoked_as_leaked(client: Client, make_user: Any) -> None:
    account = make_user()
    key = store_legacy(account.id, datetime.now(UTC))
    response = client.http.post(
        f"{API}/apikeys/revoke",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"keys": [key]}),
    )
    assert response.json_body == {"revoked": 1}
    answer = client.http.get(f"{API}/user/me", headers={"Authorization": f"Bearer {key}"})
    assert_error(answer, 401, "InvalidCredentials")


# -- what scanners are told ------------------------------------------------------


@pytest.mark.parametrize("user_id", USER_IDS)
def test_readme_regex_matches_keys_of_both_forms(user_id: str) -> None:
    pattern = readme_regex()
    new, _ = key_format.make_key("uk", user_id, new_id()[:16])
    old, _, _ = legacy_key(user_id)
    for key in (new, old):
        assert pattern.fullmatch(key), key
        assert [m.group(0) for m in pattern.finditer(f'API_KEY = "{key}"\n')] == [key]


def test_readme_regex_matches_nothing_but_keys() -> None:
    pattern = readme_regex()
    real = [key for key in not_keys() if key_format.parse(key, "uk") is not None]
    assert real == []
    for text in not_keys():
        for found in pattern.finditer(text):
            assert key_format.parse(found.group(0), "uk") is None, text
            # A string of a key's shape matches; only its check refuses it.
            assert len(found.group(0)) == 101


def scan(tmp_path: Path, text: str) -> list[str]:
    """detect-secrets, run for real with the plugin: the secrets it reports in ``text``."""
    target = tmp_path / "notebook.py"
    target.write_text(text)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "detect-secrets"),
            "scan",
            "--plugin",
            str(PLUGIN),
            target.name,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    results = json.loads(done.stdout)["results"].get(target.name, [])
    lines = text.splitlines()
    return [
        lines[item["line_number"] - 1]
        for item in results
        if item["type"] == "Users service API key"
    ]


def test_detect_secrets_plugin_finds_keys_of_both_forms(tmp_path: Path) -> None:
    new, _ = key_format.make_key("uk", USER_IDS[2], new_id()[:16])
    old, _, _ = legacy_key(USER_IDS[0])
    text = f'KEY = "{new}"\nheaders = {{"Authorization": "Bearer {old}"}}\n'
    assert scan(tmp_path, text) == text.splitlines()


def test_detect_secrets_plugin_reports_no_lookalike(tmp_path: Path) -> None:
    text = "".join(f'value_{i} = "{candidate}"\n' for i, candidate in enumerate(not_keys()))
    assert scan(tmp_path, text) == []
