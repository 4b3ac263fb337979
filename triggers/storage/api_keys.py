"""The API keys table: one item per key, keyed by the SHA-256 of the key (the key itself is never stored).

Table definition: serverless.yml, resources.ApiKeysTable.
"""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from triggers import settings
from triggers.storage.dynamodb import client, error_code, unavailable_as_domain_error


@dataclass(frozen=True)
class ApiKeyRecord:
    key_hash: str
    tenant_id: str
    name: str
    is_active: bool
    created_at: str

    @property
    def key_id(self) -> str:
        """A short public handle for listing and revoking; reveals nothing usable."""
        return self.key_hash[:12]


class KeyExists(Exception):
    pass


def _table(table: str | None) -> str:
    return table or settings.current().keys_table


def _from_item(item: dict) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_hash=item["key_hash"]["S"],
        tenant_id=item["tenant_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        is_active=item.get("is_active", {}).get("BOOL", False),
        created_at=item.get("created_at", {}).get("S", ""),
    )


def find(key_hash: str, table: str | None = None) -> ApiKeyRecord | None:
    with unavailable_as_domain_error():
        response = client().get_item(TableName=_table(table), Key={"key_hash": {"S": key_hash}})
    item = response.get("Item")
    try:
        return _from_item(item) if item else None
    except KeyError:
        return None  # a foreign item: no tenant, so no access


def insert(record: ApiKeyRecord, table: str | None = None) -> None:
    try:
        client().put_item(
            TableName=_table(table),
            Item={
                "key_hash": {"S": record.key_hash},
                "tenant_id": {"S": record.tenant_id},
                "name": {"S": record.name},
                "is_active": {"BOOL": record.is_active},
                "created_at": {"S": record.created_at},
            },
            ConditionExpression="attribute_not_exists(key_hash)",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise KeyExists(record.key_id) from exc
        raise


def list_all(table: str | None = None) -> list[ApiKeyRecord]:
    """Every key of the stage. Operators only (a Scan): no request path calls this."""
    records = []
    for page in client().get_paginator("scan").paginate(TableName=_table(table)):
        for item in page.get("Items", []):
            try:
                records.append(_from_item(item))
            except KeyError:
                continue
    return sorted(records, key=lambda record: record.created_at)


def deactivate(key_hash: str, table: str | None = None) -> bool:
    """Mark a key revoked; False if there is no such key."""
    try:
        client().update_item(
            TableName=_table(table),
            Key={"key_hash": {"S": key_hash}},
            ConditionExpression="attribute_exists(key_hash)",
            UpdateExpression="SET is_active = :false",
            ExpressionAttributeValues={":false": {"BOOL": False}},
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
