"""The rate-limit table: one counter item per API key and one-minute window.

Table definition: serverless.yml, resources.RateLimitsTable. Items expire (TTL) shortly after their window.
"""

from botocore.exceptions import ClientError

from triggers import settings
from triggers.storage.dynamodb import client, error_code, unavailable_as_domain_error


class WindowExhausted(Exception):
    """The window's counter cannot take the amount asked for; `used` is how much it had."""

    def __init__(self, used: int):
        super().__init__(f"used {used}")
        self.used = used


def reserve(bucket: str, amount: int, limit: int, expires_at: int) -> int:
    """Add `amount` to the bucket's counter if the total stays within `limit`; returns the new total."""
    with unavailable_as_domain_error():
        try:
            response = client().update_item(
                TableName=settings.current().rate_limits_table,
                Key={"pk": {"S": bucket}},
                UpdateExpression="ADD used :amount SET expires_at = if_not_exists(expires_at, :expires_at)",
                ConditionExpression="attribute_not_exists(used) OR used <= :room",
                ExpressionAttributeValues={
                    ":amount": {"N": str(amount)},
                    ":room": {"N": str(limit - amount)},
                    ":expires_at": {"N": str(expires_at)},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            raise WindowExhausted(int(exc.response.get("Item", {}).get("used", {}).get("N", limit))) from exc
    return int(response["Attributes"]["used"]["N"])
