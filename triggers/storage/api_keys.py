"""The API keys table: one item per key, keyed by the SHA-256 of the key (the key itself is never stored).

Table definition: serverless.yml, resources.ApiKeysTable.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from triggers.domain.errors import StorageUnavailable
from triggers.storage.dynamodb import error_code, failed_condition, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# Every scope there is. A key stored before scopes existed (no `scopes` attribute) has them all.
SCOPES = ("events:write", "events:read", "inbox:read", "inbox:ack", "subscriptions:manage", "audit:read")


@dataclass(frozen=True)
class ApiKeyRecord:
    key_hash: str
    tenant_id: str
    name: str
    is_active: bool
    created_at: str
    scopes: tuple[str, ...] = SCOPES
    sources: tuple[str, ...] = ()  # the `source` values the key may write; empty: any
    event_types: tuple[str, ...] = ()  # the `event_type` prefixes the key may write; empty: any
    expires_at: str | None = None  # RFC 3339; past it the key is no longer valid
    last_used_at: str | None = None  # kept to the minute, not to the request

    @property
    def key_id(self) -> str:
        """A short public handle for listing and revoking; reveals nothing usable."""
        return self.key_hash[:12]


def _strings(item: dict, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(sorted(item[name]["SS"])) if name in item else default


def _from_item(item: dict) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_hash=item["key_hash"]["S"],
        tenant_id=item["tenant_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        is_active=item.get("is_active", {}).get("BOOL", False),
        created_at=item.get("created_at", {}).get("S", ""),
        scopes=tuple(s for s in _strings(item, "scopes", SCOPES) if s != "-"),
        sources=_strings(item, "sources"),
        event_types=_strings(item, "event_types"),
        expires_at=item.get("expires_at", {}).get("S"),
        last_used_at=item.get("last_used_at", {}).get("S"),
    )


def _to_item(record: ApiKeyRecord) -> dict:
    item = {
        "key_hash": {"S": record.key_hash},
        "tenant_id": {"S": record.tenant_id},
        "name": {"S": record.name},
        "is_active": {"BOOL": record.is_active},
        "created_at": {"S": record.created_at},
        # A string set cannot be empty: a key with no scope at all stores the placeholder "-".
        "scopes": {"SS": list(record.scopes) or ["-"]},
    }
    if record.sources:
        item["sources"] = {"SS": list(record.sources)}
    if record.event_types:
        item["event_types"] = {"SS": list(record.event_types)}
    if record.expires_at:
        item["expires_at"] = {"S": record.expires_at}
    return item


def _record(item: dict | None) -> ApiKeyRecord | None:
    try:
        return _from_item(item) if item else None
    except KeyError:
        return None  # a foreign item: no tenant, so no access


class ApiKeyStore:
    def __init__(self, client: "DynamoDBClient", table: str):
        self.client = client
        self.table = table

    def find(self, key_hash: str) -> ApiKeyRecord | None:
        with unavailable_as_domain_error():
            response = self.client.get_item(TableName=self.table, Key={"key_hash": {"S": key_hash}})
        return _record(response.get("Item"))

    def touch(self, key_hash: str, now: str, touched_before: str) -> None:
        """Set `last_used_at` to `now` unless another container set it after `touched_before`."""
        try:
            with unavailable_as_domain_error():
                self.client.update_item(
                    TableName=self.table,
                    Key={"key_hash": {"S": key_hash}},
                    ConditionExpression=(
                        "attribute_exists(key_hash) AND (attribute_not_exists(last_used_at) OR last_used_at < :before)"
                    ),
                    UpdateExpression="SET last_used_at = :now",
                    ExpressionAttributeValues={":now": {"S": now}, ":before": {"S": touched_before}},
                )
        except ClientError as exc:
            if not failed_condition(exc):
                raise

    def check_reachable(self) -> None:
        """Readiness: one cheap read (a key that cannot exist); StorageUnavailable if the table cannot answer."""
        try:
            self.find("readiness-probe")
        except ClientError as exc:  # access denied, a missing table...: not ready, whatever the reason
            raise StorageUnavailable(error_code(exc)) from exc

    def insert(self, record: ApiKeyRecord) -> bool:
        """Store a new key; False if a key with this hash exists (nothing is written then)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=_to_item(record),
                ConditionExpression="attribute_not_exists(key_hash)",
            )
        except ClientError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def list_all(self) -> list[ApiKeyRecord]:
        """Every key of the stage. Operators only (a Scan): no request path calls this."""
        records = []
        for page in self.client.get_paginator("scan").paginate(TableName=self.table):
            records += [record for record in map(_record, page.get("Items", [])) if record is not None]
        return sorted(records, key=lambda record: record.created_at)

    def deactivate(self, key_hash: str) -> bool:
        """Mark a key revoked; False if there is no such key."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"key_hash": {"S": key_hash}},
                ConditionExpression="attribute_exists(key_hash)",
                UpdateExpression="SET is_active = :false",
                ExpressionAttributeValues={":false": {"BOOL": False}},
            )
        except ClientError as exc:
            if failed_condition(exc):
                return False
            raise
        return True
