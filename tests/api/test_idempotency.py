"""Idempotency-Key: a retry gets the original 201 and stores nothing; another body under the key is 422."""

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

from tests.support import assert_problem, expire, handler_for, new_event, rest_event


def test_retry_with_same_key_and_body_replays_the_original(call, make_api_key):
    key, _ = make_api_key()
    body = new_event()
    headers = {"Idempotency-Key": "retry-1"}
    first = call("POST", "/v1/events", key=key, body=body, headers=headers)
    second = call("POST", "/v1/events", key=key, body=body, headers=headers)
    assert first.status == second.status == 201
    assert {k: v for k, v in first.json.items() if k != "request_id"} == {
        k: v for k, v in second.json.items() if k != "request_id"
    }
    inbox = call("GET", "/v1/inbox", key=key).json["events"]
    assert [event["event_id"] for event in inbox] == [first.json["event_id"]]


def test_key_order_in_the_body_does_not_matter(call, make_api_key):
    key, _ = make_api_key()
    headers = {"Idempotency-Key": "order-insensitive"}
    first = call(
        "POST", "/v1/events", key=key, body='{"source":"a","event_type":"b","payload":{"x":1,"y":2}}', headers=headers
    )
    second = call(
        "POST", "/v1/events", key=key, body='{"payload":{"y":2,"x":1},"event_type":"b","source":"a"}', headers=headers
    )
    assert second.status == 201
    assert second.json["event_id"] == first.json["event_id"]


def test_same_key_with_another_body_is_422_and_changes_nothing(call, make_api_key):
    key, _ = make_api_key()
    headers = {"Idempotency-Key": "retry-2"}
    original = call("POST", "/v1/events", key=key, body=new_event(payload={"n": 1}), headers=headers).json
    response = call("POST", "/v1/events", key=key, body=new_event(payload={"n": 2}), headers=headers)
    assert_problem(response, 422, "/problems/idempotency-key-reused")
    assert call("GET", f"/v1/events/{original['event_id']}", key=key).json["payload"] == {"n": 1}


def test_replay_after_ack_still_returns_the_original_and_does_not_requeue(call, make_api_key):
    key, _ = make_api_key()
    body, headers = new_event(), {"Idempotency-Key": "retry-3"}
    event_id = call("POST", "/v1/events", key=key, body=body, headers=headers).json["event_id"]
    call("POST", f"/v1/events/{event_id}/ack", key=key)
    replay = call("POST", "/v1/events", key=key, body=body, headers=headers)
    assert replay.status == 201
    assert replay.json["event_id"] == event_id
    assert call("GET", "/v1/inbox", key=key).json["events"] == []


def test_after_delete_the_key_answers_as_before_and_creates_nothing(call, make_api_key):
    """A producer's retry that arrives after a consumer deleted the event gets the first answer, not a duplicate;
    another body under the key is still 422, never a new event under the deleted event's id."""
    key, _ = make_api_key()
    body, headers = new_event(), {"Idempotency-Key": "retry-4"}
    first = call("POST", "/v1/events", key=key, body=body, headers=headers).json
    call("DELETE", f"/v1/events/{first['event_id']}", key=key)
    retry = call("POST", "/v1/events", key=key, body=body, headers=headers)
    assert retry.status == 201
    assert (retry.json["event_id"], retry.json["created_at"]) == (first["event_id"], first["created_at"])
    assert_problem(call("POST", "/v1/events", key=key, body=new_event(), headers=headers), 422)
    assert call("GET", f"/v1/events/{first['event_id']}", key=key).status == 404
    assert call("GET", "/v1/inbox", key=key).json["events"] == []


def test_after_the_event_expires_the_key_is_remembered_and_ids_are_never_reused(
    call, make_api_key, settings, dynamodb_client
):
    key, tenant = make_api_key()
    headers = {"Idempotency-Key": "retry-5"}
    first = call("POST", "/v1/events", key=key, body=new_event(), headers=headers).json["event_id"]
    expire(dynamodb_client, settings.events_table, tenant, first)
    assert_problem(call("POST", "/v1/events", key=key, body=new_event(), headers=headers), 422)
    # Once the key's own record has expired too (at least 24 hours), the key makes a new event with a new id.
    records = dynamodb_client.query(
        TableName=settings.events_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{tenant}#idempotency#" + _sha256("retry-5")}},
    )["Items"]
    assert len(records) == 1 and int(records[0]["expires_at"]["N"]) >= time.time() + 24 * 3600 - 60
    dynamodb_client.update_item(
        TableName=settings.events_table,
        Key={"pk": records[0]["pk"]},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    again = call("POST", "/v1/events", key=key, body=new_event(payload={"new": True}), headers=headers)
    assert again.status == 201
    assert again.json["event_id"] != first
    assert call("GET", f"/v1/events/{again.json['event_id']}", key=key).json["payload"] == {"new": True}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_concurrent_creates_with_one_key_store_exactly_one_event(settings, make_api_key):
    key, _ = make_api_key()
    body = new_event()
    event = rest_event("POST", "/v1/events", body=body, headers={"X-API-Key": key, "Idempotency-Key": "race"})
    # Concurrent requests reach separate Lambda containers: each thread drives its own app, as they would.
    handlers = [handler_for(settings) for _ in range(16)]

    def post(handler):
        return handler(json.loads(json.dumps(event)), None)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, handlers))
    ids = {json.loads(result["body"])["event_id"] for result in results}
    assert {result["statusCode"] for result in results} == {"201"}
    assert len(ids) == 1
