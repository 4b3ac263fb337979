"""The events table: key design, item format and inbox cursors.

Keys (table definitions: serverless.yml, resources.EventsTable):
- `pk` = `<tenant>#<event_id>`: a get, ack or delete is one call on one item, and the tenant is part of the key,
  so no call can reach another tenant's event.
- `inbox` index: `inbox_tenant` (the tenant) and `inbox_sort` (`<created_at>#<event_id>`), present only while the
  event is pending. The index is sparse: an ack removes both attributes, and with them the event from the index,
  so an inbox page is one Query whose cost does not depend on the backlog of acknowledged events.
- `expires_at` is the TTL attribute. DynamoDB deletes expired items lazily (moto never does), so every read here
  hides them itself.
The payload is stored as JSON text: DynamoDB numbers cannot hold every JSON number, and text round-trips exactly.
"""

import base64
import hashlib
import hmac
import json
import logging

from botocore.exceptions import ClientError

from triggers import settings
from triggers.domain.errors import AlreadyAcknowledged, EventNotFound, InvalidCursor
from triggers.domain.model import ACKNOWLEDGED, PENDING, Event
from triggers.storage.dynamodb import client, error_code, unavailable_as_domain_error

logger = logging.getLogger(__name__)

INBOX_INDEX = "inbox"


class DuplicateEvent(Exception):
    """An item with this key already exists and has not expired; `existing` is it (None if unreadable)."""

    def __init__(self, existing: Event | None):
        super().__init__("event exists")
        self.existing = existing


def _table() -> str:
    return settings.current().events_table


def _key(tenant_id: str, event_id: str) -> dict:
    return {"pk": {"S": f"{tenant_id}#{event_id}"}}


def _to_item(event: Event) -> dict:
    item = {
        **_key(event.tenant_id, event.event_id),
        "tenant_id": {"S": event.tenant_id},
        "event_id": {"S": event.event_id},
        "source": {"S": event.source},
        "event_type": {"S": event.event_type},
        "payload": {"S": json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))},
        "status": {"S": event.status},
        "created_at": {"S": event.created_at},
        "expires_at": {"N": str(event.expires_at)},
    }
    if event.request_hash:
        item["request_hash"] = {"S": event.request_hash}
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
            request_hash=item.get("request_hash", {}).get("S"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning(
            "skipped a malformed event item", extra={"fields": {"pk": str(item.get("pk")), "error": repr(exc)}}
        )
        return None


def _live(event: Event | None, now: int) -> Event | None:
    return event if event is not None and event.expires_at > now else None


def insert(event: Event, now: int) -> None:
    """Store a new event; raise DuplicateEvent if a live one has its key (an expired one is replaced)."""
    with unavailable_as_domain_error():
        try:
            client().put_item(
                TableName=_table(),
                Item=_to_item(event),
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            raise DuplicateEvent(_from_item(exc.response.get("Item"))) from exc


def get(tenant_id: str, event_id: str, now: int) -> Event | None:
    with unavailable_as_domain_error():
        response = client().get_item(TableName=_table(), Key=_key(tenant_id, event_id))
    return _live(_from_item(response.get("Item")), now)


def acknowledge(tenant_id: str, event_id: str, acknowledged_at: str, now: int) -> None:
    """Pending → acknowledged in one conditional write; the old item tells 404 from 409 when it fails."""
    with unavailable_as_domain_error():
        try:
            client().update_item(
                TableName=_table(),
                Key=_key(tenant_id, event_id),
                ConditionExpression="attribute_exists(pk) AND expires_at > :now AND #status = :pending",
                UpdateExpression="SET #status = :acknowledged, acknowledged_at = :at REMOVE inbox_tenant, inbox_sort",
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
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = _live(_from_item(exc.response.get("Item")), now)
            if existing is not None and existing.status == ACKNOWLEDGED:
                raise AlreadyAcknowledged(event_id) from exc
            raise EventNotFound(event_id) from exc


def delete(tenant_id: str, event_id: str) -> None:
    with unavailable_as_domain_error():
        client().delete_item(TableName=_table(), Key=_key(tenant_id, event_id))


def inbox_page(
    tenant_id: str, limit: int, cursor: str | None, now: int, source: str | None = None, event_type: str | None = None
) -> tuple[list[Event], str | None]:
    """One Query on the inbox index: up to `limit` pending events, oldest first, and the next cursor."""
    conditions = ["expires_at > :now"]
    values = {":tenant": {"S": tenant_id}, ":now": {"N": str(now)}}
    if source is not None:
        conditions.append("#source = :source")
        values[":source"] = {"S": source}
    if event_type is not None:
        conditions.append("event_type = :event_type")
        values[":event_type"] = {"S": event_type}
    query = {
        "TableName": _table(),
        "IndexName": INBOX_INDEX,
        "KeyConditionExpression": "inbox_tenant = :tenant",
        "FilterExpression": " AND ".join(conditions),
        "ExpressionAttributeValues": values,
        "Limit": limit,
        "ScanIndexForward": True,
    }
    if source is not None:
        query["ExpressionAttributeNames"] = {"#source": "source"}
    if cursor is not None:
        query["ExclusiveStartKey"] = decode_cursor(cursor, tenant_id)
    with unavailable_as_domain_error():
        response = client().query(**query)
    events = [event for event in map(_from_item, response.get("Items", [])) if event is not None]
    last_key = response.get("LastEvaluatedKey")
    return events, encode_cursor(last_key, tenant_id) if last_key else None


# Cursors: the index position, signed with the tenant, so a forged or another tenant's cursor is refused.


def _signature(tenant_id: str, body: str) -> str:
    digest = hmac.new(settings.current().cursor_secret, f"{tenant_id}\n{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def encode_cursor(last_key: dict, tenant_id: str) -> str:
    position = [last_key["inbox_sort"]["S"], last_key["pk"]["S"]]
    body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{_signature(tenant_id, body)}"


def decode_cursor(cursor: str, tenant_id: str) -> dict:
    body, _, signature = cursor.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(tenant_id, body).encode()):
        raise InvalidCursor("The cursor is not one this API issued for this API key's tenant.")
    try:
        inbox_sort, pk = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("The cursor cannot be read.") from exc
    return {"inbox_tenant": {"S": tenant_id}, "inbox_sort": {"S": inbox_sort}, "pk": {"S": pk}}
