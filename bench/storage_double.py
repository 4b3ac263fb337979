"""An in-memory stand-in for the DynamoDB client, handed to `create_app(settings, dynamodb=...)`.

It answers the calls the request path makes (put_item, get_item, update_item, delete_item, transact_write_items
of Puts, query on the `inbox` index) the way DynamoDB does for the expressions our stores send: conditions of
`attribute_exists` / `attribute_not_exists` / comparisons joined by AND, OR and parentheses; `SET` (with
`if_not_exists`) / `REMOVE` / `ADD` updates; a failed condition's old item when asked for (in CancellationReasons
for a transaction); a Query that reads at most `Limit` items of one partition in sort order before filtering.
Anything else raises, so the double cannot silently drift from the code it stands in for.

Ours and the reference call the same stores on top of it, so a warm figure measures the HTTP layer around that
code, not DynamoDB or moto.
"""

import bisect
import re
from operator import eq, ge, gt, le, lt, ne
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, dict[str, Any]]

_FUNCTION = re.compile(r"(attribute_exists|attribute_not_exists)\(\s*([#\w]+)\s*\)")
_COMPARISON = re.compile(r"([#\w]+)\s*(<>|<=|>=|=|<|>)\s*(:\w+)")
_COMPARE = {"=": eq, "<>": ne, "<": lt, "<=": le, ">": gt, ">=": ge}
_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD)\s+")
_TOP_LEVEL_COMMA = re.compile(r",(?![^()]*\))")
_IF_NOT_EXISTS = re.compile(r"^if_not_exists\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)$")
# Every parameter the methods below understand; any other raises.
_PARAMETERS = set(
    "TableName Item Key ConditionExpression ExpressionAttributeNames ExpressionAttributeValues UpdateExpression "
    "ReturnValues ReturnValuesOnConditionCheckFailure TransactItems IndexName KeyConditionExpression "
    "FilterExpression Limit ScanIndexForward ExclusiveStartKey".split()
)


class UnsupportedCall(Exception):
    """The code under test sent something this double does not model: extend the double, do not guess."""


def _scalar(value: dict) -> Any:
    for kind, convert in (("S", str), ("N", float), ("BOOL", bool)):
        if kind in value:
            return convert(value[kind])
    raise UnsupportedCall(f"attribute value {value!r}")


def _split(expression: str, joiner: str) -> list[str]:
    """The parts of `expression` between the `joiner`s (AND, OR) that are outside parentheses."""
    parts, depth, start = [], 0, 0
    for match in re.finditer(rf"\(|\)|\b{joiner}\b", expression):
        if match.group() in "()":
            depth += 1 if match.group() == "(" else -1
        elif depth == 0:
            parts.append(expression[start : match.start()])
            start = match.end()
    return [*parts, expression[start:]]


def _evaluate(expression: str, item: Item, names: dict[str, str], values: dict) -> bool:
    for joiner, combine in (("OR", any), ("AND", all)):
        if len(parts := _split(expression, joiner)) > 1:
            return combine([_evaluate(part, item, names, values) for part in parts])  # all evaluated: all checked
    expression = expression.strip()
    if expression.startswith("(") and expression.endswith(")"):
        return _evaluate(expression[1:-1], item, names, values)
    if function := _FUNCTION.fullmatch(expression):
        return (names.get(function[2], function[2]) in item) == (function[1] == "attribute_exists")
    if not (comparison := _COMPARISON.fullmatch(expression)):
        raise UnsupportedCall(f"condition {expression!r}")
    stored = item.get(names.get(comparison[1], comparison[1]))
    return stored is not None and _COMPARE[comparison[2]](_scalar(stored), _scalar(values[comparison[3]]))


def _holds(call: dict, item: Item | None, expression: str = "ConditionExpression") -> bool:
    """Whether the call's condition (or filter) holds for the item (None: no item)."""
    if call.get(expression) is None:
        return True
    names, values = call.get("ExpressionAttributeNames") or {}, call.get("ExpressionAttributeValues") or {}
    return _evaluate(call[expression], item or {}, names, values)


def _apply_update(call: dict, item: Item) -> None:
    """Apply the call's `SET a = :v, b = if_not_exists(b, :w) REMOVE c ADD n :k` to the item."""
    names, values = call.get("ExpressionAttributeNames") or {}, call.get("ExpressionAttributeValues") or {}
    parts = _CLAUSE.split(call["UpdateExpression"])
    if parts[0].strip():
        raise UnsupportedCall(f"update {call['UpdateExpression']!r}")
    for action, arguments in zip(parts[1::2], parts[2::2], strict=True):
        for argument in (part.strip() for part in _TOP_LEVEL_COMMA.split(arguments)):
            if action == "SET":
                attribute, _, operand = (side.strip() for side in argument.partition("="))
                fallback = _IF_NOT_EXISTS.match(operand)
                if fallback:
                    item.setdefault(names.get(attribute, attribute), values[fallback.group(2)])
                elif operand.startswith(":"):
                    item[names.get(attribute, attribute)] = values[operand]
                else:
                    raise UnsupportedCall(f"SET {argument!r}")
            elif action == "REMOVE":
                item.pop(names.get(argument, argument), None)
            else:  # ADD: numbers only
                attribute, placeholder = argument.split()
                name = names.get(attribute, attribute)
                total = float(item.get(name, {"N": "0"})["N"]) + float(values[placeholder]["N"])
                item[name] = {"N": str(int(total)) if total.is_integer() else repr(total)}


def _refusal(call: dict, old: Item | None) -> dict:
    """What comes with a failed condition: the item as it was, if the call asked for it."""
    return {"Item": dict(old)} if call.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old else {}


def _refused(operation: str, call: dict, old: Item | None) -> ClientError:
    error = {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}
    response: dict[str, Any] = {"Error": error, **_refusal(call, old)}
    return ClientError(response, operation)  # type: ignore[arg-type]


class InMemoryDynamoDB:
    """Tables by name, each a dict of key → item; the sparse `inbox` index kept sorted per table and tenant."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Item]] = {}
        self.inbox: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (table, tenant) → [(inbox_sort, pk)]

    def _old(self, call: dict, key: Item) -> tuple[str, Item | None]:
        """The key of the item a call names, and the item stored under it (None: none)."""
        if not set(call) <= _PARAMETERS:
            raise UnsupportedCall(f"parameters {set(call) - _PARAMETERS}")
        for name in ("pk", "key_hash"):
            if name in key:
                return key[name]["S"], self.tables.setdefault(call["TableName"], {}).get(key[name]["S"])
        raise UnsupportedCall(f"key {key!r}")

    def _store(self, table: str, key: str, old: Item | None, new: Item | None) -> None:
        """Replace an item (None: delete it), keeping the inbox index in step."""
        for item, add in ((old, False), (new, True)):
            if item is not None and "inbox_tenant" in item:
                entries = self.inbox.setdefault((table, item["inbox_tenant"]["S"]), [])
                entry = (item["inbox_sort"]["S"], item["pk"]["S"])
                if add:
                    bisect.insort(entries, entry)
                elif (position := bisect.bisect_left(entries, entry)) < len(entries) and entries[position] == entry:
                    del entries[position]
        if new is None:
            self.tables[table].pop(key, None)
        else:
            self.tables[table][key] = new

    # The client's methods, as botocore names them and their parameters.

    def put_item(self, **call: Any) -> dict:
        key, old = self._old(call, call["Item"])
        if not _holds(call, old):
            raise _refused("PutItem", call, old)
        self._store(call["TableName"], key, old, dict(call["Item"]))
        return {}

    def get_item(self, **call: Any) -> dict:
        _, item = self._old(call, call["Key"])
        return {"Item": dict(item)} if item is not None else {}

    def update_item(self, **call: Any) -> dict:
        key, old = self._old(call, call["Key"])
        if not _holds(call, old):
            raise _refused("UpdateItem", call, old)
        new = dict(old if old is not None else call["Key"])
        _apply_update(call, new)
        self._store(call["TableName"], key, old, new)
        if call.get("ReturnValues", "NONE") not in ("NONE", "ALL_NEW"):
            raise UnsupportedCall(f"ReturnValues={call['ReturnValues']}")
        return {"Attributes": dict(new)} if call.get("ReturnValues") == "ALL_NEW" else {}

    def delete_item(self, **call: Any) -> dict:
        key, old = self._old(call, call["Key"])
        self._store(call["TableName"], key, old, None)
        return {}

    def transact_write_items(self, **call: Any) -> dict:
        """Puts only: every condition is checked first; one that fails cancels them all, as in DynamoDB."""
        checked, reasons = [], []
        for action in call["TransactItems"]:
            if set(action) != {"Put"}:
                raise UnsupportedCall(f"transaction action {set(action)}")
            put = action["Put"]
            key, old = self._old(put, put["Item"])
            failed = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
            reasons.append({"Code": "None"} if _holds(put, old) else failed | _refusal(put, old))
            checked.append((put, key, old))
        if any(reason["Code"] != "None" for reason in reasons):
            error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
            response: dict[str, Any] = {"Error": error, "CancellationReasons": reasons}
            raise ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]
        for put, key, old in checked:
            self._store(put["TableName"], key, old, dict(put["Item"]))
        return {}

    def query(self, **call: Any) -> dict:
        self._old(call, {"pk": {"S": ""}})  # the parameters' check
        index = (call["IndexName"], call["KeyConditionExpression"], call.get("ScanIndexForward", True))
        if index != ("inbox", "inbox_tenant = :tenant", True):
            raise UnsupportedCall(f"query {index!r}")
        entries = self.inbox.get((call["TableName"], call["ExpressionAttributeValues"][":tenant"]["S"]), [])
        start, limit = 0, call["Limit"]
        if (after := call.get("ExclusiveStartKey")) is not None:
            start = bisect.bisect_right(entries, (after["inbox_sort"]["S"], after["pk"]["S"]))
        read = [self.tables[call["TableName"]][pk] for _, pk in entries[start : start + limit]]
        items = [dict(item) for item in read if _holds(call, item, "FilterExpression")]
        response: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(read)}
        if len(read) == limit:
            response["LastEvaluatedKey"] = {name: read[-1][name] for name in ("pk", "inbox_tenant", "inbox_sort")}
        return response


def new_client() -> "DynamoDBClient":
    """A new, empty double, typed as the client it stands in for."""
    return cast("DynamoDBClient", InMemoryDynamoDB())
