"""Subscriptions through the Lambda handler: their lifecycle, and leasing their deliveries (fed by the fan-out
function from the events table's stream on moto)."""

import time
import uuid

import pytest

from tests.support import assert_problem, new_event, publish, receive, settle, subscribe
from triggers.domain import deliveries

UNKNOWN = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def tenant(make_api_key):
    key, _ = make_api_key()
    return key


def event_ids(created: list[dict]) -> list[str]:
    return [body["event_id"] for body in created]


def test_create_get_list_change_and_delete(call, tenant):
    created = call(
        "POST",
        "/v1/subscriptions",
        key=tenant,
        body={"name": "invoices", "filter": {"sources": ["billing"], "event_types": ["invoice.*"]}},
    )
    assert created.status == 201
    subscription = created.json
    assert created.headers["location"] == f"/dev/v1/subscriptions/{subscription['subscription_id']}"  # stage prefix
    assert subscription["max_deliveries"] == 5 and subscription["paused"] is False  # the spec's defaults
    assert subscription["filter"] == {"sources": ["billing"], "event_types": ["invoice.*"]}
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    assert call("GET", path, key=tenant).json["name"] == "invoices"
    changed = call("PATCH", path, key=tenant, body={"paused": True, "max_deliveries": 2})
    assert changed.status == 200
    assert (changed.json["paused"], changed.json["max_deliveries"]) == (True, 2)
    assert changed.json["filter"] == subscription["filter"]
    second = subscribe(call, tenant)
    first_page = call("GET", "/v1/subscriptions", key=tenant, query={"limit": "1"}).json
    assert len(first_page["subscriptions"]) == 1 and first_page["next_cursor"]
    rest = call("GET", "/v1/subscriptions", key=tenant, query={"limit": "1", "cursor": first_page["next_cursor"]})
    listed = {s["subscription_id"] for s in first_page["subscriptions"] + rest.json["subscriptions"]}
    assert listed == {subscription["subscription_id"], second["subscription_id"]}
    deleted = call("DELETE", path, key=tenant).json
    assert (deleted["subscription_id"], deleted["deleted"]) == (subscription["subscription_id"], True)
    assert_problem(call("GET", path, key=tenant), 404, "/problems/not-found")
    assert call("DELETE", path, key=tenant).status == 200  # idempotent


def test_another_tenants_subscription_is_404_everywhere(call, tenant, make_api_key):
    subscription = subscribe(call, tenant)
    other, _ = make_api_key()
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"paused": True}),
        ("POST", "/receive", {}),
        ("POST", "/ack", {"lease_tokens": [f"{UNKNOWN}.x"]}),
        ("GET", "/dead-letters", None),
        ("POST", "/redrive", {"all": True}),
    ]:
        assert_problem(call(method, path + suffix, key=other, body=body), 404)
    assert call("GET", path, key=tenant).json["paused"] is False
    assert call("GET", "/v1/subscriptions", key=other).json["subscriptions"] == []


def test_at_most_100_subscriptions_per_tenant(call, tenant):
    for _ in range(100):
        subscribe(call, tenant)
    assert_problem(call("POST", "/v1/subscriptions", key=tenant, body={"name": "one more"}), 409)
    first = call("GET", "/v1/subscriptions", key=tenant, query={"limit": "1"}).json["subscriptions"][0]
    call("DELETE", f"/v1/subscriptions/{first['subscription_id']}", key=tenant)
    subscribe(call, tenant)


def test_matching_events_are_delivered_once_oldest_first(call, tenant, stream):
    invoices = subscribe(call, tenant, filter={"event_types": ["invoice.*"]})
    everything = subscribe(call, tenant)
    ids = event_ids(
        publish(
            call,
            tenant,
            stream,
            new_event(event_type="invoice.paid"),
            new_event(event_type="order.created"),
            new_event(event_type="invoice.voided"),
        )
    )
    got = receive(call, tenant, invoices, max_events=10)
    assert [d["event"]["event_id"] for d in got] == [ids[0], ids[2]]
    assert all(d["delivery_count"] == 1 for d in got)
    as_read = call("GET", f"/v1/events/{ids[0]}", key=tenant).json
    del as_read["request_id"]
    assert got[0]["event"] == as_read  # the event as GET /v1/events/{id} shows it
    assert receive(call, tenant, invoices) == []  # leased: invisible to every other receive
    assert [d["event"]["event_id"] for d in receive(call, tenant, everything)] == ids
    assert settle(call, tenant, invoices, "ack", {"lease_tokens": [d["lease_token"] for d in got]}) == [
        "acknowledged",
        "acknowledged",
    ]


def test_events_from_before_the_subscription_are_not_delivered(call, tenant, stream):
    publish(call, tenant, stream, new_event())
    subscription = subscribe(call, tenant)
    assert receive(call, tenant, subscription) == []


def test_an_ended_lease_makes_the_delivery_visible_again_and_its_old_token_lost(call, tenant, stream):
    subscription = subscribe(call, tenant)
    publish(call, tenant, stream, new_event())
    (first,) = receive(call, tenant, subscription, visibility_timeout=1)
    time.sleep(1.1)
    (second,) = receive(call, tenant, subscription, visibility_timeout=30)
    assert second["delivery_count"] == 2
    assert second["event"]["event_id"] == first["event"]["event_id"]
    assert settle(call, tenant, subscription, "ack", {"lease_tokens": [first["lease_token"]]}) == ["lease_lost"]
    assert settle(call, tenant, subscription, "ack", {"lease_tokens": [second["lease_token"]]}) == ["acknowledged"]
    assert settle(call, tenant, subscription, "ack", {"lease_tokens": [second["lease_token"]]}) == ["not_found"]
    time.sleep(1.1)
    assert receive(call, tenant, subscription) == []  # an acknowledged delivery never comes back


def test_nack_releases_and_extend_keeps_a_lease(call, tenant, stream):
    subscription = subscribe(call, tenant)
    publish(call, tenant, stream, new_event(), new_event())
    one, two = receive(call, tenant, subscription, visibility_timeout=1)
    assert settle(call, tenant, subscription, "nack", {"items": [{"lease_token": one["lease_token"]}]}) == ["released"]
    assert settle(
        call,
        tenant,
        subscription,
        "extend",
        {"items": [{"lease_token": two["lease_token"], "visibility_timeout": 60}]},
    ) == ["extended"]
    time.sleep(1.1)
    again = receive(call, tenant, subscription)
    assert [d["event"]["event_id"] for d in again] == [one["event"]["event_id"]]  # `two` is still leased
    assert again[0]["delivery_count"] == 2
    outcomes = settle(
        call,
        tenant,
        subscription,
        "extend",
        {
            "items": [
                {"lease_token": one["lease_token"], "visibility_timeout": 5},
                {"lease_token": f"{UNKNOWN}.nope", "visibility_timeout": 5},
                {"lease_token": "garbage", "visibility_timeout": 5},
            ]
        },
    )
    assert outcomes == ["lease_lost", "not_found", "not_found"]


def test_a_delivery_received_max_deliveries_times_dies_and_redrives(call, tenant, stream):
    subscription = subscribe(call, tenant, max_deliveries=1)
    (event_id,) = event_ids(publish(call, tenant, stream, new_event()))
    assert len(receive(call, tenant, subscription, visibility_timeout=1)) == 1
    time.sleep(1.1)
    assert receive(call, tenant, subscription) == []  # dead, not received again
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    dead = call("GET", path + "/dead-letters", key=tenant).json
    assert [(d["event_id"], d["delivery_count"]) for d in dead["dead_letters"]] == [(event_id, 1)]
    assert dead["dead_letters"][0]["event"]["event_id"] == event_id and dead["next_cursor"] is None
    redriven = call("POST", path + "/redrive", key=tenant, body={"event_ids": [event_id, UNKNOWN]})
    assert [r["outcome"] for r in redriven.json["results"]] == ["redriven", "not_found"]
    assert call("GET", path + "/dead-letters", key=tenant).json["dead_letters"] == []
    (again,) = receive(call, tenant, subscription)
    assert again["delivery_count"] == 1


def test_redrive_all_runs_as_a_job(call, tenant, stream, run_jobs):
    subscription = subscribe(call, tenant, max_deliveries=1)
    ids = event_ids(publish(call, tenant, stream, *[new_event() for _ in range(3)]))
    assert len(receive(call, tenant, subscription, visibility_timeout=1)) == 3
    time.sleep(1.1)
    assert receive(call, tenant, subscription) == []
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    started = call("POST", path + "/redrive", key=tenant, body={"all": True})
    assert started.status == 202
    job = started.json
    assert started.headers["location"] == f"/dev/v1/jobs/{job['job_id']}"
    assert (job["kind"], job["state"], job["processed"]) == ("redrive", "running", 0)
    assert run_jobs() >= 1
    done = call("GET", f"/v1/jobs/{job['job_id']}", key=tenant).json
    assert (done["state"], done["processed"], done["errors"]) == ("succeeded", 3, [])
    assert sorted(d["event"]["event_id"] for d in receive(call, tenant, subscription)) == sorted(ids)


def test_a_paused_subscription_collects_but_hands_out_nothing(call, tenant, stream):
    subscription = subscribe(call, tenant)
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    call("PATCH", path, key=tenant, body={"paused": True})
    publish(call, tenant, stream, new_event())
    assert receive(call, tenant, subscription) == []
    call("PATCH", path, key=tenant, body={"paused": False})
    assert len(receive(call, tenant, subscription)) == 1


def test_deleting_an_event_removes_it_from_every_subscription(call, tenant, stream):
    subscription = subscribe(call, tenant)
    (event_id,) = event_ids(publish(call, tenant, stream, new_event()))
    call("DELETE", f"/v1/events/{event_id}", key=tenant)
    stream.pump()
    assert receive(call, tenant, subscription) == []


def test_long_polling_waits_for_nothing_and_ends(call, tenant):
    subscription = subscribe(call, tenant)
    started = time.monotonic()
    assert receive(call, tenant, subscription, wait_seconds=1) == []
    assert time.monotonic() - started >= 1


def test_unknown_subscription_and_job_are_404(call, tenant):
    assert_problem(call("POST", f"/v1/subscriptions/{UNKNOWN}/receive", key=tenant, body={}), 404)
    assert_problem(call("GET", f"/v1/jobs/{uuid.uuid4()}", key=tenant), 404)


def test_the_backlog_counts_ready_and_leased_deliveries_and_dates_the_oldest_ready_one(call, tenant, stream):
    subscription = subscribe(call, tenant)
    path = f"/v1/subscriptions/{subscription['subscription_id']}/backlog"
    empty = call("GET", path, key=tenant)
    assert empty.status == 200, empty.body
    assert {k: empty.json[k] for k in ("ready", "leased", "oldest_ready_at")} == {
        "ready": 0,
        "leased": 0,
        "oldest_ready_at": None,
    }
    publish(call, tenant, stream, *(new_event() for _ in range(3)))
    first_created = call("GET", "/v1/events", key=tenant, query={"limit": "3"}).json["events"][-1]["created_at"]
    receive(call, tenant, subscription, max_events=1)
    backlog = call("GET", path, key=tenant).json
    assert (backlog["subscription_id"], backlog["ready"], backlog["leased"]) == (subscription["subscription_id"], 2, 1)
    assert backlog["complete"] is True
    # The oldest ready one is the second event: the first is leased. Each became receivable at its creation.
    assert first_created <= backlog["oldest_ready_at"]
    assert backlog["oldest_ready_at"].endswith("Z")


def test_the_backlog_stops_counting_at_its_limit_and_says_so(call, tenant, stream, monkeypatch):
    """Counting reads the index: a backlog of millions must not make a request of millions of reads."""
    monkeypatch.setattr(deliveries, "BACKLOG_COUNT_LIMIT", 2)
    subscription = subscribe(call, tenant)
    publish(call, tenant, stream, *(new_event() for _ in range(3)))
    backlog = call("GET", f"/v1/subscriptions/{subscription['subscription_id']}/backlog", key=tenant).json
    assert (backlog["ready"], backlog["leased"], backlog["complete"]) == (2, 0, False)


def test_the_backlog_of_another_tenants_subscription_is_404(call, tenant, make_api_key):
    subscription = subscribe(call, tenant)
    other, _ = make_api_key()
    assert_problem(call("GET", f"/v1/subscriptions/{subscription['subscription_id']}/backlog", key=other), 404)


def test_an_events_deliveries_say_which_subscriptions_it_went_to_and_where_each_stands(
    call, tenant, stream, make_api_key
):
    acked = subscribe(call, tenant, filter={"event_types": ["invoice.*"]})
    leased = subscribe(call, tenant)
    pending = subscribe(call, tenant)
    dying = subscribe(call, tenant, max_deliveries=1)
    subscribe(call, tenant, filter={"event_types": ["order.*"]})  # does not match: not listed
    (event_id,) = event_ids(publish(call, tenant, stream, new_event(event_type="invoice.paid")))
    (token,) = [d["lease_token"] for d in receive(call, tenant, acked)]
    assert settle(call, tenant, acked, "ack", {"lease_tokens": [token]}) == ["acknowledged"]
    assert len(receive(call, tenant, leased)) == 1
    assert len(receive(call, tenant, dying, visibility_timeout=1)) == 1
    time.sleep(1.1)
    assert receive(call, tenant, dying) == []  # dead now

    response = call("GET", f"/v1/events/{event_id}/deliveries", key=tenant)
    assert response.status == 200, response.body
    states = {d["subscription_id"]: (d["state"], d["delivery_count"]) for d in response.json["deliveries"]}
    assert states == {
        acked["subscription_id"]: ("acknowledged", 1),
        leased["subscription_id"]: ("leased", 1),
        pending["subscription_id"]: ("pending", 0),
        dying["subscription_id"]: ("dead", 1),
    }
    assert [d["subscription_id"] for d in response.json["deliveries"]] == sorted(states)
    other, _ = make_api_key()
    # Another tenant's event, an unknown one and a deleted one do not exist for this key: 404, as GET /v1/events/{id}.
    assert_problem(call("GET", f"/v1/events/{event_id}/deliveries", key=other), 404)
    assert_problem(call("GET", f"/v1/events/{UNKNOWN}/deliveries", key=tenant), 404)
    assert call("DELETE", f"/v1/events/{event_id}", key=tenant).status == 200
    assert_problem(call("GET", f"/v1/events/{event_id}/deliveries", key=tenant), 404)
