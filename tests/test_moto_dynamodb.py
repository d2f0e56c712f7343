"""The tests' moto backend (``tests/moto_dynamodb.py``) answers transactions as moto's
own does: the same items written, the same error, the same tables after a failure;
and its handler answers reads and writes with moto's own responses.

Each case runs on a fresh moto twice, on moto's backend and on ours, and the two
must agree, item for item.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from bench import environment
from tests import moto_dynamodb
from tests.moto_dynamodb import ItemRollbackBackend

REGION = environment.ENVIRON["AWS_DEFAULT_REGION"]
PAIRS = "pairs"  # hash and range key
SINGLES = "singles"  # hash key only


def _tables(dynamodb: Any) -> None:
    for name, keys in ((PAIRS, ("h", "r")), (SINGLES, ("h",))):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": key, "KeyType": kind}
                for key, kind in zip(keys, ("HASH", "RANGE"), strict=False)
            ],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    for index in range(3):
        dynamodb.put_item(
            TableName=PAIRS,
            Item={"h": {"S": "a"}, "r": {"S": str(index)}, "n": {"N": "1"}, "l": {"L": []}},
        )
        dynamodb.put_item(TableName=SINGLES, Item={"h": {"S": str(index)}, "n": {"N": "1"}})


def _everything(dynamodb: Any) -> dict[str, list[Any]]:
    return {
        name: sorted(dynamodb.scan(TableName=name)["Items"], key=repr) for name in (PAIRS, SINGLES)
    }


def _outcome(ours: bool, actions: list[dict[str, Any]]) -> tuple[str | None, Any, Any]:
    """(error code or None, cancellation reasons, every item afterwards) of one
    transaction on a fresh moto, on our backend or on moto's."""
    with mock_aws():
        if ours:
            moto_dynamodb.install(REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        _tables(dynamodb)
        backend = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][REGION]
        assert isinstance(backend, ItemRollbackBackend) == ours
        code, reasons = None, None
        try:
            dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            reasons = exc.response.get("CancellationReasons")
        return code, reasons, _everything(dynamodb)


def _update(table: str, key: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET n = n + :one, l = list_append(l, :x)",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":x": {"L": [{"S": "x"}]}},
            **extra,
        }
    }


PAIR_0 = {"h": {"S": "a"}, "r": {"S": "0"}}
WRITES: list[dict[str, Any]] = [
    _update(PAIRS, PAIR_0),  # changes an item in place
    {"Put": {"TableName": PAIRS, "Item": {"h": {"S": "b"}, "r": {"S": "9"}}}},  # a new one
    {"Put": {"TableName": SINGLES, "Item": {"h": {"S": "1"}, "n": {"N": "7"}}}},  # replaces one
    {"Delete": {"TableName": SINGLES, "Key": {"h": {"S": "2"}}}},
    {"Delete": {"TableName": PAIRS, "Key": {"h": {"S": "a"}, "r": {"S": "2"}}}},
]
FAILING_CHECK = {
    "ConditionCheck": {
        "TableName": SINGLES,
        "Key": {"h": {"S": "0"}},
        "ConditionExpression": "attribute_not_exists(h)",
    }
}

CASES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "every write lands": lambda: WRITES,
    "a failed condition at the end undoes every write": lambda: [*WRITES, FAILING_CHECK],
    "a failed condition first": lambda: [FAILING_CHECK, *WRITES],
    "a failed update condition": lambda: [
        *WRITES[1:],
        _update(PAIRS, PAIR_0, ConditionExpression="attribute_not_exists(h)"),
    ],
    "an update of an absent item creates it; undone": lambda: [
        _update(
            SINGLES,
            {"h": {"S": "new"}},
            UpdateExpression="SET n = :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        ),
        *WRITES,
        FAILING_CHECK,
    ],
    "one item named twice": lambda: [*WRITES, _update(PAIRS, PAIR_0)],
}


@pytest.mark.parametrize("case", CASES)
def test_a_transaction_ends_as_on_motos_own_backend(case: str) -> None:
    actions = CASES[case]()
    ours = _outcome(True, actions)
    assert ours == _outcome(False, actions)
    code, _, items = ours
    before = _outcome(True, [FAILING_CHECK])[2]
    assert (items == before) == (code is not None), (case, code)


# An item holding every type of attribute value, nested in maps and lists.
EVERY_TYPE = {
    "h": {"S": "every"},
    "s": {"S": "x"},
    "n": {"N": "1.5"},
    "b": {"B": b"\x00\x01"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2"]},
    "bs": {"BS": [b"a", b"b"]},
    "m": {"M": {"in": {"L": [{"S": "y"}, {"NULL": True}, {"BOOL": False}]}, "e": {"M": {}}}},
    "l": {"L": [{"M": {"k": {"N": "0"}}}, {"L": []}, {"B": b"z"}]},
    "null": {"NULL": True},
    "bool": {"BOOL": True},
}
EVERY_KEY = {"h": EVERY_TYPE["h"]}


def _answers(ours: bool) -> list[tuple[Any, str]]:
    """Each answer (without its request id and date) to reads and writes of
    EVERY_TYPE on a fresh moto, served by our handler or moto's, with the checksum
    of the body it was parsed from."""
    with mock_aws():
        if ours:
            moto_dynamodb.install(REGION)
        routes = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][moto_dynamodb.ROUTING_REGION].urls
        assert ours == (set(routes.values()) == {moto_dynamodb.KnownKeysHandler.dispatch})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        _tables(dynamodb)
        calls: list[Callable[[], Any]] = [
            lambda: dynamodb.put_item(TableName=SINGLES, Item=EVERY_TYPE, ReturnValues="ALL_OLD"),
            lambda: dynamodb.put_item(TableName=SINGLES, Item=EVERY_TYPE, ReturnValues="ALL_OLD"),
            lambda: dynamodb.get_item(
                TableName=SINGLES, Key=EVERY_KEY, ReturnConsumedCapacity="TOTAL"
            ),
            lambda: dynamodb.get_item(
                TableName=SINGLES, Key=EVERY_KEY, ProjectionExpression="m, l[0], s"
            ),
            lambda: dynamodb.batch_get_item(
                RequestItems={SINGLES: {"Keys": [EVERY_KEY, {"h": {"S": "0"}}]}},
                ReturnConsumedCapacity="INDEXES",
            ),
            lambda: dynamodb.query(
                TableName=PAIRS,
                KeyConditionExpression="h = :a",
                ExpressionAttributeValues={":a": {"S": "a"}},
                Limit=2,
            ),
            lambda: dynamodb.scan(TableName=SINGLES),
            lambda: dynamodb.transact_get_items(
                TransactItems=[{"Get": {"TableName": SINGLES, "Key": EVERY_KEY}}]
            ),
            lambda: dynamodb.transact_write_items(TransactItems=WRITES),
            lambda: dynamodb.update_item(
                TableName=SINGLES,
                Key=EVERY_KEY,
                UpdateExpression="SET n = n + :one REMOVE bs",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            ),
            lambda: dynamodb.delete_item(TableName=SINGLES, Key=EVERY_KEY, ReturnValues="ALL_OLD"),
        ]
        answers = []
        for call in calls:
            answer = call()
            headers = answer.pop("ResponseMetadata")["HTTPHeaders"]
            answers.append((answer, headers["x-amz-crc32"]))
        return answers


def test_reads_and_writes_are_answered_as_by_motos_own_handler() -> None:
    ours = _answers(True)
    assert ours == _answers(False)
    assert ours[1][0]["Attributes"] == ours[2][0]["Item"] == EVERY_TYPE


def test_copied_items_equal_the_originals_and_keep_nothing_an_update_changes() -> None:
    with mock_aws():
        moto_dynamodb.install(REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        _tables(dynamodb)
        every_type = {
            "m": {"M": {"a": {"S": "x"}, "deep": {"M": {"b": {"N": "1"}}}}},
            "l": {"L": [{"S": "x"}, {"M": {"c": {"BOOL": True}}}]},
            "ss": {"SS": ["a", "b"]},
            "b": {"B": b"bytes"},
            "null": {"NULL": True},
        }
        dynamodb.put_item(TableName=SINGLES, Item={"h": {"S": "0"}, **every_type})
        dynamodb.put_item(TableName=PAIRS, Item={"h": {"S": "a"}, "r": {"S": "0"}, **every_type})
        tables = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][REGION].tables
        copied = {name: moto_dynamodb.copy_items(tables[name].items) for name in (PAIRS, SINGLES)}
        before = {name: copy.deepcopy(tables[name].items) for name in (PAIRS, SINGLES)}
        assert copied == before
        assert all(type(items) is type(tables[PAIRS].items) for items in copied.values())
        for table, key in (
            (SINGLES, {"h": {"S": "0"}}),
            (PAIRS, {"h": {"S": "a"}, "r": {"S": "0"}}),
        ):
            dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression=(
                    "SET m.a = :y, m.deep.b = :two, l = list_append(l, :more), l[1].c = :no "
                    "ADD ss :c"
                ),
                ExpressionAttributeValues={
                    ":y": {"S": "y"},
                    ":two": {"N": "2"},
                    ":more": {"L": [{"S": "z"}]},
                    ":no": {"BOOL": False},
                    ":c": {"SS": ["c"]},
                },
            )
        assert all(tables[name].items != before[name] for name in (PAIRS, SINGLES))
        assert copied == before
