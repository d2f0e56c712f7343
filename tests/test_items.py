"""Items read attribute by attribute (``storage/items.py``) give what the models decode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.models import Model

from chalicelib.storage.items import Item, read
from chalicelib.storage.models import ApiKey, Session, User, item_expiry

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def assert_read_as_decoded(model: type[Model], item: Item) -> None:
    """Every attribute of ``model`` read from ``item`` equals the decoded instance's."""
    decoded = model.from_raw_data(item)
    for name, attribute in model.get_attributes().items():
        assert read(item, attribute) == getattr(decoded, name), name


def _user(**fields: Any) -> User:
    return User(
        id="0123456789abcdef0123456789abcdef",
        email="ada@example.org",
        email_lower="ada@example.org",
        version=3,
        created="2026-12-01T10:00:00.000000Z",
        updated="2026-12-02T10:00:00.000000Z",
        **fields,
    )


def test_a_full_user_item_reads_as_its_model_decodes_it() -> None:
    user = _user(
        name="Ada",
        permissions=["DATA_EDIT", "USER_SEARCH"],
        rule_permissions=[{"permission": "OWNERS_READ", "provider": "p", "claim": "c"}],
        api_key_ids={"k1", "k2"},
        suspended=True,
        email_verified=True,
    )
    assert_read_as_decoded(User, user.serialize())


def test_attributes_an_item_lacks_read_as_their_declared_defaults() -> None:
    item = _user().serialize()
    for name in ("permissions", "rule_permissions", "api_key_ids", "suspended", "name"):
        item.pop(name, None)
    assert_read_as_decoded(User, item)
    assert read(item, User.permissions) == []
    assert read(item, User.suspended) is False


def test_a_null_attribute_reads_as_absent() -> None:
    item = ApiKey(user_id="u", key_id="k", secret_hash="h", created="c").serialize()
    item["permissions"] = {"NULL": True}
    item["last_used"] = {"NULL": True}
    assert_read_as_decoded(ApiKey, item)
    assert read(item, ApiKey.permissions) is None


def test_key_and_session_items_read_as_decoded() -> None:
    key = ApiKey(
        user_id="u",
        key_id="k",
        secret_hash="h",
        created="2026-12-01T10:00:00Z",
        expires="2027-01-01T10:00:00Z",
        last_used="2026-12-02T10:00:00Z",
        last_used_ip="192.0.2.1",
        permissions=["USER_SEARCH"],
        read_only=True,
    )
    assert_read_as_decoded(ApiKey, key.serialize())
    session = Session(
        id="s", user_id="u", api_key_id="k", created="c", expires_at=NOW + timedelta(hours=1)
    )
    assert_read_as_decoded(Session, session.serialize())


def test_a_key_items_expiry_is_its_models() -> None:
    made = "2026-12-01T10:00:00Z"
    with_end = ApiKey(
        user_id="u", key_id="k", secret_hash="h", created=made, expires="2027-01-01T00:00:00Z"
    )
    without = ApiKey(user_id="u", key_id="k", secret_hash="h", created=made)
    for key in (with_end, without):
        assert item_expiry(key.serialize(), 90) == key.expiry(90)
    assert item_expiry(without.serialize(), 90) == datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
