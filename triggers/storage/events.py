"""The events table: key design and item format. It reports what DynamoDB did; the domain decides what it means.

Keys (table definitions: serverless.yml, resources.EventsTable):
- `pk` = `<tenant>#<event_id>`: a get, ack or delete is one call on one item, and the tenant is part of the key,
  so no call can reach another tenant's event.
- `pk` = `<tenant>#idempotency#<sha256 of the key>`: what a create with an Idempotency-Key answered. It is
  written in the same transaction as the event and is not touched by a delete, so a key outlives its event.
- `inbox` index: `inbox_tenant` (the tenant) and `inbox_sort` (`<created_at>#<event_id>`), present only while the
  event is pending. The index is sparse: an ack removes both attributes, and with them the event from the index,
  so an inbox page is one Query whose cost does not depend on the backlog of acknowledged events.
- `expires_at` is the TTL attribute. DynamoDB deletes expired items lazily (moto never does), so every read here
  hides them itself.
The payload is stored as JSON text: DynamoDB numbers cannot hold every JSON number, and text round-trips exactly.
"""

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from triggers.domain.errors import StorageUnavailable
from triggers.domain.model import ACKNOWLEDGED, PENDING, Event, IdempotencyRecord
from triggers.storage.dynamodb import ConditionFailed, failed_condition, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

INBOX_INDEX = "inbox"

# Where an inbox page ends: the index's sort key and the table's key of its last item.
InboxPosition = tuple[str, str]


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
    if event.status == PENDING:
        item["inbox_tenant"] = {"S": event.tenant_id}
        item["inbox_sort"] = {"S": f"{event.created_at}#{event.event_id}"}
    return item


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
        )
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning(
            "skipped a malformed event item", extra={"fields": {"pk": str(item.get("pk")), "error": repr(exc)}}
        )
        return None


def _live(event: Event | None, now: int) -> Event | None:
    return event if event is not None and event.expires_at > now else None


class EventStore:
    def __init__(self, client: "DynamoDBClient", table: str):
        self.client = client
        self.table = table

    def insert(self, event: Event) -> None:
        """Store a new event. Its id is new (random), so the condition only guards against a bug."""
        with unavailable_as_domain_error():
            self.client.put_item(
                TableName=self.table, Item=_to_item(event), ConditionExpression="attribute_not_exists(pk)"
            )

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
        start: InboxPosition | None,
        now: int,
        source: str | None = None,
        event_type: str | None = None,
    ) -> tuple[list[Event], InboxPosition | None]:
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
