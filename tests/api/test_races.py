"""State changes are single conditional writes: concurrent requests cannot both win."""

import json
from concurrent.futures import ThreadPoolExecutor

import awsgi

from tests.conftest import new_event, rest_event
from triggers.http.app import create_app
from triggers.http.wsgi import WsgiAdapter


def run_concurrently(events):
    """Each request on its own app instance and thread, as concurrent Lambda containers would run them."""
    apps = [WsgiAdapter(create_app()) for _ in events]
    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        return list(pool.map(lambda pair: awsgi.response(pair[0], pair[1], None), zip(apps, events, strict=True)))


def test_two_concurrent_acks_give_one_200_and_one_409(call, make_api_key):
    key, _ = make_api_key()
    for _ in range(5):
        event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
        ack = rest_event("POST", f"/v1/events/{event_id}/ack", headers={"X-API-Key": key})
        results = run_concurrently([ack, json.loads(json.dumps(ack))])
        assert sorted(result["statusCode"] for result in results) == ["200", "409"]
        assert call("GET", f"/v1/events/{event_id}", key=key).json["status"] == "acknowledged"
