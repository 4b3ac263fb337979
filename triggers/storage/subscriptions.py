"""The subscriptions table: one item per subscription under its tenant, and one counter item per tenant.

Keys (table definition: serverless.yml, resources.SubscriptionsTable): `pk` = the tenant, `sk` = `sub#<id>` for a
subscription and `count` for the tenant's counter, which a create and a delete change in the same transaction as
the subscription, so the limit holds under concurrent creates. The fan-out reads a tenant's subscriptions with one
Query (at most 100 items).
"""

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from triggers.domain.model import JSON_FORMAT, Filter, PushTarget, SigningSecret, Subscription
from triggers.storage.dynamodb import ConditionFailed, failed_condition, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

COUNTER = "count"
PREFIX = "sub#"


def _key(tenant_id: str, subscription_id: str) -> dict:
    return {"pk": {"S": tenant_id}, "sk": {"S": PREFIX + subscription_id}}


def _secrets_value(secrets: tuple[SigningSecret, ...]) -> dict:
    return {"S": json.dumps([{"secret": s.secret, "expires_at": s.expires_at} for s in secrets])}


def _to_item(subscription: Subscription) -> dict:
    item = {
        **_key(subscription.tenant_id, subscription.subscription_id),
        "name": {"S": subscription.name},
        "filter": {"S": json.dumps(subscription.filter.public(), separators=(",", ":"))},
        "max_deliveries": {"N": str(subscription.max_deliveries)},
        "paused": {"BOOL": subscription.paused},
        "created_at": {"S": subscription.created_at},
        "updated_at": {"S": subscription.updated_at},
    }
    if subscription.push:
        item["push_url"] = {"S": subscription.push.url}
        item["push_format"] = {"S": subscription.push.format}
        item["secrets"] = _secrets_value(subscription.push.secrets)
    return item


def _from_item(item: dict) -> Subscription:
    filter_ = json.loads(item["filter"]["S"])
    return Subscription(
        tenant_id=item["pk"]["S"],
        subscription_id=item["sk"]["S"].removeprefix(PREFIX),
        name=item["name"]["S"],
        filter=Filter(tuple(filter_["sources"]), tuple(filter_["event_types"])),
        max_deliveries=int(item["max_deliveries"]["N"]),
        paused=item["paused"]["BOOL"],
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        push=PushTarget(
            item["push_url"]["S"],
            tuple(SigningSecret(s["secret"], s["expires_at"]) for s in json.loads(item["secrets"]["S"])),
            item.get("push_format", {}).get("S", JSON_FORMAT),  # a subscription made before formats: json
        )
        if "push_url" in item
        else None,
        paused_reason=item.get("paused_reason", {}).get("S"),
    )


class SubscriptionStore:
    def __init__(self, client: "DynamoDBClient", table: str):
        self.client = client
        self.table = table

    def insert(self, subscription: Subscription, limit: int) -> bool:
        """Store a new subscription unless the tenant has `limit` already; False (nothing written) if it has."""
        counter = {"pk": {"S": subscription.tenant_id}, "sk": {"S": COUNTER}}
        try:
            with unavailable_as_domain_error():
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": counter,
                                "UpdateExpression": "ADD subscriptions :one",
                                "ConditionExpression": "attribute_not_exists(subscriptions) OR subscriptions < :limit",
                                "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(limit)}},
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": _to_item(subscription),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
        except ClientError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        with unavailable_as_domain_error():
            response = self.client.get_item(
                TableName=self.table, Key=_key(tenant_id, subscription_id), ConsistentRead=True
            )
        item = response.get("Item")
        return _from_item(item) if item else None

    def page(self, tenant_id: str, limit: int, start: str | None) -> tuple[list[Subscription], str | None]:
        """Up to `limit` subscriptions in id order after `start` (an id), and the last id if there may be more."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :tenant AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":tenant": {"S": tenant_id}, ":prefix": {"S": PREFIX}},
            "Limit": limit,
        }
        if start is not None:
            query["ExclusiveStartKey"] = _key(tenant_id, start)
        with unavailable_as_domain_error():
            response = self.client.query(**query)
        subscriptions = [_from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return subscriptions, last["sk"]["S"].removeprefix(PREFIX) if last else None

    def all_of(self, tenant_id: str) -> list[Subscription]:
        """Every subscription of a tenant (the fan-out's read): one consistent Query, a second past 1 MB."""
        subscriptions: list[Subscription] = []
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :tenant AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":tenant": {"S": tenant_id}, ":prefix": {"S": PREFIX}},
            "ConsistentRead": True,
        }
        while True:
            with unavailable_as_domain_error():
                response = self.client.query(**query)
            subscriptions += [_from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return subscriptions
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def update(
        self,
        tenant_id: str,
        subscription_id: str,
        changes: dict,
        updated_at: str,
        secrets_were: tuple[SigningSecret, ...] | None = None,
    ) -> Subscription | ConditionFailed[Subscription]:
        """Apply `changes` (filter, max_deliveries, paused, paused_reason (None removes it), secrets, format); the
        subscription as changed, or the refusal if there is none, (with `secrets_were`) its secrets changed, or
        (with `format`) it is not pushed."""
        names, values, sets, removes = {}, {":updated_at": {"S": updated_at}}, ["updated_at = :updated_at"], []
        if "filter" in changes:
            values[":filter"] = {"S": json.dumps(changes["filter"].public(), separators=(",", ":"))}
            names["#filter"] = "filter"
            sets.append("#filter = :filter")
        if "max_deliveries" in changes:
            values[":max_deliveries"] = {"N": str(changes["max_deliveries"])}
            sets.append("max_deliveries = :max_deliveries")
        if "paused" in changes:
            values[":paused"] = {"BOOL": changes["paused"]}
            sets.append("paused = :paused")
        if changes.get("paused_reason"):
            values[":paused_reason"] = {"S": changes["paused_reason"]}
            sets.append("paused_reason = :paused_reason")
        elif "paused_reason" in changes:
            removes.append("paused_reason")
        if "secrets" in changes:
            values[":secrets"] = _secrets_value(changes["secrets"])
            sets.append("secrets = :secrets")
        condition = "attribute_exists(pk)"
        if "format" in changes:
            values[":format"] = {"S": changes["format"]}
            sets.append("push_format = :format")
            condition += " AND attribute_exists(push_url)"
        if secrets_were is not None:
            values[":secrets_were"] = _secrets_value(secrets_were)
            condition += " AND secrets = :secrets_were"
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(tenant_id, subscription_id),
            "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            update["ExpressionAttributeNames"] = names
        try:
            with unavailable_as_domain_error():
                response = self.client.update_item(**update)
        except ClientError as exc:
            if failed_condition(exc):
                old: Any = exc.response.get("Item")
                return ConditionFailed(_from_item(old) if old else None)
            raise
        return _from_item(response["Attributes"])

    def delete(self, tenant_id: str, subscription_id: str) -> bool:
        """Remove a subscription and count it out; False if there was none (nothing changed)."""
        try:
            with unavailable_as_domain_error():
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Delete": {
                                "TableName": self.table,
                                "Key": _key(tenant_id, subscription_id),
                                "ConditionExpression": "attribute_exists(pk)",
                            }
                        },
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": {"pk": {"S": tenant_id}, "sk": {"S": COUNTER}},
                                "UpdateExpression": "ADD subscriptions :minus_one",
                                "ExpressionAttributeValues": {":minus_one": {"N": "-1"}},
                            }
                        },
                    ]
                )
        except ClientError as exc:
            if failed_condition(exc):
                return False
            raise
        return True
