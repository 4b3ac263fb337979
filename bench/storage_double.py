"""An in-memory stand-in for the DynamoDB client, injected with `triggers.storage.dynamodb.use_client`.

It answers the five calls the request path makes (put_item, get_item, update_item, delete_item, query on the
`inbox` index) the way DynamoDB does for the expressions our storage modules send: conditions of
`attribute_exists` / `attribute_not_exists` / comparisons joined by AND or OR,
`SET` (with `if_not_exists`) / `REMOVE` / `ADD` updates,
`ConditionalCheckFailedException` with the old item when asked for, and a Query that reads at most `Limit`
items of one partition in sort order before filtering. Anything else raises, so the double cannot silently
drift from the code it stands in for.

Ours and the references call the same domain and storage code on top of it, so a warm figure measures the
framework around that code, not DynamoDB or moto.
"""

import bisect
import re

from botocore.exceptions import ClientError

_COMPARISON = re.compile(r"^([#\w]+)\s*(=|<>|<=|>=|<|>)\s*(:\w+)$")
_FUNCTION = re.compile(r"^(attribute_exists|attribute_not_exists)\((\s*[#\w]+\s*)\)$")


class UnsupportedCall(Exception):
    """The code under test sent something this double does not model: extend the double, do not guess."""


def _scalar(value: dict):
    if "S" in value:
        return value["S"]
    if "N" in value:
        return float(value["N"])
    if "BOOL" in value:
        return value["BOOL"]
    raise UnsupportedCall(f"attribute value {value!r}")


def _name(token: str, names: dict) -> str:
    return names[token] if token.startswith("#") else token


def _condition(expression: str | None, item: dict | None, names: dict, values: dict) -> bool:
    """Evaluate `a AND b`, `a OR b` (no parentheses) against an item (None: no item)."""
    if expression is None:
        return True
    if "(" in expression.replace("attribute_exists(", "").replace("attribute_not_exists(", ""):
        raise UnsupportedCall(f"parentheses in {expression!r}")
    item = item or {}
    return any(
        all(_term(term.strip(), item, names, values) for term in disjunct.split(" AND "))
        for disjunct in expression.split(" OR ")
    )


def _term(term: str, item: dict, names: dict, values: dict) -> bool:
    function = _FUNCTION.match(term)
    if function:
        present = _name(function.group(2).strip(), names) in item
        return present if function.group(1) == "attribute_exists" else not present
    comparison = _COMPARISON.match(term)
    if not comparison:
        raise UnsupportedCall(f"condition {term!r}")
    attribute, operator, placeholder = comparison.groups()
    stored = item.get(_name(attribute, names))
    if stored is None:
        return False
    left, right = _scalar(stored), _scalar(values[placeholder])
    return {
        "=": left == right,
        "<>": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[operator]


def _conditional_check_failed(operation: str, old: dict | None, return_values: str | None) -> ClientError:
    response = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}}
    if return_values == "ALL_OLD" and old is not None:
        response["Item"] = dict(old)
    return ClientError(response, operation)


_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD)\s+")
_TOP_LEVEL_COMMA = re.compile(r",(?![^()]*\))")
_IF_NOT_EXISTS = re.compile(r"^if_not_exists\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)$")


def _apply_update(expression: str, item: dict, names: dict, values: dict) -> list[str]:
    """Apply `SET a = :v, b = if_not_exists(b, :w) REMOVE c ADD n :k` to the item; returns the names touched."""
    parts = _CLAUSE.split(expression)
    if parts[0].strip():
        raise UnsupportedCall(f"update {expression!r}")
    touched = []
    for action, arguments in zip(parts[1::2], parts[2::2], strict=True):
        for argument in (part.strip() for part in _TOP_LEVEL_COMMA.split(arguments)):
            if action == "SET":
                attribute, _, operand = (side.strip() for side in argument.partition("="))
                name = _name(attribute, names)
                fallback = _IF_NOT_EXISTS.match(operand)
                if fallback:
                    item.setdefault(name, values[fallback.group(2)])
                elif operand.startswith(":"):
                    item[name] = values[operand]
                else:
                    raise UnsupportedCall(f"SET {argument!r}")
            elif action == "REMOVE":
                name = _name(argument, names)
                item.pop(name, None)
            else:  # ADD: numbers only
                attribute, placeholder = argument.split()
                name = _name(attribute, names)
                total = float(item.get(name, {"N": "0"})["N"]) + float(values[placeholder]["N"])
                item[name] = {"N": str(int(total)) if total.is_integer() else repr(total)}
            touched.append(name)
    return touched


class InMemoryDynamoDB:
    """Tables by name; each table a dict of key → item, plus the `inbox` index kept sorted per tenant."""

    _KEYS = ("pk", "key_hash")
    _INDEX = ("inbox", "inbox_tenant", "inbox_sort")

    def __init__(self):
        self.tables: dict[str, dict[str, dict]] = {}
        self.inbox: dict[str, dict[str, list[tuple[str, str]]]] = {}  # table → tenant → [(sort, pk)]

    # -- bookkeeping ----------------------------------------------------------------------------------------

    def _key(self, key: dict) -> str:
        for name in self._KEYS:
            if name in key:
                return key[name]["S"]
        raise UnsupportedCall(f"key {key!r}")

    def _index_add(self, table: str, item: dict) -> None:
        if "inbox_tenant" in item:
            entries = self.inbox.setdefault(table, {}).setdefault(item["inbox_tenant"]["S"], [])
            bisect.insort(entries, (item["inbox_sort"]["S"], item["pk"]["S"]))

    def _index_remove(self, table: str, item: dict | None) -> None:
        if item and "inbox_tenant" in item:
            entries = self.inbox[table][item["inbox_tenant"]["S"]]
            entry = (item["inbox_sort"]["S"], item["pk"]["S"])
            position = bisect.bisect_left(entries, entry)
            if position < len(entries) and entries[position] == entry:
                del entries[position]

    # -- the client's methods, as botocore names them ----------------------------------------------------------

    def put_item(
        self,
        *,
        TableName,
        Item,
        ConditionExpression=None,
        ExpressionAttributeNames=None,
        ExpressionAttributeValues=None,
        ReturnValuesOnConditionCheckFailure=None,
    ):
        table = self.tables.setdefault(TableName, {})
        key = self._key(Item)
        old = table.get(key)
        if not _condition(ConditionExpression, old, ExpressionAttributeNames or {}, ExpressionAttributeValues or {}):
            raise _conditional_check_failed("PutItem", old, ReturnValuesOnConditionCheckFailure)
        self._index_remove(TableName, old)
        table[key] = dict(Item)
        self._index_add(TableName, Item)
        return {}

    def get_item(self, *, TableName, Key, ConsistentRead=False):
        item = self.tables.get(TableName, {}).get(self._key(Key))
        return {"Item": dict(item)} if item is not None else {}

    def update_item(
        self,
        *,
        TableName,
        Key,
        UpdateExpression,
        ConditionExpression=None,
        ExpressionAttributeNames=None,
        ExpressionAttributeValues=None,
        ReturnValues=None,
        ReturnValuesOnConditionCheckFailure=None,
    ):
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        table = self.tables.setdefault(TableName, {})
        key = self._key(Key)
        old = table.get(key)
        if not _condition(ConditionExpression, old, names, values):
            raise _conditional_check_failed("UpdateItem", old, ReturnValuesOnConditionCheckFailure)
        new = dict(old) if old is not None else dict(Key)
        updated = _apply_update(UpdateExpression, new, names, values)
        self._index_remove(TableName, old)
        table[key] = new
        self._index_add(TableName, new)
        if ReturnValues == "UPDATED_NEW":
            return {"Attributes": {name: new[name] for name in updated if name in new}}
        if ReturnValues not in (None, "NONE"):
            raise UnsupportedCall(f"ReturnValues={ReturnValues}")
        return {}

    def delete_item(self, *, TableName, Key):
        old = self.tables.get(TableName, {}).pop(self._key(Key), None)
        self._index_remove(TableName, old)
        return {}

    def query(
        self,
        *,
        TableName,
        IndexName,
        KeyConditionExpression,
        ExpressionAttributeValues,
        Limit,
        FilterExpression=None,
        ExpressionAttributeNames=None,
        ScanIndexForward=True,
        ExclusiveStartKey=None,
    ):
        if (IndexName, KeyConditionExpression) != (
            self._INDEX[0],
            f"{self._INDEX[1]} = :tenant",
        ) or not ScanIndexForward:
            raise UnsupportedCall(f"query {IndexName!r} {KeyConditionExpression!r}")
        entries = self.inbox.get(TableName, {}).get(ExpressionAttributeValues[":tenant"]["S"], [])
        start = 0
        if ExclusiveStartKey is not None:
            start = bisect.bisect_right(entries, (ExclusiveStartKey["inbox_sort"]["S"], ExclusiveStartKey["pk"]["S"]))
        read = entries[start : start + Limit]
        table = self.tables[TableName] if read else {}
        names = ExpressionAttributeNames or {}
        items = [
            dict(table[pk])
            for _, pk in read
            if _condition(FilterExpression, table[pk], names, ExpressionAttributeValues)
        ]
        response = {"Items": items, "Count": len(items), "ScannedCount": len(read)}
        if len(read) == Limit:
            last = table[read[-1][1]]
            response["LastEvaluatedKey"] = {name: last[name] for name in ("pk", "inbox_tenant", "inbox_sort")}
        return response
