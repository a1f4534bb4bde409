"""A fake Amazon DynamoDB: tables of items with conditional writes (the lease store's
atomic record).

Operations: ``CreateTable``, ``DescribeTable``, ``GetItem``, ``PutItem``, ``DeleteItem``.
The rules the real service enforces and the fake keeps: an item must carry the table's
key attributes with their declared types; a ``ConditionExpression`` is evaluated
atomically against the item as stored (``ConditionalCheckFailedException`` when it is
false, nothing written); every ``ExpressionAttributeNames``/``Values`` entry must be used
by an expression, and every one used must be given (``ValidationException``). The
condition language is the subset a check-and-set needs: ``attribute_exists(p)``,
``attribute_not_exists(p)``, ``p = v``, ``p <> v``, ``AND``, ``OR``, ``NOT`` and
parentheses, where ``p`` is a name or ``#name`` and ``v`` is ``:value`` or a path; other
syntax is a ``ValidationException`` naming what the fake does not understand.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .account import Account, Clock
from .errors import AwsError
from .wire import ServiceApi

__all__ = ["DynamoDb"]

JSON = dict[str, Any]
_TOKEN = re.compile(r"\s*(\(|\)|<>|=|,|[#:]?[A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class _Table:
    name: str
    arn: str
    key: list[JSON]
    attributes: dict[str, str]
    created: datetime
    table_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    items: dict[tuple[str, ...], JSON] = field(default_factory=dict)


class _Condition:
    """Parses and evaluates one condition expression against an item (or ``None``)."""

    def __init__(self, text: str, names: JSON, values: JSON) -> None:
        self.tokens = self._lex(text)
        self.pos = 0
        self.names = names
        self.values = values
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise self._invalid(f"unexpected {self.tokens[self.pos]!r}")

    @staticmethod
    def _invalid(why: str) -> AwsError:
        return AwsError(
            "ValidationException",
            f"Invalid ConditionExpression: {why} (the fake understands "
            "attribute_exists, attribute_not_exists, =, <>, AND, OR, NOT and parentheses)",
        )

    def _lex(self, text: str) -> list[str]:
        out, i = [], 0
        while i < len(text):
            if text[i].isspace():
                i += 1
                continue
            m = _TOKEN.match(text, i)
            if m is None:
                raise self._invalid(f"cannot read {text[i:]!r}")
            out.append(m.group(1))
            i = m.end()
        return out

    def _peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def _take(self, want: str | None = None) -> str:
        tok = self._peek()
        if not tok or (want is not None and tok.upper() != want):
            raise self._invalid(f"expected {want or 'more'}, got {tok or 'the end'!r}")
        self.pos += 1
        return tok

    def _or(self) -> Any:
        left = self._and()
        while self._peek().upper() == "OR":
            self._take()
            left = ("or", left, self._and())
        return left

    def _and(self) -> Any:
        left = self._not()
        while self._peek().upper() == "AND":
            self._take()
            left = ("and", left, self._not())
        return left

    def _not(self) -> Any:
        if self._peek().upper() == "NOT":
            self._take()
            return ("not", self._not())
        if self._peek() == "(":
            self._take("(")
            inner = self._or()
            self._take(")")
            return inner
        tok = self._peek()
        if tok in ("attribute_exists", "attribute_not_exists"):
            self._take()
            self._take("(")
            path = self._path(self._take())
            self._take(")")
            return (tok, path)
        left = self._operand(self._take())
        op = self._take()
        if op not in ("=", "<>"):
            raise self._invalid(f"the comparison {op!r}")
        return (op, left, self._operand(self._take()))

    def _path(self, tok: str) -> str:
        if tok.startswith(":"):
            raise self._invalid(f"{tok} is a value, not an attribute name")
        if tok.startswith("#"):
            if tok not in self.names:
                raise AwsError(
                    "ValidationException",
                    f"Value provided in ExpressionAttributeNames unused in expressions or an "
                    f"expression attribute name is undefined: {tok}",
                )
            self.used_names.add(tok)
            return str(self.names[tok])
        return tok

    def _operand(self, tok: str) -> Any:
        if tok.startswith(":"):
            if tok not in self.values:
                raise AwsError(
                    "ValidationException",
                    f"An expression attribute value used in expression is not defined; "
                    f"attribute value: {tok}",
                )
            self.used_values.add(tok)
            return ("value", self.values[tok])
        return ("path", self._path(tok))

    def holds(self, item: JSON | None) -> bool:
        return bool(self._eval(self.tree, item or {}))

    def _eval(self, node: Any, item: JSON) -> Any:
        kind = node[0]
        if kind == "or":
            return self._eval(node[1], item) or self._eval(node[2], item)
        if kind == "and":
            return self._eval(node[1], item) and self._eval(node[2], item)
        if kind == "not":
            return not self._eval(node[1], item)
        if kind == "attribute_exists":
            return node[1] in item
        if kind == "attribute_not_exists":
            return node[1] not in item
        left, right = self._value(node[1], item), self._value(node[2], item)
        if left is None or right is None:
            return kind == "<>" and not (left is None and right is None)
        return (left == right) if kind == "=" else (left != right)

    @staticmethod
    def _value(operand: Any, item: JSON) -> Any:
        if operand[0] == "value":
            return operand[1]
        return item.get(operand[1])


class DynamoDb:
    """The fake service's state and handlers (:attr:`api`)."""

    def __init__(self, account: Account, clock: Clock) -> None:
        self.account = account
        self.clock = clock
        self.tables: dict[str, _Table] = {}
        self.api = ServiceApi(
            "dynamodb",
            {
                "CreateTable": self.create_table,
                "DescribeTable": self.describe_table,
                "GetItem": self.get_item,
                "PutItem": self.put_item,
                "DeleteItem": self.delete_item,
            },
        )

    def _table(self, name: str) -> _Table:
        table = self.tables.get(name)
        if table is None:
            raise AwsError(
                "ResourceNotFoundException",
                f"Requested resource not found: Table: {name} not found",
            )
        return table

    def _description(self, t: _Table) -> JSON:
        return {
            "TableName": t.name,
            "TableArn": t.arn,
            "TableId": t.table_id,
            "TableStatus": "ACTIVE",
            "KeySchema": t.key,
            "AttributeDefinitions": [
                {"AttributeName": k, "AttributeType": v} for k, v in t.attributes.items()
            ],
            "CreationDateTime": t.created,
            "ItemCount": len(t.items),
            "TableSizeBytes": 0,
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        }

    def create_table(self, body: JSON) -> JSON:
        name = body["TableName"]
        if name in self.tables:
            raise AwsError("ResourceInUseException", f"Table already exists: {name}")
        key = body.get("KeySchema") or []
        attributes = {
            a["AttributeName"]: a["AttributeType"] for a in body.get("AttributeDefinitions") or []
        }
        if not key or any(k["AttributeName"] not in attributes for k in key):
            raise AwsError(
                "ValidationException",
                "One or more parameter values were invalid: Some index key attributes are "
                "not defined in AttributeDefinitions.",
            )
        if body.get("BillingMode") != "PAY_PER_REQUEST" and "ProvisionedThroughput" not in body:
            raise AwsError(
                "ValidationException",
                "One or more parameter values were invalid: ReadCapacityUnits and "
                "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            )
        table = _Table(
            name, self.account.arn("dynamodb", f"table/{name}"), key, attributes, self.clock.now()
        )
        self.tables[name] = table
        return {"TableDescription": self._description(table)}

    def describe_table(self, body: JSON) -> JSON:
        return {"Table": self._description(self._table(body["TableName"]))}

    def _key(self, table: _Table, item: JSON, *, whole_item: bool) -> tuple[str, ...]:
        names = [k["AttributeName"] for k in table.key]
        if not whole_item and set(item) != set(names):
            raise AwsError(
                "ValidationException", "The provided key element does not match the schema"
            )
        out = []
        for name in names:
            value = item.get(name)
            want = table.attributes[name]
            if value is None:
                raise AwsError(
                    "ValidationException",
                    f"One or more parameter values were invalid: Missing the key {name} in "
                    "the item",
                )
            if want not in value:
                raise AwsError(
                    "ValidationException",
                    f"One or more parameter values were invalid: Type mismatch for key {name} "
                    f"expected: {want} actual: {next(iter(value))}",
                )
            out.append(str(value[want]))
        return tuple(out)

    @staticmethod
    def _condition(body: JSON) -> _Condition | None:
        names = body.get("ExpressionAttributeNames") or {}
        values = body.get("ExpressionAttributeValues") or {}
        text = body.get("ConditionExpression")
        if text is None:
            if names or values:
                raise AwsError(
                    "ValidationException",
                    "ExpressionAttributeNames and ExpressionAttributeValues can only be "
                    "specified when using expressions",
                )
            return None
        cond = _Condition(text, names, values)
        unused_names = set(names) - cond.used_names
        if unused_names:
            raise AwsError(
                "ValidationException",
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {"
                + ", ".join(sorted(unused_names))
                + "}",
            )
        unused_values = set(values) - cond.used_values
        if unused_values:
            raise AwsError(
                "ValidationException",
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {"
                + ", ".join(sorted(unused_values))
                + "}",
            )
        return cond

    @staticmethod
    def _failed(body: JSON, item: JSON | None) -> AwsError:
        fields: JSON = {}
        if body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and item is not None:
            fields["Item"] = copy.deepcopy(item)
        return AwsError(
            "ConditionalCheckFailedException", "The conditional request failed", **fields
        )

    def get_item(self, body: JSON) -> JSON:
        table = self._table(body["TableName"])
        item = table.items.get(self._key(table, body["Key"], whole_item=False))
        return {} if item is None else {"Item": copy.deepcopy(item)}

    def put_item(self, body: JSON) -> JSON:
        table = self._table(body["TableName"])
        key = self._key(table, body["Item"], whole_item=True)
        cond = self._condition(body)
        current = table.items.get(key)
        if cond is not None and not cond.holds(current):
            raise self._failed(body, current)
        table.items[key] = copy.deepcopy(body["Item"])
        return {}

    def delete_item(self, body: JSON) -> JSON:
        table = self._table(body["TableName"])
        key = self._key(table, body["Key"], whole_item=False)
        cond = self._condition(body)
        current = table.items.get(key)
        if cond is not None and not cond.holds(current):
            raise self._failed(body, current)
        table.items.pop(key, None)
        return {}
