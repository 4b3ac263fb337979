"""The deliveries table: one item per event and subscription. It reports what DynamoDB did; the domain decides.

Keys (table definition: serverless.yml, resources.DeliveriesTable):
- `pk` = `<tenant>#<event_id>`, `sk` = `<subscription_id>`: a lease, ack or redrive is one call on one item, the
  tenant is part of the key, and all deliveries of an event are one Query away (a deleted event takes them along).
- `visible` index: `lane` = `<subscription_id>#<shard>` and `visible_at` (epoch ms), present only while the delivery
  can be received or is leased. A lease moves `visible_at` to the lease's end, so a receive reads only deliveries
  whose time has come: what it returns, whatever the backlog elsewhere. A subscription's deliveries spread over
  `shards` lanes (by a hash of the event id), so one subscription is not held to one partition's write rate.
- `dead` index: `dead_sub` (the subscription) and `dead_sort` (`<died_at>#<event_id>`), present only while dead.
- `event` is the event as created (JSON of its public fields), so a receive reads no other table: a delivery
  costs the event's size in write units, once per matching subscription. `cloudevents_id`, the event's CloudEvents
  `id` (only for an event created as a CloudEvent), lets a push in `cloudevents` format say it without a read.
- An acknowledged delivery keeps its item (no lane): a replayed stream record cannot make it again.
- `replayed_by` names the last replay job that made the delivery receivable again (triggers/domain/jobs.py): a
  replay's write is conditional on it not being that job already, so a retried step replays nothing twice.
- `expires_at` is the event's TTL: a delivery goes with its event.
Index reads are eventually consistent, so every change is a conditional write on the item itself: a stale index
entry just loses its condition.
"""

import json
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from triggers.domain.model import Delivery
from triggers.storage.dynamodb import ConditionFailed, failed_condition, unavailable_as_domain_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

VISIBLE_INDEX = "visible"
DEAD_INDEX = "dead"

Item = TypeVar("Item")
Result = TypeVar("Result")

# Where a dead-letter page ends: the index's sort key and the table's key of its last item.
DeadPosition = tuple[str, str, str]

_KEY_ATTRIBUTES = ("pk", "sk")
# What a delivery holds about its event, written once: a replay keeps what the fan-out wrote.
_AS_CREATED = ("event", "cloudevents_id")
# What a delivery gains after it is made (a lease, an ack, a burial): a replay removes it.
_LATER = ("lease", "acknowledged_at", "dead_sub", "dead_sort", "died_at")


def _key(tenant_id: str, event_id: str, subscription_id: str) -> dict:
    return {"pk": {"S": f"{tenant_id}#{event_id}"}, "sk": {"S": subscription_id}}


def lane(subscription_id: str, event_id: str, shards: int) -> str:
    return f"{subscription_id}#{zlib.crc32(event_id.encode()) % shards}"


def _from_item(item: dict) -> Delivery:
    return Delivery(
        tenant_id=item["tenant_id"]["S"],
        subscription_id=item["sk"]["S"],
        event_id=item["event_id"]["S"],
        delivery_count=int(item["delivery_count"]["N"]),
        visible_at=int(item["visible_at"]["N"]) if "visible_at" in item else None,
        lease=item.get("lease", {}).get("S"),
        died_at=item.get("died_at", {}).get("S"),
        acknowledged_at=item.get("acknowledged_at", {}).get("S"),
        expires_at=int(item.get("expires_at", {}).get("N", 0)),
        event=json.loads(item["event"]["S"]) if "event" in item else None,
        cloudevents_id=item.get("cloudevents_id", {}).get("S"),
        replayed_by=item.get("replayed_by", {}).get("S"),
    )


class DeliveryStore:
    def __init__(self, client: "DynamoDBClient", table: str, shards: int, pool: Executor):
        self.client = client
        self.table = table
        self.shards = shards
        self.pool = pool  # calls that do not depend on each other go out together

    def _each(self, call: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
        return list(self.pool.map(call, items))

    def _update(self, key: dict, condition: str, update: str, values: dict) -> ConditionFailed[Delivery] | dict:
        """One conditional UpdateItem: the new item, or the refusal with the item as it was."""
        try:
            with unavailable_as_domain_error():
                response = self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    ConditionExpression=condition,
                    UpdateExpression=update,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not failed_condition(exc):
                raise
            old: dict | None = exc.response.get("Item")  # type: ignore[assignment]
            return ConditionFailed(_from_item(old) if old else None)
        return response["Attributes"]

    # Fan-out

    def _new_item(self, delivery: Delivery, visible_at: int) -> dict:
        """The item of a new delivery, receivable from `visible_at`: what the fan-out writes, and a replay too."""
        item = {
            **_key(delivery.tenant_id, delivery.event_id, delivery.subscription_id),
            "tenant_id": {"S": delivery.tenant_id},
            "event_id": {"S": delivery.event_id},
            "delivery_count": {"N": "0"},
            "lane": {"S": lane(delivery.subscription_id, delivery.event_id, self.shards)},
            "visible_at": {"N": str(visible_at)},
            "expires_at": {"N": str(delivery.expires_at)},
            "event": {"S": json.dumps(delivery.event, ensure_ascii=False, separators=(",", ":"))},
        }
        if delivery.cloudevents_id is not None:
            item["cloudevents_id"] = {"S": delivery.cloudevents_id}
        return item

    def insert_many(self, deliveries: list[Delivery], visible_at: int) -> int:
        """Store new deliveries (in parallel); one that exists already is left as it is. How many were new."""

        def insert(delivery: Delivery) -> bool:
            item = self._new_item(delivery, visible_at)
            try:
                with unavailable_as_domain_error():
                    self.client.put_item(
                        TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                    )
            except ClientError as exc:
                if failed_condition(exc):
                    return False
                raise
            return True

        return sum(self._each(insert, deliveries))

    def delete_for_event(self, tenant_id: str, event_id: str) -> int:
        """Remove every delivery of an event (it was deleted or expired): a Query, then 25 deletes a call."""
        items = self._event_items(tenant_id, event_id, ProjectionExpression="pk, sk")
        for start in range(0, len(items), 25):
            request: dict[str, Any] = {
                self.table: [{"DeleteRequest": {"Key": item}} for item in items[start : start + 25]]
            }
            while request:
                with unavailable_as_domain_error():
                    request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        return len(items)

    def for_event(self, tenant_id: str, event_id: str) -> list[Delivery]:
        """Every delivery of an event, in subscription id order: one consistent Query."""
        return [_from_item(item) for item in self._event_items(tenant_id, event_id)]

    def _event_items(self, tenant_id: str, event_id: str, **options: Any) -> list[dict]:
        """The items of an event's partition (one per subscription it matched), read consistently, page by page."""
        items: list[dict] = []
        while True:
            with unavailable_as_domain_error():
                page = self.client.query(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"{tenant_id}#{event_id}"}},
                    ConsistentRead=True,
                    **options,
                )
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            options["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # Receive

    def visible(self, subscription_id: str, now_ms: int, limit: int) -> list[Delivery]:
        """Up to `limit` deliveries whose time has come, oldest first: one Query per lane, all at once. What the index
        says may be stale; the conditional writes that follow decide."""

        def lane_query(shard: int) -> list[dict]:
            with unavailable_as_domain_error():
                return self.client.query(
                    TableName=self.table,
                    IndexName=VISIBLE_INDEX,
                    KeyConditionExpression="lane = :lane AND visible_at <= :now",
                    ExpressionAttributeValues={
                        ":lane": {"S": f"{subscription_id}#{shard}"},
                        ":now": {"N": str(now_ms)},
                    },
                    Limit=limit,
                ).get("Items", [])

        items = [item for page in self._each(lane_query, range(self.shards)) for item in page]
        items.sort(key=lambda item: int(item["visible_at"]["N"]))
        return [_from_item(item) for item in items[:limit]]

    def backlog(self, subscription_id: str, now_ms: int, up_to: int) -> tuple[int, int, int | None]:
        """(ready, leased, the oldest ready delivery's `visible_at`) over the subscription's lanes, from the `visible`
        index: counted by DynamoDB (Select COUNT), each lane's count stopping once it reaches `up_to`, so the reads
        are bounded however large the backlog."""

        def count(shard: int, condition: str) -> int:
            total, start = 0, None
            while total < up_to:
                page = self._lane_query(
                    subscription_id, shard, condition, now_ms, Select="COUNT", Limit=up_to - total, start=start
                )
                total += page["Count"]
                start = page.get("LastEvaluatedKey")
                if start is None:
                    break
            return total

        def oldest(shard: int) -> int | None:
            items = self._lane_query(subscription_id, shard, "visible_at <= :now", now_ms, Limit=1).get("Items")
            return int(items[0]["visible_at"]["N"]) if items else None

        ready = sum(self._each(lambda shard: count(shard, "visible_at <= :now"), range(self.shards)))
        leased = sum(self._each(lambda shard: count(shard, "visible_at > :now"), range(self.shards)))
        firsts = [first for first in self._each(oldest, range(self.shards)) if first is not None]
        return ready, leased, min(firsts, default=None)

    def _lane_query(self, subscription_id: str, shard: int, condition: str, now_ms: int, start=None, **options):
        if start is not None:
            options["ExclusiveStartKey"] = start
        with unavailable_as_domain_error():
            return self.client.query(
                TableName=self.table,
                IndexName=VISIBLE_INDEX,
                KeyConditionExpression=f"lane = :lane AND {condition}",
                ExpressionAttributeValues={":lane": {"S": f"{subscription_id}#{shard}"}, ":now": {"N": str(now_ms)}},
                **options,
            )

    def lease(
        self, delivery: Delivery, now_ms: int, nonce: str, until_ms: int, max_deliveries: int
    ) -> Delivery | ConditionFailed[Delivery]:
        """Lease a delivery whose time has come, whose event has not expired and that has been received fewer than
        `max_deliveries` times: the leased delivery, or the refusal with the delivery as it was."""
        result = self._update(
            _key(delivery.tenant_id, delivery.event_id, delivery.subscription_id),
            "lane = :lane AND visible_at <= :now AND delivery_count < :max AND expires_at > :now_s",
            "SET visible_at = :until, lease = :lease ADD delivery_count :one",
            {
                ":lane": {"S": lane(delivery.subscription_id, delivery.event_id, self.shards)},
                ":now": {"N": str(now_ms)},
                ":max": {"N": str(max_deliveries)},
                ":until": {"N": str(until_ms)},
                ":lease": {"S": nonce},
                ":one": {"N": "1"},
                ":now_s": {"N": str(now_ms // 1000)},
            },
        )
        return result if isinstance(result, ConditionFailed) else _from_item(result)

    def lease_many(
        self, deliveries: list[Delivery], now_ms: int, leases: list[str], until_ms: int, max_deliveries: int
    ) -> list[Delivery | None]:
        """`lease` each delivery, all at once; the leased delivery, or None where the condition failed."""

        def lease(pair: tuple[Delivery, str]) -> Delivery | None:
            result = self.lease(pair[0], now_ms, pair[1], until_ms, max_deliveries)
            return None if isinstance(result, ConditionFailed) else result

        return self._each(lease, zip(deliveries, leases, strict=True))

    def _bury(self, delivery: Delivery, died_at: str, condition: str, values: dict) -> bool:
        """Move a delivery to the dead letters if `condition` holds; False where it did not."""
        result = self._update(
            _key(delivery.tenant_id, delivery.event_id, delivery.subscription_id),
            condition,
            "REMOVE lane, visible_at, lease SET dead_sub = :sub, dead_sort = :sort, died_at = :died_at",
            {
                **values,
                ":sub": {"S": delivery.subscription_id},
                ":sort": {"S": f"{died_at}#{delivery.event_id}"},
                ":died_at": {"S": died_at},
            },
        )
        return not isinstance(result, ConditionFailed)

    def bury_many(self, deliveries: list[Delivery], now_ms: int, died_at: str, max_deliveries: int) -> list[bool]:
        """Move to the dead letters each delivery whose time has come and that was received `max_deliveries` times."""

        def bury(delivery: Delivery) -> bool:
            return self._bury(
                delivery,
                died_at,
                "lane = :lane AND visible_at <= :now AND delivery_count >= :max",
                {
                    ":lane": {"S": lane(delivery.subscription_id, delivery.event_id, self.shards)},
                    ":now": {"N": str(now_ms)},
                    ":max": {"N": str(max_deliveries)},
                },
            )

        return self._each(bury, deliveries)

    def bury_leased(self, delivery: Delivery, died_at: str) -> bool:
        """Move a delivery to the dead letters while its lease (the one `delivery` holds) lasts."""
        return self._bury(
            delivery, died_at, "lease = :lease AND attribute_exists(lane)", {":lease": {"S": delivery.lease or ""}}
        )

    def waiting_page(
        self, subscription_id: str, shard: int, until_ms: int, start: dict | None, limit: int
    ) -> tuple[list[str], dict | None]:
        """The event ids of up to `limit` deliveries of one lane visible at `until_ms`, after `start` (where the
        previous page ended), and where this page ended (None: the lane is done)."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": VISIBLE_INDEX,
            "KeyConditionExpression": "lane = :lane AND visible_at <= :until",
            "ExpressionAttributeValues": {
                ":lane": {"S": f"{subscription_id}#{shard}"},
                ":until": {"N": str(until_ms)},
            },
            "ProjectionExpression": "event_id",
            "Limit": limit,
        }
        if start is not None:
            query["ExclusiveStartKey"] = start
        with unavailable_as_domain_error():
            response = self.client.query(**query)
        return [item["event_id"]["S"] for item in response.get("Items", [])], response.get("LastEvaluatedKey")

    # Settle: each item is (tenant, subscription, event id, lease)

    def settle_many(
        self, action: str, leases: list[tuple[str, str, str, str]], now_ms: int, at: str, until_ms: list[int]
    ) -> list[ConditionFailed[Delivery] | None]:
        """`acknowledge`, `release` (visible again at `until_ms`) or `extend` (to `until_ms`, only while the lease
        lasts) each lease; None where done, else the refusal with the delivery as it was."""
        condition = "lease = :lease AND attribute_exists(lane)"
        update = {
            "acknowledge": "REMOVE lane, visible_at, lease SET acknowledged_at = :at",
            "release": "SET visible_at = :until REMOVE lease",
            "extend": "SET visible_at = :until",
        }[action]
        if action == "extend":
            condition += " AND visible_at > :now"

        def settle(pair: tuple[tuple[str, str, str, str], int]) -> ConditionFailed[Delivery] | None:
            (tenant_id, subscription_id, event_id, nonce), until = pair
            values = {":lease": {"S": nonce}}
            if action == "acknowledge":
                values[":at"] = {"S": at}
            else:
                values[":until"] = {"N": str(until)}
            if action == "extend":
                values[":now"] = {"N": str(now_ms)}
            result = self._update(_key(tenant_id, event_id, subscription_id), condition, update, values)
            return result if isinstance(result, ConditionFailed) else None

        return self._each(settle, zip(leases, until_ms, strict=True))

    # Dead letters

    def dead_page(
        self, subscription_id: str, limit: int, start: DeadPosition | None
    ) -> tuple[list[Delivery], DeadPosition | None]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": DEAD_INDEX,
            "KeyConditionExpression": "dead_sub = :sub",
            "ExpressionAttributeValues": {":sub": {"S": subscription_id}},
            "Limit": limit,
        }
        if start is not None:
            dead_sort, pk, sk = start
            query["ExclusiveStartKey"] = {
                "dead_sub": {"S": subscription_id},
                "dead_sort": {"S": dead_sort},
                "pk": {"S": pk},
                "sk": {"S": sk},
            }
        with unavailable_as_domain_error():
            response = self.client.query(**query)
        deliveries = [_from_item(item) for item in response.get("Items", [])]
        last: Any = response.get("LastEvaluatedKey")
        return deliveries, (last["dead_sort"]["S"], last["pk"]["S"], last["sk"]["S"]) if last else None

    def redrive_many(self, tenant_id: str, subscription_id: str, event_ids: list[str], now_ms: int) -> list[bool]:
        """Make each dead delivery receivable again with a count of 0; False where it was not dead."""

        def redrive(event_id: str) -> bool:
            result = self._update(
                _key(tenant_id, event_id, subscription_id),
                "attribute_exists(dead_sub)",
                "REMOVE dead_sub, dead_sort, died_at SET lane = :lane, visible_at = :now, delivery_count = :zero",
                {
                    ":lane": {"S": lane(subscription_id, event_id, self.shards)},
                    ":now": {"N": str(now_ms)},
                    ":zero": {"N": "0"},
                },
            )
            return not isinstance(result, ConditionFailed)

        return self._each(redrive, event_ids)

    # Replay

    def replay_many(self, deliveries: list[Delivery], job_id: str, now_ms: int) -> list[bool]:
        """Make each delivery receivable at `now_ms` as a new one is (count 0, no lease, neither acknowledged nor
        dead), creating its item where there is none, unless the replay `job_id` did so already (False there): one
        conditional UpdateItem each, all at once. An existing item keeps the copy of the event the fan-out made."""

        def replay(delivery: Delivery) -> bool:
            # Every attribute of a new delivery, as the fan-out writes it (so the two cannot drift apart).
            fresh = [
                (name, value) for name, value in self._new_item(delivery, now_ms).items() if name not in _KEY_ATTRIBUTES
            ]
            sets = [
                f"#a{n} = if_not_exists(#a{n}, :a{n})" if name in _AS_CREATED else f"#a{n} = :a{n}"
                for n, (name, _) in enumerate(fresh)
            ]
            try:
                with unavailable_as_domain_error():
                    self.client.update_item(
                        TableName=self.table,
                        Key=_key(delivery.tenant_id, delivery.event_id, delivery.subscription_id),
                        ConditionExpression="attribute_not_exists(replayed_by) OR replayed_by <> :job",
                        UpdateExpression=f"SET replayed_by = :job, {', '.join(sets)} REMOVE {', '.join(_LATER)}",
                        ExpressionAttributeNames={f"#a{n}": name for n, (name, _) in enumerate(fresh)},
                        ExpressionAttributeValues={
                            ":job": {"S": job_id},
                            **{f":a{n}": value for n, (_, value) in enumerate(fresh)},
                        },
                    )
            except ClientError as exc:
                if failed_condition(exc):
                    return False
                raise
            return True

        return self._each(replay, deliveries)
