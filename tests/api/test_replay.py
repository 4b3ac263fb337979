"""Replaying a time window to a subscription, through the Lambda handler: the request starts a job, the jobs function
runs it from the jobs queue on moto (`run_jobs`), and the fan-out function makes the deliveries it starts from
(`stream`). A push subscription's replay is pushed by the deliver function to a real HTTP receiver."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tests.support import assert_problem, drain, expire, invoke, new_event, publish, receive, settle, subscribe
from triggers.domain.events import utc_now
from triggers.domain.jobs import JobService
from triggers.domain.model import Delivery, format_time
from triggers.workers import jobs_handler

UNKNOWN = "0f8fad5b-d9cb-469f-a165-70867728950e"


def receive_all_and_ack(call, key, subscription) -> set[str]:
    """Everything the subscription hands out now, acknowledged; the event ids (a replay makes its deliveries
    visible at one moment: in no particular order)."""
    got = receive(call, key, subscription)
    if got:
        assert settle(call, key, subscription, "ack", {"lease_tokens": [d["lease_token"] for d in got]}) == [
            "acknowledged"
        ] * len(got)
    return {d["event"]["event_id"] for d in got}


def replay(call, key, subscription, window: dict) -> dict:
    response = call("POST", f"/v1/subscriptions/{subscription['subscription_id']}/replay", key=key, body=window)
    assert response.status == 202, response.body
    job = response.json
    assert response.headers["location"] == f"/dev/v1/jobs/{job['job_id']}"
    assert (job["kind"], job["state"], job["processed"], job["examined"]) == ("replay", "running", 0, 0)
    return job


def job_of(call, key, job: dict) -> dict:
    response = call("GET", f"/v1/jobs/{job['job_id']}", key=key)
    assert response.status == 200, response.body
    return response.json


def _ago(**delta) -> str:
    return format_time(datetime.now(UTC) - timedelta(**delta))


@pytest.fixture
def tenant(make_api_key) -> tuple[str, str]:
    return make_api_key()


def test_every_state_is_delivered_once_more(call, tenant, stream, run_jobs):
    """Acknowledged, dead, leased, waiting after a nack, and never received: each comes back once, at once."""
    key, _ = tenant
    subscription = subscribe(call, key, max_deliveries=1)
    acked, dead = publish(call, key, stream, new_event(), new_event())
    received = receive(call, key, subscription, visibility_timeout=1)
    [token] = [d["lease_token"] for d in received if d["event"]["event_id"] == acked["event_id"]]
    assert settle(call, key, subscription, "ack", {"lease_tokens": [token]}) == ["acknowledged"]
    time.sleep(1.1)
    assert receive(call, key, subscription) == []  # received max_deliveries times: dead
    (leased,) = publish(call, key, stream, new_event())
    [held] = receive(call, key, subscription)
    (waiting,) = publish(call, key, stream, new_event())
    [nacked] = receive(call, key, subscription)
    items = [{"lease_token": nacked["lease_token"], "delay_seconds": 43200}]
    assert settle(call, key, subscription, "nack", {"items": items}) == ["released"]
    (untouched,) = publish(call, key, stream, new_event())
    path = f"/v1/subscriptions/{subscription['subscription_id']}"
    assert [d["event_id"] for d in call("GET", path + "/dead-letters", key=key).json["dead_letters"]] == [
        dead["event_id"]
    ]
    everything = [acked, dead, leased, waiting, untouched]

    job = replay(call, key, subscription, {"from": acked["created_at"]})
    assert job["window"]["from"] == acked["created_at"]
    assert run_jobs() >= 1
    done = job_of(call, key, job)
    assert (done["state"], done["examined"], done["processed"], done["errors"]) == ("succeeded", 5, 5, [])

    got = receive(call, key, subscription)
    assert sorted(d["event"]["event_id"] for d in got) == sorted(e["event_id"] for e in everything)
    assert {d["delivery_count"] for d in got} == {1}
    assert call("GET", path + "/dead-letters", key=key).json["dead_letters"] == []
    # The lease the replay ended is lost; the replay's own leases are what settle now.
    assert settle(call, key, subscription, "ack", {"lease_tokens": [held["lease_token"]]}) == ["lease_lost"]
    assert (
        settle(call, key, subscription, "ack", {"lease_tokens": [d["lease_token"] for d in got]})
        == ["acknowledged"] * 5
    )
    assert receive(call, key, subscription) == []  # once more, not more

    # Another replay of the same window: once more again.
    replay(call, key, subscription, {"from": acked["created_at"]})
    run_jobs()
    assert receive_all_and_ack(call, key, subscription) == {e["event_id"] for e in everything}


def test_a_window_holds_exactly_its_own_events_of_its_own_tenant(call, tenant, make_api_key, stream, run_jobs):
    key, _ = tenant
    other, _ = make_api_key()
    subscription = subscribe(call, key)
    theirs = subscribe(call, other)
    _before, first = publish(call, key, stream, new_event(), new_event())
    (foreign,) = publish(call, other, stream, new_event())  # inside the window's time, another tenant's
    last, _after = publish(call, key, stream, new_event(), new_event())
    assert len(receive_all_and_ack(call, key, subscription)) == 4
    assert receive_all_and_ack(call, other, theirs) == {foreign["event_id"]}

    job = replay(call, key, subscription, {"from": first["created_at"], "to": last["created_at"]})
    assert job["window"] == {"from": first["created_at"], "to": last["created_at"]}  # both ends included
    run_jobs()
    assert receive_all_and_ack(call, key, subscription) == {first["event_id"], last["event_id"]}
    done = job_of(call, key, job)
    assert (done["state"], done["examined"], done["processed"]) == ("succeeded", 2, 2)
    assert receive(call, other, theirs) == []


def test_the_subscriptions_filter_is_respected(call, tenant, stream, run_jobs):
    key, _ = tenant
    subscription = subscribe(call, key, filter={"sources": ["billing"], "event_types": ["invoice.*"]})
    start = format_time(datetime.now(UTC))
    publish(call, key, stream, new_event(event_type="order.created"), new_event(source="shop"))
    (wanted,) = publish(call, key, stream, new_event(event_type="invoice.sent"))
    assert receive_all_and_ack(call, key, subscription) == {wanted["event_id"]}
    job = replay(call, key, subscription, {"from": start})
    run_jobs()
    assert receive_all_and_ack(call, key, subscription) == {wanted["event_id"]}
    done = job_of(call, key, job)
    assert (done["examined"], done["processed"]) == (3, 1)


def test_an_event_from_before_the_subscription_is_delivered_and_an_expired_one_is_not(
    call, tenant, settings, dynamodb_client, run_jobs
):
    key, tenant_id = tenant
    older = call("POST", "/v1/events", key=key, body=new_event()).json
    expired = call("POST", "/v1/events", key=key, body=new_event()).json
    expire(dynamodb_client, settings.events_table, tenant_id, expired["event_id"])
    subscription = subscribe(call, key)
    assert receive(call, key, subscription) == []  # the fan-out delivers only what comes after a subscription
    job = replay(call, key, subscription, {"from": older["created_at"]})
    run_jobs()
    [got] = receive(call, key, subscription)
    assert (got["event"]["event_id"], got["delivery_count"]) == (older["event_id"], 1)
    assert got["event"]["payload"] == call("GET", f"/v1/events/{older['event_id']}", key=key).json["payload"]
    done = job_of(call, key, job)
    assert (done["state"], done["examined"], done["processed"]) == ("succeeded", 1, 1)


def test_a_delivery_a_replay_creates_holds_what_the_fan_out_writes(
    call, tenant, stream, settings, dynamodb_client, run_jobs
):
    key, tenant_id = tenant
    older = call("POST", "/v1/events", key=key, body=new_event()).json
    subscription = subscribe(call, key)
    (newer,) = publish(call, key, stream, new_event())
    job = replay(call, key, subscription, {"from": older["created_at"], "to": older["created_at"]})
    run_jobs()

    def item(event_id: str) -> dict:
        key = {"pk": {"S": f"{tenant_id}#{event_id}"}, "sk": {"S": subscription["subscription_id"]}}
        return dynamodb_client.get_item(TableName=settings.deliveries_table, Key=key, ConsistentRead=True)["Item"]

    replayed, fanned_out = item(older["event_id"]), item(newer["event_id"])
    assert replayed.pop("replayed_by") == {"S": job["job_id"]}
    assert set(replayed) == set(fanned_out)
    assert replayed["delivery_count"] == fanned_out["delivery_count"] == {"N": "0"}
    shown = call("GET", f"/v1/events/{older['event_id']}", key=key).json
    del shown["request_id"]
    assert json.loads(replayed["event"]["S"]) == shown  # the event as it is (a fan-out copies it as it was made)


def test_a_retried_or_duplicated_step_delivers_nothing_twice(
    call, tenant, stream, workers, settings, queue_client, run_jobs
):
    """A step whose Lambda died after it had replayed part of its page is run again whole (its message comes back),
    and SQS may deliver a message twice: neither delivers an event a second time for the same replay."""
    key, tenant_id = tenant
    subscription = subscribe(call, key)
    events = publish(call, key, stream, new_event(), new_event(), new_event())
    receive_all_and_ack(call, key, subscription)
    job = replay(call, key, subscription, {"from": events[0]["created_at"]})

    # The first try of step 0 replays two events, then dies before finishing the step; a consumer takes them.
    half = [workers.events.get_event(tenant_id, e["event_id"]) for e in events[:2]]
    assert workers.deliveries.replay(tenant_id, subscription["subscription_id"], half, job["job_id"]) == 2
    again = [Delivery.of(event, subscription["subscription_id"]) for event in half]
    now_ms = int(time.time() * 1000)
    assert workers.deliveries.store.replay_many(again, job["job_id"], now_ms) == [False, False]  # nothing twice
    assert receive_all_and_ack(call, key, subscription) == {e["event_id"] for e in events[:2]}

    assert run_jobs() >= 1  # step 0 again, whole
    assert receive_all_and_ack(call, key, subscription) == {events[2]["event_id"]}
    done = job_of(call, key, job)
    assert (done["state"], done["examined"], done["processed"]) == ("succeeded", 3, 3)

    # The same message once more (SQS delivers at least once): nothing changes.
    message = {"tenant_id": tenant_id, "job_id": job["job_id"], "step": 0, "cursor": None}
    url = queue_client.get_queue_url(QueueName=settings.jobs_queue)["QueueUrl"]
    queue_client.send_message(QueueUrl=url, MessageBody=json.dumps(message))
    assert run_jobs() >= 1
    assert receive(call, key, subscription) == []
    unchanged = job_of(call, key, job)
    assert {**unchanged, "request_id": None} == {**done, "request_id": None}


@pytest.fixture
def run_jobs_in_pages_of_two(settings, queue_client, workers):
    """run_jobs, with a jobs function whose steps take two events each (the composition root's services otherwise)."""
    jobs = JobService(workers.jobs.store, workers.jobs.queue, workers.deliveries, workers.events, utc_now, page=2)
    return lambda: drain(queue_client, settings.jobs_queue, jobs_handler(jobs))


def test_a_window_of_several_pages_is_replayed_a_step_a_page(call, tenant, stream, workers, run_jobs_in_pages_of_two):
    key, tenant_id = tenant
    subscription = subscribe(call, key)
    events = publish(call, key, stream, *[new_event() for _ in range(5)])
    receive_all_and_ack(call, key, subscription)
    job = replay(call, key, subscription, {"from": events[0]["created_at"]})
    assert run_jobs_in_pages_of_two() >= 3
    assert workers.jobs.store.get(tenant_id, job["job_id"]).step == 3  # 2 + 2 + 1, each handed on through the queue
    done = job_of(call, key, job)
    assert (done["state"], done["examined"], done["processed"], done["errors"]) == ("succeeded", 5, 5, [])
    assert receive_all_and_ack(call, key, subscription) == {e["event_id"] for e in events}


def test_a_replay_whose_subscription_is_deleted_fails_saying_so(call, tenant, run_jobs):
    key, _ = tenant
    subscription = subscribe(call, key)
    job = replay(call, key, subscription, {"from": _ago(hours=1)})
    assert call("DELETE", f"/v1/subscriptions/{subscription['subscription_id']}", key=key).status == 200
    run_jobs()
    done = job_of(call, key, job)
    assert (done["state"], done["processed"], done["errors"]) == ("failed", 0, ["The subscription was deleted."])


def test_another_tenants_subscription_is_404(call, tenant, make_api_key):
    key, _ = tenant
    subscription = subscribe(call, key)
    other, _ = make_api_key()
    window = {"from": format_time(datetime.now(UTC) - timedelta(hours=1))}
    path = f"/v1/subscriptions/{subscription['subscription_id']}/replay"
    assert_problem(call("POST", path, key=other, body=window), 404, "/problems/not-found")
    assert_problem(call("POST", f"/v1/subscriptions/{UNKNOWN}/replay", key=key, body=window), 404)


@pytest.mark.parametrize(
    ("window", "says"),
    [
        ({"from": _ago(minutes=1), "to": _ago(minutes=2)}, "later than to"),
        ({"from": format_time(datetime.now(UTC) + timedelta(hours=1))}, "in the future"),
        ({"from": _ago(days=31)}, "retention"),  # the test stage keeps events 30 days
        ({"from": "0001-01-01T00:00:00+01:00"}, "not a time"),  # before year 1 in UTC
        ({"from": "9999-12-31T23:59:59-01:00"}, "not a time"),  # after year 9999 in UTC
    ],
)
def test_a_window_that_cannot_be_replayed_is_422(call, tenant, window, says):
    key, _ = tenant
    subscription = subscribe(call, key)
    response = call("POST", f"/v1/subscriptions/{subscription['subscription_id']}/replay", key=key, body=window)
    problem = assert_problem(response, 422, "/problems/invalid-window")
    assert problem["title"] == "Unprocessable Entity" and says in problem["detail"]


@pytest.mark.parametrize(
    "body", [{}, {"from": "yesterday"}, {"from": "2026-11-22T10:00:00"}, {"from": _ago(hours=1), "until": "now"}]
)
def test_a_malformed_window_is_400(call, tenant, body):
    key, _ = tenant
    subscription = subscribe(call, key)
    response = call("POST", f"/v1/subscriptions/{subscription['subscription_id']}/replay", key=key, body=body)
    assert_problem(response, 400, "/problems/bad-request")


def test_replay_needs_the_subscriptions_scope(call, make_api_key):
    key, tenant_id = make_api_key()
    subscription = subscribe(call, key)
    reader, _ = make_api_key(tenant_id, scopes=("events:read", "events:write", "inbox:read", "inbox:ack"))
    path = f"/v1/subscriptions/{subscription['subscription_id']}/replay"
    problem = assert_problem(
        call("POST", path, key=reader, body={"from": _ago(hours=1)}), 403, "/problems/missing-scope"
    )
    assert "'subscriptions:manage'" in problem["detail"]


def test_a_replay_is_in_the_audit_trail(call, tenant):
    key, _ = tenant
    subscription = subscribe(call, key)
    path = f"/v1/subscriptions/{subscription['subscription_id']}/replay"
    started = call("POST", path, key=key, body={"from": _ago(hours=1)}, headers={"X-Request-ID": "replay-1"})
    assert started.status == 202
    [entry, *_] = call("GET", "/v1/audit", key=key).json["entries"]
    assert (entry["action"], entry["target"], entry["request_id"]) == (
        "subscription.replay",
        subscription["subscription_id"],
        "replay-1",
    )
    assert entry["actor"].startswith("key:")


def test_a_push_subscriptions_replay_is_pushed_signed_once_more(
    push_api, make_api_key, receiver, stream, run_jobs, run_pushes
):
    key, _ = make_api_key()
    body = {"name": "hook", "delivery": {"mode": "push", "url": receiver.url()}}
    subscription = invoke(push_api, "POST", "/v1/subscriptions", key=key, body=body).json
    event = invoke(push_api, "POST", "/v1/events", key=key, body=new_event()).json
    stream.pump()
    run_pushes()
    assert len(receiver.got) == 1

    path = f"/v1/subscriptions/{subscription['subscription_id']}/replay"
    started = invoke(push_api, "POST", path, key=key, body={"from": event["created_at"]})
    assert started.status == 202, started.body
    run_jobs()
    run_pushes()
    payloads = [Webhook(subscription["secret"]).verify(got["body"], got["headers"]) for got in receiver.got]
    assert [p["event_id"] for p in payloads] == [event["event_id"]] * 2
    first, again = (got["headers"]["webhook-id"] for got in receiver.got)
    assert first != again  # a new message: a receiver that drops what it has handled takes the replay
    listed = invoke(push_api, "GET", f"/v1/subscriptions/{subscription['subscription_id']}/attempts", key=key).json
    assert [(a["outcome"], a["webhook_id"]) for a in listed["attempts"]] == [("delivered", again), ("delivered", first)]
    # The job's message again, and the push queue drained again: nothing more is pushed.
    run_jobs()
    run_pushes()
    assert len(receiver.got) == 2
