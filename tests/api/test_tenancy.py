"""A tenant never sees, acknowledges or deletes another tenant's events: they answer as unknown ids do."""

from tests.support import assert_problem, new_event


def test_other_tenants_event_is_invisible_and_unchanged(call, make_api_key):
    owner, _ = make_api_key()
    stranger, _ = make_api_key()
    event_id = call("POST", "/v1/events", key=owner, body=new_event()).json["event_id"]

    assert_problem(call("GET", f"/v1/events/{event_id}", key=stranger), 404)
    assert_problem(call("POST", f"/v1/events/{event_id}/ack", key=stranger), 404)
    assert call("DELETE", f"/v1/events/{event_id}", key=stranger).status == 200
    assert call("GET", "/v1/inbox", key=stranger).json["events"] == []

    event = call("GET", f"/v1/events/{event_id}", key=owner).json
    assert event["status"] == "pending"
    assert [e["event_id"] for e in call("GET", "/v1/inbox", key=owner).json["events"]] == [event_id]


def test_same_idempotency_key_in_two_tenants_makes_two_events(call, make_api_key):
    first, _ = make_api_key()
    second, _ = make_api_key()
    headers = {"Idempotency-Key": "order-42"}
    a = call("POST", "/v1/events", key=first, body=new_event(), headers=headers).json["event_id"]
    b = call("POST", "/v1/events", key=second, body=new_event(), headers=headers).json["event_id"]
    assert a != b
    assert call("GET", f"/v1/events/{a}", key=second).status == 404


def test_other_tenants_cursor_is_400(call, make_api_key):
    owner, _ = make_api_key()
    stranger, _ = make_api_key()
    for _ in range(3):
        call("POST", "/v1/events", key=owner, body=new_event())
    cursor = call("GET", "/v1/inbox", key=owner, query={"limit": "1"}).json["next_cursor"]
    assert cursor
    assert_problem(call("GET", "/v1/inbox", key=stranger, query={"cursor": cursor}), 400, "/problems/invalid-cursor")
