"""The events table: key design and item format. It reports what DynamoDB did; the domain decides what it means.

Keys (table definitions: serverless.yml, resources.EventsTable):
- `pk` = `<tenant>#<event_id>`: a get, ack or delete is one call on one item, and the tenant is part of the key,
  so no call can reach another tenant's event.
- `pk` = `<tenant>#idempotency#<sha256 of the key>`: what a create with an Idempotency-Key answered. It is
  written in the same transaction as the event and is not touched by a delete, so a key outlives its event.
- `inbox` index: `inbox_tenant` (the tenant) and `inbox_sort` (`<created_at>#<event_id>`), present only while the
  event is pending. The index is sparse: an ack removes both attributes, and with them the event from the index,
  so an inbox page is one Query whose cost does not depend on the backlog of acknowledged events.
- The listing indexes (GET /v1/events, newest first), on every event whatever its state, one per filter combination
  so that a filter never shortens a page: `list_tenant` (`<tenant>`), `list_source` (`<tenant>#<source>`),
  `list_type` (`<tenant>#<event_type>`) and `list_source_type` (`<tenant>#<source>#<event_type>`), each index named
  after its hash key and sorted by `list_sort` (`<created_at>#<event_id>`). Tenants, sources and event types cannot
  contain `#` (the key tool's and the spec's patterns), so no two combinations share a key value. The indexes
  project keys only (a payload copied four times would cost four times its write units): a page is one Query (read
  backwards) and then one consistent BatchGetItem of the items it found, in sequence, so each event shows its
  current status and one deleted since the Query is skipped. A page is short only when it skips events that expired
  but TTL has not removed yet, or the index entry of an event deleted a moment ago (a GSI lags its table), or when
  its payloads reach `PAGE_BYTES` (a Query stops at 1 MB the same way; a Lambda answers at most 6 MB). Events
  written before these attributes existed are in none of these indexes. A replay reads a time window of
  `list_tenant` the same way, oldest first (`window_page`).
- `expires_at` is the TTL attribute. DynamoDB deletes expired items lazily (moto never does), so every read here
  hides them itself.
The payload is stored as JSON text: DynamoDB numbers cannot hold every JSON number, and text round-trips exactly.
That text is written anew, not copied from the request, so it can be longer (`1e15` is `1000000000000000.0`):
`item_size` is what an event's item will take, for the domain to refuse one over ITEM_LIMIT_BYTES before writing.
"""

import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from triggers.domain.errors import EventTooLarge, StorageUnavailable
from triggers.domain.model import ACKNOWLEDGED, PENDING, Event, IdempotencyRecord
from triggers.storage.dynamodb import ConditionFailed, error_code, failed_condition, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

INBOX_INDEX = "inbox"

# The listing index of each filter combination (source given, event type given); each is named after its hash key.
LIST_INDEXES = {
    (False, False): "list_tenant",
    (True, False): "list_source",
    (False, True): "list_type",
    (True, True): "list_source_type",
}
# A listing page stops adding events once their payloads reach this many bytes of UTF-8 JSON, as a Query stops at
# 1 MB: the answer then stays within Lambda's 6 MB even when JSON escaping triples it.
PAGE_BYTES = 1024 * 1024
# BatchGetItem returns what throttling or its 16 MB limit left out as UnprocessedKeys: asked again this many times.
BATCH_GET_ATTEMPTS = 5

# Event attributes stored only when set (a CloudEvent's `time`, `subject` and `id`).
OPTIONAL_FIELDS = ("time", "subject", "cloudevents_id")

# Where a page ends: the index's sort key and the table's key of its last item.
Position = tuple[str, str]


def _event_key(tenant_id: str, event_id: str) -> dict:
    return {"pk": {"S": f"{tenant_id}#{event_id}"}}


def _idempotency_key(tenant_id: str, idempotency_key: str) -> dict:
    digest = hashlib.sha256(idempotency_key.encode("utf-8", "surrogatepass")).hexdigest()
    return {"pk": {"S": f"{tenant_id}#idempotency#{digest}"}}


def _to_item(event: Event) -> dict:
    item = {
        **_event_key(event.tenant_id, event.event_id),
        "tenant_id": {"S": event.tenant_id},
        "event_id": {"S": event.event_id},
        "source": {"S": event.source},
        "event_type": {"S": event.event_type},
        "payload": {"S": json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))},
        "status": {"S": event.status},
        "created_at": {"S": event.created_at},
        "expires_at": {"N": str(event.expires_at)},
    }
    for name in OPTIONAL_FIELDS:
        value = getattr(event, name)
        if value is not None:
            item[name] = {"S": value}
    if event.status == PENDING:
        item["inbox_tenant"] = {"S": event.tenant_id}
        item["inbox_sort"] = {"S": f"{event.created_at}#{event.event_id}"}
    for (by_source, by_type), index in LIST_INDEXES.items():
        source = event.source if by_source else None
        event_type = event.event_type if by_type else None
        item[index] = {"S": _list_partition(event.tenant_id, source, event_type)}
    item["list_sort"] = {"S": f"{event.created_at}#{event.event_id}"}
    return item


def _over_item_limit(exc: ClientError) -> bool:
    """Whether DynamoDB refused a write for an item over its size limit: a ValidationException, or a transaction's
    ValidationError."""
    messages = [exc.response.get("Error", {}).get("Message", "")] if error_code(exc) == "ValidationException" else []
    reasons: list[Any] = exc.response.get("CancellationReasons", [])
    messages += [reason.get("Message", "") for reason in reasons if reason.get("Code") == "ValidationError"]
    return any("Item size" in message for message in messages)


# What DynamoDB answers if an item is over its limit anyway: the size check before the write should prevent it.
OVER_ITEM_LIMIT = "The event is over DynamoDB's limit of 400 KiB an item as stored."


def _list_partition(tenant_id: str, source: str | None, event_type: str | None) -> str:
    return "#".join(part for part in (tenant_id, source, event_type) if part is not None)


def _from_item(item: dict | None) -> Event | None:
    """The event an item holds, or None (logged) for an item this code did not write or cannot read."""
    if not item:
        return None
    try:
        payload = json.loads(item["payload"]["S"])
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return Event(
            tenant_id=item["tenant_id"]["S"],
            event_id=item["event_id"]["S"],
            source=item["source"]["S"],
            event_type=item["event_type"]["S"],
            payload=payload,
            status=item["status"]["S"],
            created_at=item["created_at"]["S"],
            expires_at=int(item["expires_at"]["N"]),
            acknowledged_at=item.get("acknowledged_at", {}).get("S"),
            **{name: item[name]["S"] for name in OPTIONAL_FIELDS if name in item},
        )
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning(
            "skipped a malformed event item", extra={"fields": {"pk": str(item.get("pk")), "error": repr(exc)}}
        )
        return None


def _live(event: Event | None, now: int) -> Event | None:
    return event if event is not None and event.expires_at > now else None


class EventStore:
    # DynamoDB's limit on one item: attribute names and values, in bytes.
    ITEM_LIMIT_BYTES = 400 * 1024

    def __init__(self, client: "DynamoDBClient", table: str, page_bytes: int = PAGE_BYTES):
        self.client = client
        self.table = table
        self.page_bytes = page_bytes

    @staticmethod
    def item_size(event: Event) -> int:
        """The bytes the event's item takes as DynamoDB counts them (UTF-8 names and values), or a little more: a
        number is counted as its digits, where DynamoDB takes about half."""
        item = _to_item(event)
        return sum(len(name.encode()) + len(next(iter(value.values())).encode()) for name, value in item.items())

    def insert(self, event: Event) -> None:
        """Store a new event. Its id is new (random), so the condition fails only when botocore retried a put that
        had succeeded (the item is this event: done), or for a bug."""
        try:
            with unavailable_as_domain_error():
                self.client.put_item(
                    TableName=self.table,
                    Item=_to_item(event),
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if _over_item_limit(exc):
                raise EventTooLarge(OVER_ITEM_LIMIT) from exc
            if failed_condition(exc) and _from_item(exc.response.get("Item")) == event:  # type: ignore[arg-type]
                return
            raise

    def insert_once(
        self, event: Event, key: IdempotencyRecord, idempotency_key: str, now: int
    ) -> IdempotencyRecord | None:
        """Store the event and its idempotency record in one transaction, unless a live record of that key exists:
        then nothing is written and the existing record is returned."""
        record_item = {
            **_idempotency_key(event.tenant_id, idempotency_key),
            "event_id": {"S": key.event_id},
            "created_at": {"S": key.created_at},
            "request_hash": {"S": key.request_hash},
            "expires_at": {"N": str(key.expires_at)},
        }
        try:
            with unavailable_as_domain_error():
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": record_item,
                                "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
                                "ExpressionAttributeValues": {":now": {"N": str(now)}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": _to_item(event),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
        except ClientError as exc:
            reasons: list[Any] = exc.response.get("CancellationReasons", [])
            codes = [reason.get("Code") for reason in reasons]
            if codes[:1] == ["ConditionalCheckFailed"] and reasons[0].get("Item"):
                existing = reasons[0]["Item"]
                return IdempotencyRecord(
                    event_id=existing["event_id"]["S"],
                    created_at=existing["created_at"]["S"],
                    request_hash=existing["request_hash"]["S"],
                    expires_at=int(existing["expires_at"]["N"]),
                )
            if "TransactionConflict" in codes or "ThrottlingError" in codes:
                # A concurrent create with the same key holds the record for a moment: the retry meets it.
                raise StorageUnavailable("TransactionConflict") from exc
            if _over_item_limit(exc):
                raise EventTooLarge(OVER_ITEM_LIMIT) from exc
            raise
        return None

    def get(self, tenant_id: str, event_id: str, now: int) -> Event | None:
        with unavailable_as_domain_error():
            response = self.client.get_item(TableName=self.table, Key=_event_key(tenant_id, event_id))
        return _live(_from_item(response.get("Item")), now)

    def acknowledge(
        self, tenant_id: str, event_id: str, acknowledged_at: str, now: int
    ) -> ConditionFailed[Event] | None:
        """Pending → acknowledged in one conditional write; when the condition fails, the item as it was."""
        try:
            with unavailable_as_domain_error():
                self.client.update_item(
                    TableName=self.table,
                    Key=_event_key(tenant_id, event_id),
                    ConditionExpression="attribute_exists(pk) AND expires_at > :now AND #status = :pending",
                    UpdateExpression=(
                        "SET #status = :acknowledged, acknowledged_at = :at REMOVE inbox_tenant, inbox_sort"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":now": {"N": str(now)},
                        ":pending": {"S": PENDING},
                        ":acknowledged": {"S": ACKNOWLEDGED},
                        ":at": {"S": acknowledged_at},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not failed_condition(exc):
                raise
            return ConditionFailed(_from_item(exc.response.get("Item")))  # type: ignore[arg-type]
        return None

    def delete(self, tenant_id: str, event_id: str) -> None:
        with unavailable_as_domain_error():
            self.client.delete_item(TableName=self.table, Key=_event_key(tenant_id, event_id))

    def inbox_page(
        self,
        tenant_id: str,
        limit: int,
        start: Position | None,
        now: int,
        source: str | None = None,
        event_type: str | None = None,
    ) -> tuple[list[Event], Position | None]:
        """One Query on the inbox index: up to `limit` pending events, oldest first, and where the page ended."""
        conditions = ["expires_at > :now"]
        values = {":tenant": {"S": tenant_id}, ":now": {"N": str(now)}}
        if source is not None:
            conditions.append("#source = :source")
            values[":source"] = {"S": source}
        if event_type is not None:
            conditions.append("event_type = :event_type")
            values[":event_type"] = {"S": event_type}
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": INBOX_INDEX,
            "KeyConditionExpression": "inbox_tenant = :tenant",
            "FilterExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values,
            "Limit": limit,
            "ScanIndexForward": True,
        }
        if source is not None:
            query["ExpressionAttributeNames"] = {"#source": "source"}
        if start is not None:
            inbox_sort, pk = start
            query["ExclusiveStartKey"] = {
                "inbox_tenant": {"S": tenant_id},
                "inbox_sort": {"S": inbox_sort},
                "pk": {"S": pk},
            }
        with unavailable_as_domain_error():
            response = self.client.query(**query)
        events = [event for event in map(_from_item, response.get("Items", [])) if event is not None]
        last_key = response.get("LastEvaluatedKey")
        return events, (last_key["inbox_sort"]["S"], last_key["pk"]["S"]) if last_key else None

    def list_page(
        self,
        tenant_id: str,
        limit: int,
        source: str | None,
        event_type: str | None,
        start: Position | None,
        now: int,
    ) -> tuple[list[Event], Position | None]:
        """Up to `limit` of the tenant's events in any state, newest first, and where the page ended: one Query on
        the filters' listing index, then one consistent BatchGetItem of the items it names."""
        index = LIST_INDEXES[source is not None, event_type is not None]
        positions, items, end = self._listed(index, _list_partition(tenant_id, source, event_type), limit, start)
        events: list[Event] = []
        size = 0
        for n, (_, pk) in enumerate(positions):
            event = _live(_from_item(items.get(pk)), now)
            if event is None:  # deleted since its index entry was written, expired, or unreadable
                continue
            item_size = len(items[pk]["payload"]["S"].encode())
            if events and size + item_size > self.page_bytes:
                return events, positions[n - 1]
            events.append(event)
            size += item_size
        return events, end

    def window_page(
        self, tenant_id: str, first: str, last: str, limit: int, start: Position | None, now: int
    ) -> tuple[list[Event], Position | None]:
        """Up to `limit` index entries of the tenant's events created from `first` to `last` (both included;
        `created_at` text), oldest first, as their live events, and where the page ended: one Query on
        `list_tenant`, then one consistent BatchGetItem of the items it names. Its cost is the entries it reads,
        whatever the tenant holds outside the window."""
        # `<created_at>#<event_id>`: every id sorts before `~`, so the last moment is included whole.
        window = (first, f"{last}#~")
        partition = _list_partition(tenant_id, None, None)
        positions, items, end = self._listed(LIST_INDEXES[False, False], partition, limit, start, window)
        events = [_live(_from_item(items.get(pk)), now) for _, pk in positions]
        return [event for event in events if event is not None], end

    def _listed(
        self, index: str, partition: str, limit: int, start: Position | None, window: tuple[str, str] | None = None
    ) -> tuple[list[Position], dict[str, dict], Position | None]:
        """One Query on a listing index (newest first; with a `window` of sort keys, only those between its two,
        oldest first), then one consistent BatchGetItem of the items it names: the positions it read in order,
        their items by key (one deleted since is absent), and where the Query ended (None: the end)."""
        condition = f"{index} = :partition"
        values = {":partition": {"S": partition}}
        if window is not None:
            condition += " AND list_sort BETWEEN :first AND :last"
            values[":first"], values[":last"] = {"S": window[0]}, {"S": window[1]}
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
            "ScanIndexForward": window is not None,
        }
        if start is not None:
            list_sort, pk = start
            query["ExclusiveStartKey"] = {index: {"S": partition}, "list_sort": {"S": list_sort}, "pk": {"S": pk}}
        with unavailable_as_domain_error():
            response = self.client.query(**query)
        positions: list[Position] = [(key["list_sort"]["S"], key["pk"]["S"]) for key in response.get("Items", [])]
        items = self._get_items([pk for _, pk in positions])
        last_key = response.get("LastEvaluatedKey")
        return positions, items, (last_key["list_sort"]["S"], last_key["pk"]["S"]) if last_key else None

    def _get_items(self, pks: list[str]) -> dict[str, dict]:
        """The items of these keys by key, read consistently with one BatchGetItem (asked again for what it leaves
        unprocessed); a key without an item is absent."""
        items: dict[str, dict] = {}
        keys: list[Any] = [{"pk": {"S": pk}} for pk in pks]
        for attempt in range(BATCH_GET_ATTEMPTS):
            if not keys:
                return items
            if attempt:
                time.sleep(0.05 * 2**attempt)
            with unavailable_as_domain_error():
                response = self.client.batch_get_item(RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}})
            for item in response.get("Responses", {}).get(self.table, []):
                items[item["pk"]["S"]] = item
            unprocessed = response.get("UnprocessedKeys", {})
            keys = list(unprocessed[self.table]["Keys"]) if self.table in unprocessed else []
        if keys:
            logger.warning("BatchGetItem left keys unprocessed", extra={"fields": {"keys": len(keys)}})
            raise StorageUnavailable("UnprocessedKeys")
        return items


def stream_change(record: dict) -> Event | tuple[str, str] | None:
    """What a DynamoDB Streams record of this table says: a new event (an INSERT of an event item), the
    (tenant, event id) of an event that is gone (a REMOVE: deleted, or expired by TTL), or None (updates, and
    idempotency records)."""
    change = record["dynamodb"]
    if record["eventName"] == "INSERT" and "source" in change.get("NewImage", {}):
        return _from_item(change["NewImage"])
    if record["eventName"] == "REMOVE":
        parts = change["Keys"]["pk"]["S"].split("#")
        if len(parts) == 2:
            return parts[0], parts[1]
    return None
