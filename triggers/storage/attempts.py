"""Push attempts, kept a week for `GET /v1/subscriptions/{id}/attempts`: what a user looks at first when a hook
"does not fire".

They live in the deliveries table (serverless.yml, DeliveriesTable) under their own partition per subscription:
`pk` = `attempts#<subscription_id>`, `sk` = `<attempted_at>#<event_id>`, read newest first. They carry none of
the index attributes, so neither index sees them; `expires_at` lets TTL remove them. The API reads them only after
it has found the subscription under the caller's tenant.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from triggers.domain.model import Attempt
from triggers.storage.dynamodb import newest_first, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RETENTION_SECONDS = 7 * 86400


def _partition(subscription_id: str) -> str:
    return f"attempts#{subscription_id}"


class AttemptStore:
    def __init__(self, client: "DynamoDBClient", table: str):
        self.client = client
        self.table = table

    def add(self, attempt: Attempt) -> None:
        item: dict[str, Any] = {
            "pk": {"S": _partition(attempt.subscription_id)},
            "sk": {"S": f"{attempt.attempted_at}#{attempt.event_id}"},
            "event_id": {"S": attempt.event_id},
            "webhook_id": {"S": attempt.webhook_id},
            "attempted_at": {"S": attempt.attempted_at},
            "outcome": {"S": attempt.outcome},
            "duration_ms": {"N": str(attempt.duration_ms)},
            "delivery_count": {"N": str(attempt.delivery_count)},
            "expires_at": {"N": str(int(datetime.fromisoformat(attempt.attempted_at).timestamp()) + RETENTION_SECONDS)},
        }
        if attempt.status_code is not None:
            item["status_code"] = {"N": str(attempt.status_code)}
        if attempt.error is not None:
            item["error"] = {"S": attempt.error}
        if attempt.next_attempt_at is not None:
            item["next_attempt_at"] = {"S": attempt.next_attempt_at}
        with unavailable_as_domain_error():
            self.client.put_item(TableName=self.table, Item=item)

    def page(self, subscription_id: str, limit: int, start: str | None) -> tuple[list[Attempt], str | None]:
        """Up to `limit` attempts, newest first, after `start` (a sort key), and the last sort key if there may be
        more."""
        items, last = newest_first(self.client, self.table, _partition(subscription_id), limit, start)
        attempts = [
            Attempt(
                subscription_id=subscription_id,
                event_id=item["event_id"]["S"],
                webhook_id=item["webhook_id"]["S"],
                attempted_at=item["attempted_at"]["S"],
                outcome=item["outcome"]["S"],
                duration_ms=int(item["duration_ms"]["N"]),
                delivery_count=int(item["delivery_count"]["N"]),
                status_code=int(item["status_code"]["N"]) if "status_code" in item else None,
                error=item.get("error", {}).get("S"),
                next_attempt_at=item.get("next_attempt_at", {}).get("S"),
            )
            for item in items
        ]
        return attempts, last
