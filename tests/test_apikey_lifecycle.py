"""An API key's life (docs/API.md section 11): expiry and API-Key-Expires, last use and its
address, rotation with its overlap, leaked keys revoked by anyone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from bench.harness import counting
from chalicelib import key_format, timestamps
from chalicelib.identity import key_use
from chalicelib.storage.models import ApiKey, LogEntry
from tests.conftest import assert_error

API = "/api/v1"
JSON = {"Content-Type": "application/json"}


def parse(stamp: str) -> datetime:
    return timestamps.parse(stamp)


def make_key(client: Client, owner: Any, **body: Any) -> dict[str, str]:
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys", headers=owner.json_headers(), body=json.dumps(body)
    )
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **JSON}


def listed(client: Client, owner: Any, key_id: str) -> dict[str, Any]:
    response = client.http.get(f"{API}/user/{owner.id}/apikeys", headers=owner.headers)
    return next(k for k in response.json_body["apikeys"] if k["id"] == key_id)


def rotate(client: Client, caller_key: str, owner: Any, key_id: str, **body: Any) -> Any:
    return client.http.post(
        f"{API}/user/{owner.id}/apikeys/{key_id}/rotate",
        headers=auth(caller_key),
        body=json.dumps(body),
    )


def revoke_leaked(client: Client, keys: list[Any]) -> Any:
    return client.http.post(f"{API}/apikeys/revoke", headers=JSON, body=json.dumps({"keys": keys}))


def log_of(client: Client, owner: Any) -> list[dict[str, Any]]:
    response = client.http.get(f"{API}/user/{owner.id}/log?limit=1000", headers=owner.headers)
    return list(response.json_body["logs"])


@pytest.fixture
def owner(make_user: Any) -> Any:
    return make_user(permissions=["USER_SEARCH"], name="Owner")


# -- expiry ------------------------------------------------------------------------


def test_key_expires_after_the_days_asked(client: Client, owner: Any) -> None:
    made = make_key(client, owner, expires_in_days=7)
    info = listed(client, owner, made["id"])
    assert parse(made["expires"]) - parse(info["created"]) == timedelta(days=7)


def test_key_may_live_api_key_max_days(client: Client, owner: Any) -> None:
    made = make_key(client, owner, expires_in_days=365)
    assert made["expires"]


def test_key_longer_than_api_key_max_days_returns_400(client: Client, owner: Any) -> None:
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys",
        headers=owner.json_headers(),
        body=json.dumps({"expires_in_days": 366}),
    )
    assert_error(response, 400, "InvalidInput")
    assert "365" in response.json_body["Message"]


def test_key_lifetimes_follow_the_settings(client: Client, make_user: Any, configure: Any) -> None:
    configure(API_KEY_MAX_DAYS="30", API_KEY_DEFAULT_DAYS="7")
    account = make_user()
    made = make_key(client, account)
    assert parse(made["expires"]) - parse(listed(client, account, made["id"])["created"]) == (
        timedelta(days=7)
    )
    too_long = client.http.post(
        f"{API}/user/{account.id}/apikeys",
        headers=account.json_headers(),
        body=json.dumps({"expires_in_days": 31}),
    )
    assert_error(too_long, 400, "InvalidInput")


def test_answers_to_key_requests_carry_api_key_expires(client: Client, owner: Any) -> None:
    made = make_key(client, owner, expires_in_days=3)
    for response in (
        client.http.get(f"{API}/user/me", headers=auth(made["key"])),
        client.http.get(f"{API}/user/{owner.id}", headers=auth(made["key"])),  # a 403 too
    ):
        assert response.headers["API-Key-Expires"] == made["expires"]


def test_login_with_a_key_answers_api_key_expires(client: Client, owner: Any) -> None:
    made = make_key(client, owner, expires_in_days=3)
    login = client.http.post(
        f"{API}/login/apikey", headers=JSON, body=json.dumps({"api-key": made["key"]})
    )
    assert login.status_code == 200, login.body
    assert login.headers["API-Key-Expires"] == made["expires"]


def test_answers_without_a_key_carry_no_api_key_expires(client: Client, owner: Any) -> None:
    assert "API-Key-Expires" not in client.http.get(f"{API}/user/permissions").headers


def test_expired_key_returns_401(client: Client, owner: Any) -> None:
    made = make_key(client, owner, expires_in_days=1)
    ApiKey(user_id=owner.id, key_id=made["id"]).update(
        actions=[ApiKey.expires.set("2000-01-01T00:00:00Z")]
    )
    assert_error(
        client.http.get(f"{API}/user/me", headers=auth(made["key"])), 401, "InvalidCredentials"
    )


# -- last use ------------------------------------------------------------------------


def test_use_records_when_and_the_address_api_gateway_saw(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    assert listed(client, owner, made["id"])["last_used"] is None
    assert client.http.get(f"{API}/user/me", headers=auth(made["key"])).status_code == 200
    info = listed(client, owner, made["id"])
    assert info["last_used_ip"] == "127.0.0.1"  # what chalice's local gateway reports
    assert abs(parse(info["last_used"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_login_with_a_key_records_its_use(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    client.http.post(f"{API}/login/apikey", headers=JSON, body=json.dumps({"api-key": made["key"]}))
    assert listed(client, owner, made["id"])["last_used_ip"] == "127.0.0.1"


def test_second_use_within_the_hour_writes_nothing(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    client.http.get(f"{API}/user/me", headers=auth(made["key"]))
    with counting() as counts:
        client.http.get(f"{API}/user/me", headers=auth(made["key"]))
    assert "UpdateItem" not in counts.operations()


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def stored(owner: Any, key_id: str) -> ApiKey:
    return ApiKey.get(owner.id, key_id, consistent_read=True)


def use(recorder: key_use.UseRecorder, owner: Any, key_id: str, ip: str) -> bool:
    """A use as the middleware records it, from what the authorizer read."""
    key = stored(owner, key_id)
    return recorder.record(owner.id, key_id, key.last_used or "", key.last_used_ip or "", ip)


@pytest.mark.parametrize(
    ("steps", "written"),
    [
        ([(0, "a"), (30, "a"), (59 * 60, "a")], [True, False, False]),
        ([(0, "a"), (3600, "a")], [True, True]),
        ([(0, "a"), (30, "b"), (60, "b")], [True, False, True]),
        ([(0, "a"), (61, "b"), (61, "a"), (121, "a")], [True, True, False, True]),
    ],
    ids=["same-address-within-the-hour", "after-an-hour", "new-address-after-a-minute", "flapping"],
)
def test_use_is_written_hourly_or_on_a_new_address_at_most_once_a_minute(
    client: Client, owner: Any, steps: list[tuple[int, str]], written: list[bool]
) -> None:
    made = make_key(client, owner)
    clock = Clock()
    start = clock.now
    recorder = key_use.UseRecorder(clock)
    outcome = []
    for seconds, ip in steps:
        clock.now = start + timedelta(seconds=seconds)
        outcome.append(use(recorder, owner, made["id"], ip))
    assert outcome == written


def test_two_containers_write_a_key_at_most_once_a_minute(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    clock = Clock()
    first, second = key_use.UseRecorder(clock), key_use.UseRecorder(clock)
    assert first.record(owner.id, made["id"], "", "", "10.0.0.1")
    clock.now += timedelta(seconds=20)
    # The second container's authorizer read the key before the first wrote it.
    assert not second.record(owner.id, made["id"], "", "", "10.0.0.2")
    assert stored(owner, made["id"]).last_used_ip == "10.0.0.1"


def test_cached_decisions_do_not_write_again(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    recorder = key_use.UseRecorder(Clock())
    assert recorder.record(owner.id, made["id"], "", "", "10.0.0.1")
    with counting() as counts:
        for _ in range(5):  # the same stale context, as API Gateway's cache hands it on
            assert not recorder.record(owner.id, made["id"], "", "", "10.0.0.1")
    assert counts.round_trips == 0


def test_use_of_a_revoked_key_is_not_written_back(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    client.http.delete(f"{API}/user/{owner.id}/apikeys/{made['id']}", headers=owner.headers)
    assert not key_use.UseRecorder(Clock()).record(owner.id, made["id"], "", "", "10.0.0.1")
    assert ApiKey.count(owner.id, ApiKey.key_id == made["id"]) == 0


# -- rotation ------------------------------------------------------------------------


def test_rotation_makes_a_new_key_with_the_old_ones_name_and_scope(
    client: Client, owner: Any
) -> None:
    old = make_key(client, owner, name="ci", permissions=["USER_SEARCH"], read_only=True)
    response = rotate(client, owner.key, owner, old["id"])
    assert response.status_code == 201, response.body
    new = response.json_body
    assert set(new) == {"key", "id", "expires", "old_key_expires"}
    assert new["id"] != old["id"] and new["key"] != old["key"]
    info = listed(client, owner, new["id"])
    assert (info["name"], info["permissions"], info["read_only"]) == ("ci", ["USER_SEARCH"], True)
    assert client.http.get(f"{API}/user", headers=auth(new["key"])).status_code == 200


def test_rotated_key_gets_the_old_ones_lifetime(client: Client, owner: Any) -> None:
    old = make_key(client, owner, expires_in_days=30)
    new = rotate(client, owner.key, owner, old["id"]).json_body
    assert parse(new["expires"]) - datetime.now(UTC) > timedelta(days=29, hours=23)
    assert parse(new["expires"]) - datetime.now(UTC) <= timedelta(days=30)


@pytest.mark.parametrize("hours", [1, 24, 168])
def test_old_key_works_for_the_overlap(client: Client, owner: Any, hours: int) -> None:
    old = make_key(client, owner)
    new = rotate(client, owner.key, owner, old["id"], overlap_hours=hours).json_body
    until = parse(new["old_key_expires"])
    assert abs(until - (datetime.now(UTC) + timedelta(hours=hours))) < timedelta(minutes=1)
    assert listed(client, owner, old["id"])["expires"] == new["old_key_expires"]
    assert client.http.get(f"{API}/user/me", headers=auth(old["key"])).status_code == 200


def test_overlap_defaults_to_24_hours(client: Client, owner: Any) -> None:
    old = make_key(client, owner)
    response = client.http.post(
        f"{API}/user/{owner.id}/apikeys/{old['id']}/rotate", headers=owner.headers
    )
    assert response.status_code == 201, response.body
    until = parse(response.json_body["old_key_expires"])
    assert abs(until - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)


def test_rotation_with_no_overlap_ends_the_old_key_now(client: Client, owner: Any) -> None:
    old = make_key(client, owner)
    new = rotate(client, owner.key, owner, old["id"], overlap_hours=0).json_body
    assert parse(new["old_key_expires"]) <= datetime.now(UTC)
    assert_error(
        client.http.get(f"{API}/user/me", headers=auth(old["key"])), 401, "InvalidCredentials"
    )
    assert client.http.get(f"{API}/user/me", headers=auth(new["key"])).status_code == 200


def test_overlap_never_extends_the_old_key(client: Client, owner: Any) -> None:
    old = make_key(client, owner, expires_in_days=1)
    new = rotate(client, owner.key, owner, old["id"], overlap_hours=168).json_body
    assert new["old_key_expires"] == old["expires"]


def test_old_key_stops_after_the_overlap(client: Client, owner: Any) -> None:
    old = make_key(client, owner)
    rotate(client, owner.key, owner, old["id"], overlap_hours=1)
    # An hour later, as far as the stored expiry goes:
    past = timestamps.stamp(datetime.now(UTC) - timedelta(seconds=1))
    ApiKey(user_id=owner.id, key_id=old["id"]).update(actions=[ApiKey.expires.set(past)])
    assert_error(
        client.http.get(f"{API}/user/me", headers=auth(old["key"])), 401, "InvalidCredentials"
    )


def test_rotation_is_logged_naming_both_keys(client: Client, owner: Any) -> None:
    old = make_key(client, owner, name="ci")
    new = rotate(client, owner.key, owner, old["id"], overlap_hours=2).json_body
    entry = log_of(client, owner)[-1]
    assert entry["action"] == "edit" and entry["user"] == owner.id
    assert old["id"] in entry["comment"] and new["id"] in entry["comment"]
    assert new["old_key_expires"] in entry["comment"]
    assert entry["data"] == {
        "key_id": new["id"],
        "name": "ci",
        "expires": new["expires"],
        "rotates": old["id"],
        "old_key_expires": new["old_key_expires"],
    }
    text = json.dumps(entry)
    for key in (old["key"], new["key"]):
        assert key not in text


@pytest.mark.parametrize("hours", [-1, 169, "1", 1.5, None])
def test_rotation_with_a_bad_overlap_returns_400(client: Client, owner: Any, hours: Any) -> None:
    old = make_key(client, owner)
    assert_error(
        rotate(client, owner.key, owner, old["id"], overlap_hours=hours), 400, "InvalidInput"
    )
    assert client.http.get(f"{API}/user/me", headers=auth(old["key"])).status_code == 200


def test_rotating_an_unknown_key_returns_404(client: Client, owner: Any) -> None:
    assert_error(rotate(client, owner.key, owner, "0" * 16), 404, "ApiKeyNotFound")


def test_session_of_a_rotated_key_ends_with_it(client: Client, owner: Any) -> None:
    old = make_key(client, owner)
    login = client.http.post(
        f"{API}/login/apikey", headers=JSON, body=json.dumps({"api-key": old["key"]})
    )
    raw = login.headers["Set-Cookie"]
    cookie = next(c for c in ([raw] if isinstance(raw, str) else raw) if c.startswith("session="))
    headers = {"Cookie": f"{cookie.split(';')[0]}; _csrf_token=t", "X-CSRF-Token": "t"}
    rotate(client, owner.key, owner, old["id"], overlap_hours=0)
    assert_error(client.http.post(f"{API}/login/token", headers=headers), 401, "InvalidCredentials")


# -- leaked keys ---------------------------------------------------------------------


def test_anyone_may_revoke_a_leaked_key(client: Client, owner: Any) -> None:
    made = make_key(client, owner, name="notebook")
    response = revoke_leaked(client, [made["key"]])
    assert response.status_code == 200, response.body
    assert response.json_body == {"revoked": 1}
    assert_error(
        client.http.get(f"{API}/user/me", headers=auth(made["key"])), 401, "InvalidCredentials"
    )
    entry = log_of(client, owner)[-1]
    assert entry["user"] == "system" and "revoked as leaked" in entry["comment"]
    assert entry["data"] == {"key_id": made["id"], "name": "notebook"}
    assert made["key"] not in json.dumps(entry)


def test_leaked_key_revocation_counts_only_live_keys(client: Client, owner: Any) -> None:
    live = make_key(client, owner)
    gone = make_key(client, owner)
    client.http.delete(f"{API}/user/{owner.id}/apikeys/{gone['id']}", headers=owner.headers)
    malformed = live["key"][:-1] + ("A" if live["key"][-1] != "A" else "B")
    parts = key_format.parse(live["key"], "uk")
    assert parts is not None
    unknown, _ = key_format.make_key("uk", owner.id, "0" * 16)
    keys = [malformed, unknown, gone["key"], "not a key", live["key"], live["key"]]
    assert revoke_leaked(client, keys).json_body == {"revoked": 1}
    assert revoke_leaked(client, [live["key"]]).json_body == {"revoked": 0}  # already revoked


def test_leaked_key_with_the_right_ids_but_another_secret_is_not_revoked(
    client: Client, owner: Any
) -> None:
    made = make_key(client, owner)
    forged, _ = key_format.make_key("uk", owner.id, made["id"])
    assert revoke_leaked(client, [forged]).json_body == {"revoked": 0}
    assert client.http.get(f"{API}/user/me", headers=auth(made["key"])).status_code == 200


def test_malformed_leaked_keys_cost_no_storage_read(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    typo = made["key"][:10] + ("x" if made["key"][10] != "x" else "y") + made["key"][11:]
    with counting() as counts:
        response = revoke_leaked(client, [typo, "uk_", "", "hello"])
    assert response.json_body == {"revoked": 0}
    assert counts.round_trips == 0


def test_revoking_many_leaked_keys_reads_them_in_one_round_trip(
    client: Client, make_user: Any
) -> None:
    owners = [make_user() for _ in range(3)]
    keys = [make_key(client, account)["key"] for account in owners]
    with counting() as counts:
        assert revoke_leaked(client, keys).json_body == {"revoked": 3}
    reads = [c for c in counts.calls if c.operation == "BatchGetItem"]
    assert len(reads) == 1 + 3  # the keys together, then each key with its owner


@pytest.mark.parametrize(
    "body",
    [{}, {"keys": "uk_x"}, {"keys": [1]}, {"keys": ["a"] * 101}, {"keys": [], "who": "me"}],
    ids=["no-keys", "not-a-list", "not-strings", "over-100", "unknown-field"],
)
def test_bad_leaked_key_request_returns_400(client: Client, body: dict[str, Any]) -> None:
    response = client.http.post(f"{API}/apikeys/revoke", headers=JSON, body=json.dumps(body))
    assert response.status_code == 400, response.body


def test_leaked_key_answer_says_nothing_of_the_owner(client: Client, owner: Any) -> None:
    made = make_key(client, owner)
    response = revoke_leaked(client, [made["key"]])
    assert owner.id not in response.body.decode()
    assert LogEntry.count(owner.id) >= 1
