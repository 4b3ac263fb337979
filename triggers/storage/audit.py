"""The audit table: append-only entries per tenant (serverless.yml, AuditTable; the functions' role may only
PutItem and Query it). `pk` = tenant, `sk` = `<at>#<audit_id>`: a page is one Query, newest first. An entry is
written under a new key with `attribute_not_exists`, so nothing here can overwrite one; `expires_at` (the
retention) lets TTL remove old ones.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from triggers.domain.model import AuditEntry
from triggers.storage.dynamodb import newest_first, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RETENTION_SECONDS = 400 * 86400  # a year and a margin: what a yearly review needs


class AuditStore:
    def __init__(self, client: "DynamoDBClient", table: str):
        self.client = client
        self.table = table

    def add(self, entry: AuditEntry) -> None:
        item: dict[str, Any] = {
            "pk": {"S": entry.tenant_id},
            "sk": {"S": f"{entry.at}#{entry.audit_id}"},
            "audit_id": {"S": entry.audit_id},
            "at": {"S": entry.at},
            "actor": {"S": entry.actor},
            "action": {"S": entry.action},
            "target": {"S": entry.target},
            "expires_at": {"N": str(int(datetime.fromisoformat(entry.at).timestamp()) + RETENTION_SECONDS)},
        }
        if entry.request_id:
            item["request_id"] = {"S": entry.request_id}
        with unavailable_as_domain_error():
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def page(self, tenant_id: str, limit: int, start: str | None) -> tuple[list[AuditEntry], str | None]:
        """Up to `limit` entries, newest first, after `start` (a sort key); the last sort key if there may be more."""
        items, last = newest_first(self.client, self.table, tenant_id, limit, start)
        entries = [
            AuditEntry(
                tenant_id=tenant_id,
                audit_id=item["audit_id"]["S"],
                at=item["at"]["S"],
                actor=item["actor"]["S"],
                action=item["action"]["S"],
                target=item["target"]["S"],
                request_id=item.get("request_id", {}).get("S"),
            )
            for item in items
        ]
        return entries, last
