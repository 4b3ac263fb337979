"""The rate-limit table: one counter item per (API key or tenant) and one-minute window.

Table definition: serverless.yml, resources.RateLimitsTable. Items expire (TTL) shortly after their window.
An item holds `used` (requests granted to containers) and `outstanding` (what of those the containers had not yet
served when they last reported); triggers/auth/rate_limits.py says why.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from triggers.storage.dynamodb import failed_condition, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class Counter:
    """A window's counter as DynamoDB returned it, and whether the reservation asked for was made."""

    reserved: bool
    used: int
    outstanding: int


class RateLimitCounter:
    def __init__(self, client: "DynamoDBClient", table: str):
        self.client = client
        self.table = table

    def reserve(
        self, bucket: str, amount: int, limit: int, outstanding_change: int, max_outstanding: int, expires_at: int
    ) -> Counter:
        """Add `amount` to `used` and `outstanding_change` to `outstanding` if `used` stays within `limit` and
        `outstanding` within `max_outstanding`; either way, the counter's values."""
        try:
            with unavailable_as_domain_error():
                response = self.client.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": bucket}},
                    UpdateExpression=(
                        "ADD used :amount, outstanding :change SET expires_at = if_not_exists(expires_at, :expires_at)"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(used) OR (used <= :room AND outstanding <= :outstanding_room)"
                    ),
                    ExpressionAttributeValues={
                        ":amount": {"N": str(amount)},
                        ":change": {"N": str(outstanding_change)},
                        ":room": {"N": str(limit - amount)},
                        ":outstanding_room": {"N": str(max_outstanding - outstanding_change)},
                        ":expires_at": {"N": str(expires_at)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not failed_condition(exc):
                raise
            item: dict[str, Any] = exc.response.get("Item", {})  # type: ignore[assignment]
            return Counter(
                False, int(item.get("used", {}).get("N", limit)), int(item.get("outstanding", {}).get("N", 0))
            )
        values: dict[str, Any] = response["Attributes"]
        return Counter(True, int(values["used"]["N"]), int(values.get("outstanding", {}).get("N", 0)))
