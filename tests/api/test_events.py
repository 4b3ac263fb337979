"""Each events operation through the Lambda handler, success and documented errors."""

import uuid

from tests.support import assert_problem, new_event


def test_create_answers_201_with_location_and_pending_status(call, make_api_key):
    key, _ = make_api_key()
    response = call("POST", "/v1/events", key=key, body=new_event())
    assert response.status == 201
    body = response.json
    assert body["status"] == "pending"
    assert uuid.UUID(body["event_id"])
    assert body["created_at"].endswith("Z")
    assert body["request_id"] == response.headers["x-request-id"]
    # The stage prefix is back in links on execute-api hosts.
    assert response.headers["location"] == f"/dev/v1/events/{body['event_id']}"


def test_get_returns_the_event_without_internal_fields(call, make_api_key):
    key, _ = make_api_key()
    payload = {"nested": {"list": [1, 2.5, "x", None, True]}, "unicode": "ünï €"}
    created = call("POST", "/v1/events", key=key, body=new_event(payload=payload)).json
    response = call("GET", f"/v1/events/{created['event_id']}", key=key)
    assert response.status == 200
    event = response.json
    assert event["payload"] == payload
    assert event["status"] == "pending"
    assert event["acknowledged_at"] is None
    assert event["created_at"] == created["created_at"]
    assert set(event) == {
        "event_id",
        "source",
        "event_type",
        "payload",
        "status",
        "created_at",
        "acknowledged_at",
        "expires_at",
        "request_id",
    }


def test_get_unknown_event_is_404(call, make_api_key):
    key, _ = make_api_key()
    assert_problem(call("GET", f"/v1/events/{uuid.uuid4()}", key=key), 404, "/problems/not-found")


def test_malformed_event_id_is_400(call, make_api_key):
    key, _ = make_api_key()
    assert_problem(call("GET", "/v1/events/not-a-uuid", key=key), 400)


def test_ack_then_ack_again_is_409(call, make_api_key):
    key, _ = make_api_key()
    event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
    first = call("POST", f"/v1/events/{event_id}/ack", key=key)
    assert first.status == 200
    assert first.json["status"] == "acknowledged"
    assert first.json["acknowledged_at"].endswith("Z")
    assert_problem(call("POST", f"/v1/events/{event_id}/ack", key=key), 409, "/problems/already-acknowledged")
    event = call("GET", f"/v1/events/{event_id}", key=key).json
    assert event["status"] == "acknowledged"
    assert event["acknowledged_at"] == first.json["acknowledged_at"]


def test_ack_unknown_event_is_404(call, make_api_key):
    key, _ = make_api_key()
    assert_problem(call("POST", f"/v1/events/{uuid.uuid4()}/ack", key=key), 404)


def test_delete_is_idempotent(call, make_api_key):
    key, _ = make_api_key()
    event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
    for _ in range(2):
        response = call("DELETE", f"/v1/events/{event_id}", key=key)
        assert response.status == 200
        assert response.json["deleted"] is True
        assert response.json["event_id"] == event_id
    assert call("GET", f"/v1/events/{event_id}", key=key).status == 404
    assert call("DELETE", f"/v1/events/{uuid.uuid4()}", key=key).status == 200


def test_create_validation_errors_are_400(call, make_api_key):
    key, _ = make_api_key()
    bad_bodies = [
        {},
        new_event(source=""),
        new_event(source="x" * 257),
        new_event(source="has#fragment"),
        new_event(source="wild*card"),
        new_event(ttl_seconds=59),
        new_event(source="has space"),
        new_event(event_type=None),
        new_event(payload=[1, 2]),
        new_event(payload="text"),
        new_event(unexpected="field"),
    ]
    for body in bad_bodies:
        assert_problem(call("POST", "/v1/events", key=key, body=body), 400)


def test_invalid_json_is_400_and_wrong_content_type_is_415(call, make_api_key):
    key, _ = make_api_key()
    assert_problem(call("POST", "/v1/events", key=key, body="{not json"), 400)
    response = call("POST", "/v1/events", key=key, body="source=x", headers={"Content-Type": "text/plain"})
    assert_problem(response, 415)


def test_body_over_256_kib_is_413(call, make_api_key):
    key, _ = make_api_key()
    body = new_event(payload={"blob": "x" * (256 * 1024)})
    assert_problem(call("POST", "/v1/events", key=key, body=body), 413, "/problems/payload-too-large")


def test_body_of_exactly_256_kib_is_accepted(call, make_api_key):
    key, _ = make_api_key()
    import json

    body = new_event(payload={"blob": ""})
    body["payload"]["blob"] = "x" * (256 * 1024 - len(json.dumps(body)))
    assert len(json.dumps(body)) == 256 * 1024
    assert call("POST", "/v1/events", key=key, body=body).status == 201
