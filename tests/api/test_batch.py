"""POST /v1/events/batch through the Lambda handler: each item's outcome in request order, each stored whole or not
at all, one's failure undoing no other."""

import json

from tests.support import assert_problem, new_event, unique

PROBLEM_ITEM_FIELDS = {"type", "title", "status", "detail"}


def _inbox_ids(call, key) -> list[str]:
    return [event["event_id"] for event in call("GET", "/v1/inbox", key=key, query={"limit": "100"}).json["events"]]


def test_a_batch_stores_each_event_and_answers_in_request_order(call, make_api_key):
    key, _ = make_api_key()
    items = [new_event(payload={"n": n}) for n in range(3)]
    response = call("POST", "/v1/events/batch", key=key, body={"events": items})
    assert response.status == 200
    assert response.json["request_id"] == response.headers["x-request-id"]
    results = response.json["results"]
    assert [result["status"] for result in results] == [201, 201, 201]
    for n, result in enumerate(results):
        event = call("GET", f"/v1/events/{result['event_id']}", key=key).json
        assert event["payload"] == {"n": n} and event["created_at"] == result["created_at"]
    assert sorted(_inbox_ids(call, key)) == sorted(result["event_id"] for result in results)  # written at once


def test_a_failed_item_undoes_no_other_and_is_not_stored(call, make_api_key):
    key, _ = make_api_key()
    taken = unique("taken")
    call("POST", "/v1/events", key=key, body=new_event(payload={"first": True}), headers={"Idempotency-Key": taken})
    items = [
        new_event(payload={"n": 1}),
        new_event(idempotency_key=taken),  # another body under a used key
        new_event(ttl_seconds=31 * 86400),  # over the stage's 30 days
        new_event(payload={"n": "NUMBERS"}),  # too large as stored: 1e15 is stored as 1000000000000000.0
        new_event(payload={"n": 2}),
    ]
    body = json.dumps({"events": items}).replace('"NUMBERS"', "[" + ",".join(["1e15"] * 45_000) + "]")
    assert len(body) < 256 * 1024
    results = call("POST", "/v1/events/batch", key=key, body=body).json["results"]
    assert [result["status"] for result in results] == [201, 422, 422, 413, 201]
    for result, type_ in zip(
        results[1:4],
        ["/problems/idempotency-key-reused", "/problems/ttl-too-long", "/problems/payload-too-large"],
        strict=True,
    ):
        assert set(result["error"]) == PROBLEM_ITEM_FIELDS
        assert result["error"]["type"] == type_ and result["error"]["status"] == result["status"]
        assert "event_id" not in result
    assert "2592000" in results[2]["error"]["detail"]
    stored = _inbox_ids(call, key)
    assert results[0]["event_id"] in stored and results[4]["event_id"] in stored
    assert len(stored) == 3  # the one created before, and the two good items


def test_a_retried_batch_replays_each_keyed_item_and_stores_nothing_new(call, make_api_key):
    key, _ = make_api_key()
    body = {"events": [new_event(idempotency_key=unique("k")) for _ in range(5)]}
    first = call("POST", "/v1/events/batch", key=key, body=body).json["results"]
    again = call("POST", "/v1/events/batch", key=key, body=body).json["results"]
    assert [r["status"] for r in first] == [201] * 5 and [r["status"] for r in again] == [200] * 5
    assert [(r["event_id"], r["created_at"]) for r in again] == [(r["event_id"], r["created_at"]) for r in first]
    assert sorted(_inbox_ids(call, key)) == sorted(r["event_id"] for r in first)
    # A batch item's key is the Idempotency-Key of a single create: the single retry answers the same event.
    single = call("POST", "/v1/events", key=key, body=_without_key(body["events"][0]), headers=_key_of(body, 0))
    assert single.status == 201 and single.json["event_id"] == first[0]["event_id"]


def _without_key(item: dict) -> dict:
    return {name: value for name, value in item.items() if name != "idempotency_key"}


def _key_of(body: dict, index: int) -> dict:
    return {"Idempotency-Key": body["events"][index]["idempotency_key"]}


def test_items_sharing_a_key_answer_as_retries_of_the_first(call, make_api_key):
    key, _ = make_api_key()
    shared = unique("shared")
    same = new_event(idempotency_key=shared)
    items = [same, dict(same), new_event(idempotency_key=shared), dict(same)]
    results = call("POST", "/v1/events/batch", key=key, body={"events": items}).json["results"]
    assert [result["status"] for result in results] == [201, 200, 422, 200]
    assert results[1]["event_id"] == results[3]["event_id"] == results[0]["event_id"]
    assert _inbox_ids(call, key) == [results[0]["event_id"]]


def test_ttl_seconds_sets_each_events_expiry(call, make_api_key):
    key, _ = make_api_key()
    items = [new_event(ttl_seconds=60), new_event()]
    results = call("POST", "/v1/events/batch", key=key, body={"events": items}).json["results"]
    short, default = (call("GET", f"/v1/events/{r['event_id']}", key=key).json for r in results)
    assert _seconds_kept(short) == 60
    assert _seconds_kept(default) == 30 * 86400


def _seconds_kept(event: dict) -> int:
    from datetime import datetime

    created = datetime.fromisoformat(event["created_at"]).timestamp()
    return round(datetime.fromisoformat(event["expires_at"]).timestamp() - int(created))


def test_a_batch_that_does_not_match_its_schema_is_400_and_stores_nothing(call, make_api_key):
    key, _ = make_api_key()
    bad_bodies = [
        {"events": []},
        {"events": [new_event() for _ in range(101)]},
        {"events": [new_event(), new_event(source="has space")]},
        {"events": [new_event(), {"source": "billing"}]},
        {"events": [new_event(ttl_seconds=59)]},
        {"events": [new_event(unexpected=True)]},
        [new_event()],
    ]
    for body in bad_bodies:
        assert_problem(call("POST", "/v1/events/batch", key=key, body=body), 400)
    assert _inbox_ids(call, key) == []


def test_a_batch_over_256_kib_is_413(call, make_api_key):
    key, _ = make_api_key()
    body = {"events": [new_event(payload={"blob": "x" * (64 * 1024)}) for _ in range(4)]}
    assert len(json.dumps(body)) > 256 * 1024
    assert_problem(call("POST", "/v1/events/batch", key=key, body=body), 413, "/problems/payload-too-large")
    assert _inbox_ids(call, key) == []


def test_a_hundred_items_are_stored_once_each(call, make_api_key):
    key, _ = make_api_key()
    body = {"events": [new_event(payload={"n": n}) for n in range(100)]}
    results = call("POST", "/v1/events/batch", key=key, body=body).json["results"]
    assert [r["status"] for r in results] == [201] * 100
    assert sorted(_inbox_ids(call, key)) == sorted(r["event_id"] for r in results)


def test_a_hundred_items_under_one_key_cost_one_write(call, make_api_key, settings, dynamodb_client):
    """Only the first item of a key is written; the others are answered from it (same content: 200; other: 422)."""
    key, _ = make_api_key()
    shared = unique("one-key")
    same = new_event(idempotency_key=shared)
    items = [dict(same) for _ in range(60)] + [new_event(idempotency_key=shared) for _ in range(40)]
    results = call("POST", "/v1/events/batch", key=key, body={"events": items}).json["results"]
    assert [r["status"] for r in results] == [201] + [200] * 59 + [422] * 40
    assert {r["event_id"] for r in results[:60]} == {results[0]["event_id"]}
    assert _inbox_ids(call, key) == [results[0]["event_id"]]
