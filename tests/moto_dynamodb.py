"""moto's DynamoDB for the tests, with a transaction's rollback kept per item.

moto 5.2.5's ``transact_write_items`` deep-copies every table a transaction
touches, once per action, before it starts, to put them back should an action
fail: its cost grows with the tables' size, so a test that fills a table with
thousands of items, or a soak run, spends most of its time copying. The
backend here keeps a copy of each item an action names (its state before the
transaction, or its absence) and puts those back instead. The actions run
exactly as moto runs them (the loop below is moto's, and every action goes
through moto's own ``put_item``, ``update_item``, ``delete_item`` and
condition checks), so what a transaction writes, and which error it answers,
is moto's; only the bookkeeping of its rollback differs.

An action writes its own item only (DynamoDB's rule, which moto's
``check_unicity`` enforces): putting back the items the actions name leaves
the tables as they were before. ``install`` puts the backend in place for the
test account and region; moto's reset (a ``mock_aws`` started with
``reset=True``) drops it, so it is installed again after each.

moto answers each request by walking the operation's output shape and, for
each member of each structure (every attribute value of every item), working
out afresh which keys of its result may hold the member (six alias rules,
each an object made per member). The keys depend on the member's shape and on
the result's type only, so for a result that is a plain ``dict`` (all of
DynamoDB's) the handler here works them out once per member and keeps them
(``KnownKeysSerializer``). A structure given as a ``dict`` of one key, as every
attribute value is, is walked over the members that key may hold only (for an
attribute value one of ten), where moto asks every member for its value; the
walk, and so the response, is moto's, byte for byte.

Those item copies, and the copies of whole tables the fixtures keep and put
back (``copy_items``), are made by type, without ``copy.deepcopy``'s memo: the
same copy in a third of the time.

The handler also counts the requests that may change the tables (``writes``):
every one but DynamoDB's reads, in all and per thread, so that the fixtures
know when a test's tables hold only what they made.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any, ClassVar

from botocore.model import OperationNotFoundError
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.model import OperationModel, Shape
from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import AttributePickerContext, ResponseSerializer, get_serializer_class
from moto.core.utils import get_service_model
from moto.dynamodb import urls as dynamodb_urls
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

# (table, hash key, range key or None, the item before the transaction or None)
_Saved = tuple[Table, DynamoType, DynamoType | None, Item | None]


class ItemRollbackBackend(DynamoDBBackend):
    """moto's DynamoDB backend whose transactions roll back item by item."""

    def _saved_items(self, transact_items: list[dict[str, Any]]) -> list[_Saved]:
        """A copy of each item the actions name, as it is now (None: absent)."""
        saved: list[_Saved] = []
        for action in transact_items:
            for op_type, op in action.items():
                table = self.tables.get(op.get("TableName", ""))
                attributes = op.get("Item") if op_type == "Put" else op.get("Key")
                if table is None or not isinstance(attributes, dict):
                    continue  # the action fails before it writes anything
                if table.hash_key_attr not in attributes:
                    continue
                hash_key = DynamoType(attributes[table.hash_key_attr])
                range_key = None
                if table.range_key_attr is not None:
                    if table.range_key_attr not in attributes:
                        continue
                    range_key = DynamoType(attributes[table.range_key_attr])
                current = table.get_item(hash_key, range_key)
                saved.append((table, hash_key, range_key, current and _copy_item(current)))
        return saved

    @staticmethod
    def _put_back(saved: list[_Saved]) -> None:
        """Every saved item as it was; the first copy of a key wins."""
        for table, hash_key, range_key, item in reversed(saved):
            if range_key is None:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item  # type: ignore[assignment]
            elif item is None:
                table.items[hash_key].pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item

    def transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
        # moto 5.2.5's DynamoDBBackend.transact_write_items, its table copies
        # replaced by _saved_items and _put_back.
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        saved = self._saved_items(transact_items)

        target_items: set[tuple[str, str]] = set()

        def check_unicity(table_name: str, key: dict[str, Any]) -> None:
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException

            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")

                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get(
                    "ReturnValuesOnConditionCheckFailure"
                )

                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]

                check_unicity(table_name, key)

                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(
                        condition_expression,
                        expression_attribute_names,
                        expression_attribute_values,
                    )
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                self._put_back(saved)
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
            except Exception as e:
                errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

        if any(code is not None for code, _, _ in errors):
            self._put_back(saved)
            raise TransactionCanceledException(errors)

    @property
    def _url_module(self) -> Any:
        return dynamodb_urls  # moto finds it by the backend's module

    @property
    def urls(self) -> dict[str, Any]:
        """moto's URLs of DynamoDB, answered by KnownKeysHandler (moto asks for them
        on every request)."""
        if self._urls is None:
            self._urls = dict.fromkeys(super().urls, KnownKeysHandler.dispatch)
        return self._urls

    _urls: dict[str, Any] | None = None


class KnownKeysSerializer(ResponseSerializer):
    """A moto serializer (mixed in before one) that picks a member of a ``dict``
    result by keys it worked out once for the member's shape."""

    def get_value(self, value: Any, key: str, shape: Shape) -> Any:
        transformers = getattr(self._value_picker, "response_transformers", None)
        if type(value) is dict and transformers == {}:
            known = _KNOWN_KEYS.get((id(shape), key))
            if known is None or known[0] is not shape or known[1] is not _parent(shape):
                known = self._learn(key, shape)
            if known[2] is not None:
                # moto's get_value of a dict and a key without a dot: value[key],
                # or none when it is absent.
                for possible in known[2]:
                    if possible in value:
                        return value[possible]
                return None
        return super().get_value(value, key, shape)

    def _serialize_type_structure(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        # A dict of one key, as every attribute value is (most of an answer): only
        # the members that key may hold, not every member asked for its value.
        if type(value) is dict and len(value) == 1 and not shape.is_document_type:
            transformers = getattr(self._value_picker, "response_transformers", None)
            members = self._members_by_key(shape) if transformers == {} else None
            if members is not None:
                wrapper = self.MAP_TYPE() if key else serialized
                for member_key, member_shape in members.get(next(iter(value)), ()):
                    member_shape.parent = shape
                    self._serialize_structure_member(wrapper, value, member_shape, member_key)
                if key:
                    self._default_serialize(serialized, wrapper, shape, key)
                return
        super()._serialize_type_structure(serialized, value, shape, key)

    def _members_by_key(self, shape: Any) -> dict[str, list[tuple[str, Shape]]] | None:
        """For each key a ``dict`` may have, the members of structure ``shape`` that
        moto's picker takes it for, in moto's order (None where a key has a dot)."""
        kept = _MEMBERS.get(id(shape))
        if kept is not None and kept[0] is shape:
            return kept[1]
        by_key: dict[str, list[tuple[str, Shape]]] | None = {}
        for member_key, member_shape in shape.members.items():
            member_shape.parent = shape
            possible = self._learn(member_key, member_shape)[2]
            if possible is None or by_key is None:
                by_key = None
                continue
            for name in possible:
                by_key.setdefault(name, []).append((member_key, member_shape))
        _MEMBERS[id(shape)] = (shape, by_key)
        return by_key

    def _learn(self, key: str, shape: Shape) -> _Known:
        """The keys moto's picker tries, in its order, for member ``key`` of a
        ``dict`` (they depend on the shape, its parent and the result's type only),
        or None where a key has a dot."""
        context = AttributePickerContext(
            obj={},
            key=key,
            shape=shape,
            operation_model=self.operation_model,
            service_model=self.service_model,
        )
        keys: tuple[str, ...] | None = tuple(self._value_picker.get_possible_keys(context))
        if any("." in possible for possible in keys or ()):
            keys = None
        known = (shape, _parent(shape), keys)
        _KNOWN_KEYS[(id(shape), key)] = known
        return known


def _parent(shape: Shape) -> Any:
    """The structure moto last serialized ``shape`` as a member of, if any."""
    return getattr(shape, "parent", None)


# A member's shape and parent (kept, so that their ids are not reused) and the keys
# moto's picker tries for it (None: moto's picker picks it).
_Known = tuple[Shape, Any, tuple[str, ...] | None]
# Per member: its shape's id and its key.
_KNOWN_KEYS: dict[tuple[int, str], _Known] = {}
# Per structure: its shape's id, the shape (kept) and its members by key.
_MEMBERS: dict[int, tuple[Any, dict[str, list[tuple[str, Shape]]] | None]] = {}


def _known_keys(serializer: type[ResponseSerializer]) -> type[ResponseSerializer]:
    """``serializer`` with KnownKeysSerializer's picking (one class per serializer)."""
    if serializer not in _SERIALIZERS:
        name = f"KnownKeys{serializer.__name__}"
        _SERIALIZERS[serializer] = type(name, (KnownKeysSerializer, serializer), {})
    return _SERIALIZERS[serializer]


_SERIALIZERS: dict[type[ResponseSerializer], type[ResponseSerializer]] = {}


class KnownKeysHandler(DynamoHandler):
    """moto's DynamoDB handler, its responses serialized with KnownKeysSerializer;
    it counts the requests that may change moto's DynamoDB (``writes``)."""

    def call_action(self) -> Any:
        if self._get_action() not in READS:
            _Writes.count(threading.get_ident())
        return super().call_action()

    def serialized(self, action_result: ActionResult) -> Any:
        # moto 5.2.5's BaseResponse.serialized, the serializer class wrapped.
        service_model = get_service_model(self.boto3_service_name)
        try:
            operation_model = service_model.operation_model(self._get_action())
        except OperationNotFoundError:
            assert isinstance(action_result.result, Exception)
            operation_model = OperationModel({}, service_model)
        protocol = self.determine_response_protocol(service_model)
        serializer = _known_keys(get_serializer_class(service_model.service_name, protocol))
        context = ActionContext(service_model, operation_model, serializer, self)
        status_code, headers, body = action_result.execute_result(context)
        headers.update(self.response_headers)
        return status_code, headers, body


# DynamoDB's operations that change nothing; every other request counts as a write,
# whether or not it succeeds.
READS = frozenset(
    {
        "BatchGetItem",
        "DescribeBackup",
        "DescribeContinuousBackups",
        "DescribeEndpoints",
        "DescribeExport",
        "DescribeImport",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTimeToLive",
        "GetItem",
        "GetResourcePolicy",
        "ListBackups",
        "ListExports",
        "ListTables",
        "ListTagsOfResource",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)


class _Writes:
    """The requests that may have changed moto's DynamoDB, in all and per thread."""

    total = 0
    by_thread: ClassVar[Counter[int]] = Counter()
    _lock = threading.Lock()

    @classmethod
    def count(cls, thread: int) -> None:
        with cls._lock:
            cls.total += 1
            cls.by_thread[thread] += 1


def writes() -> tuple[int, int]:
    """The requests that may have changed moto's DynamoDB since the tests started:
    from any thread, and from this one."""
    with _Writes._lock:
        return _Writes.total, _Writes.by_thread[threading.get_ident()]


def install(region: str) -> None:
    """Serve moto's DynamoDB of the test account in ``region`` with ItemRollbackBackend
    (its tables, if any, carried over), and route moto's DynamoDB requests to
    KnownKeysHandler (moto finds the handler through the backend of us-east-1);
    nothing changes where this is done already."""
    regions = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID]
    for name in dict.fromkeys([region, ROUTING_REGION]):
        current = regions[name]
        if isinstance(current, ItemRollbackBackend):
            continue
        backend = ItemRollbackBackend(name, DEFAULT_ACCOUNT_ID)
        backend.tables = current.tables
        regions[name] = backend


# The region whose backend moto asks for a service's URLs and handlers.
ROUTING_REGION = "us-east-1"


def copy_items(items: dict[Any, Any]) -> dict[Any, Any]:
    """A copy of a moto table's ``items`` (each item by its hash key, or by its hash
    and range keys) that shares nothing moto changes in place, as ``copy.deepcopy``
    makes it, in a third of its time: it copies by type, without deepcopy's memo.
    The keys are shared: a dictionary's keys are never changed."""
    copied: defaultdict[Any, Any] = defaultdict(dict)  # moto's own type for it
    for hash_key, held in items.items():
        if isinstance(held, Item):
            copied[hash_key] = _copy_item(held)
        else:
            copied[hash_key] = {range_key: _copy_item(item) for range_key, item in held.items()}
    return copied


def _copy_item(item: Item) -> Item:
    copied = Item.__new__(Item)
    copied.hash_key = item.hash_key
    copied.range_key = item.range_key
    # As moto's Item.__deepcopy__: an item already written needs no size check again.
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    for name, value in item.attrs.items():
        dict.__setitem__(attrs, name, _copy_value(value))
    copied.attrs = attrs
    return copied


def _copy_value(value: DynamoType) -> DynamoType:
    copied = DynamoType.__new__(DynamoType)
    copied.type = value.type
    held = value.value
    if value.type == "M":
        copied.value = {name: _copy_value(member) for name, member in held.items()}
    elif value.type == "L":
        copied.value = [_copy_value(member) for member in held]
    elif value.type in ("SS", "NS", "BS"):
        copied.value = list(held)
    else:
        copied.value = held  # a string, number, bytes or boolean: never changed in place
    return copied
