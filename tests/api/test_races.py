"""State changes are single conditional writes: concurrent requests cannot both win."""

import json
from concurrent.futures import ThreadPoolExecutor

from tests.support import handler_for, new_event, rest_event


def run_concurrently(settings, events):
    """Each request on its own app instance and thread, as concurrent Lambda containers would run them."""
    handlers = [handler_for(settings) for _ in events]
    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        return list(pool.map(lambda pair: pair[0](pair[1], None), zip(handlers, events, strict=True)))


def test_two_concurrent_acks_give_one_200_and_one_409(call, make_api_key, settings):
    key, _ = make_api_key()
    for _ in range(5):
        event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
        ack = rest_event("POST", f"/v1/events/{event_id}/ack", headers={"X-API-Key": key})
        results = run_concurrently(settings, [ack, json.loads(json.dumps(ack))])
        assert sorted(result["statusCode"] for result in results) == ["200", "409"]
        assert call("GET", f"/v1/events/{event_id}", key=key).json["status"] == "acknowledged"


def test_concurrent_deletes_both_answer_200_and_the_event_is_gone(call, make_api_key, settings):
    key, _ = make_api_key()
    event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
    delete = rest_event("DELETE", f"/v1/events/{event_id}", headers={"X-API-Key": key})
    results = run_concurrently(settings, [delete, json.loads(json.dumps(delete))])
    assert [result["statusCode"] for result in results] == ["200", "200"]
    assert call("GET", f"/v1/events/{event_id}", key=key).status == 404


def test_ack_racing_delete_ends_deleted_and_answers_match(call, make_api_key, settings):
    key, _ = make_api_key()
    for _ in range(5):
        event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
        ack = rest_event("POST", f"/v1/events/{event_id}/ack", headers={"X-API-Key": key})
        delete = rest_event("DELETE", f"/v1/events/{event_id}", headers={"X-API-Key": key})
        ack_result, delete_result = run_concurrently(settings, [ack, delete])
        assert delete_result["statusCode"] == "200"
        assert ack_result["statusCode"] in ("200", "404")  # it ran before or after the delete
        assert call("GET", f"/v1/events/{event_id}", key=key).status == 404
        assert call("GET", "/v1/inbox", key=key).json["events"] == []
