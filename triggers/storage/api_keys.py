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


def _from_item(item: dict) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_hash=item["key_hash"]["S"],
        tenant_id=item["tenant_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        is_active=item.get("is_active", {}).get("BOOL", False),
        created_at=item.get("created_at", {}).get("S", ""),
    )


class ApiKeyStore:
    def __init__(self, client: "DynamoDBClient", table: str):
        self.client = client
        self.table = table

    def find(self, key_hash: str) -> ApiKeyRecord | None:
        with unavailable_as_domain_error():
            response = self.client.get_item(TableName=self.table, Key={"key_hash": {"S": key_hash}})
        item = response.get("Item")
        try:
            return _from_item(item) if item else None
        except KeyError:
            return None  # a foreign item: no tenant, so no access

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
            if failed_condition(exc):
                return False
            raise
        return True

    def list_all(self) -> list[ApiKeyRecord]:
        """Every key of the stage. Operators only (a Scan): no request path calls this."""
        records = []
        for page in self.client.get_paginator("scan").paginate(TableName=self.table):
            for item in page.get("Items", []):
                try:
                    records.append(_from_item(item))
                except KeyError:
                    continue
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
