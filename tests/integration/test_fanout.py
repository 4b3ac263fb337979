"""The fan-out function, fed the events table's real stream records (read from moto) as Lambda feeds them."""

from tests.support import new_event
from triggers.workers import fanout_handler


def subscribe(call, key, **body) -> str:
    response = call("POST", "/v1/subscriptions", key=key, body={"name": "worker", **body})
    assert response.status == 201
    return response.json["subscription_id"]


def receive(call, key, subscription_id) -> list[dict]:
    response = call("POST", f"/v1/subscriptions/{subscription_id}/receive", key=key, body={"max_events": 100})
    assert response.status == 200
    return response.json["deliveries"]


def deliveries_of(dynamodb_client, settings, tenant, event_id) -> list[str]:
    items = dynamodb_client.query(
        TableName=settings.deliveries_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{tenant}#{event_id}"}},
        ConsistentRead=True,
    )["Items"]
    return sorted(item["sk"]["S"] for item in items)


def test_a_replayed_batch_creates_no_second_delivery(call, make_api_key, stream):
    key, _ = make_api_key()
    subscription = subscribe(call, key)
    call("POST", "/v1/events", key=key, body=new_event())
    records = stream.pump()
    (delivery,) = receive(call, key, subscription)
    ack = {"lease_tokens": [delivery["lease_token"]]}
    assert call("POST", f"/v1/subscriptions/{subscription}/ack", key=key, body=ack).json["results"][0]["outcome"] == (
        "acknowledged"
    )
    assert stream.handler({"Records": records}, None) == {"batchItemFailures": []}  # Lambda retries the batch
    assert receive(call, key, subscription) == []


def test_a_fan_out_failing_half_way_heals_on_retry(call, make_api_key, stream, dynamodb_client, settings):
    key, tenant = make_api_key()
    subscriptions = sorted(subscribe(call, key) for _ in range(3))
    event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
    records = stream.records()
    puts = []

    def fail_the_second_put(params, **_):
        if params.get("TableName") == settings.deliveries_table:
            puts.append(1)
            if len(puts) == 2:
                raise ConnectionResetError("the network went away")

    dynamodb_client.meta.events.register("before-parameter-build.dynamodb.PutItem", fail_the_second_put)
    try:
        failed = stream.handler({"Records": records}, None)
    finally:
        dynamodb_client.meta.events.unregister("before-parameter-build.dynamodb.PutItem", fail_the_second_put)
    (event_record,) = [r for r in records if r["dynamodb"].get("NewImage", {}).get("event_id", {}).get("S")]
    assert failed == {"batchItemFailures": [{"itemIdentifier": event_record["dynamodb"]["SequenceNumber"]}]}
    assert len(deliveries_of(dynamodb_client, settings, tenant, event_id)) < 3
    assert stream.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert deliveries_of(dynamodb_client, settings, tenant, event_id) == subscriptions
    for subscription in subscriptions:
        assert [d["event"]["event_id"] for d in receive(call, key, subscription)] == [event_id]


def test_records_that_are_not_new_events_change_nothing(call, make_api_key, stream, dynamodb_client, settings):
    key, tenant = make_api_key()
    subscription = subscribe(call, key)
    body, headers = new_event(), {"Idempotency-Key": "fan-out"}
    event_id = call("POST", "/v1/events", key=key, body=body, headers=headers).json["event_id"]
    call("POST", f"/v1/events/{event_id}/ack", key=key)  # a MODIFY record: the inbox's ack is not a subscription's
    records = stream.pump()
    assert {r["eventName"] for r in records} == {"INSERT", "MODIFY"}
    assert deliveries_of(dynamodb_client, settings, tenant, event_id) == [subscription]  # the key's record: none


def test_one_event_to_k_subscriptions_is_one_query_and_k_conditional_puts(
    call, make_api_key, workers, dynamodb_client, stream
):
    key, _ = make_api_key()
    for _ in range(30):
        subscribe(call, key, filter={"sources": ["billing"]})
    subscribe(call, key, filter={"sources": ["payroll"]})  # not matching: no write
    call("POST", "/v1/events", key=key, body=new_event(source="billing"))
    records = stream.records()
    calls = []

    def count(model, **_):
        calls.append(model.name)

    dynamodb_client.meta.events.register("before-call.dynamodb", count)
    try:
        assert fanout_handler(workers.fanout)({"Records": records}, None) == {"batchItemFailures": []}
    finally:
        dynamodb_client.meta.events.unregister("before-call.dynamodb", count)
    # 25 puts are in flight at once: 1 + ceil(30 / 25) = 3 round trips in sequence.
    assert sorted(calls) == ["PutItem"] * 30 + ["Query"]
