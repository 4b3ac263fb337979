"""Subscriptions on the local stage: the `fanout` function, fed from the events table's stream by
serverless-offline-dynamodb-streams, and the `jobs` and `deliver` functions, fed from their queues by
serverless-offline-sqs (docs/local-stage.md: how they run, and where they differ from AWS).

Only generous time bounds: the local stage polls on its own schedule, and the first call of a function starts its
Python worker. The measured times are printed (README.md quotes them).
"""

import json
import time

from stage_support import Answer, request
from standardwebhooks.webhooks import Webhook

from tests.support import Receiver

EVENT_WAIT_SECONDS = 20  # the longest receive the API allows; the event must arrive within it
JOB_WAIT_SECONDS = 30


def call(stage, key: str, method: str, path: str, body: dict | None = None) -> Answer:
    headers = {"X-API-Key": key}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return request(
        method, stage.url + path, headers=headers, body=json.dumps(body).encode() if body is not None else None
    )


def create_subscription(stage, key: str, body: dict) -> str:
    created = call(stage, key, "POST", "/v1/subscriptions", body)
    assert created.status == 201, created.body
    return created.json["subscription_id"]


def create_event(stage, key: str, source: str = "billing", event_type: str = "invoice.paid") -> str:
    created = call(stage, key, "POST", "/v1/events", {"source": source, "event_type": event_type, "payload": {}})
    assert created.status == 201, created.body
    return created.json["event_id"]


def receive(stage, key: str, subscription_id: str, **options) -> list[dict]:
    answer = call(stage, key, "POST", f"/v1/subscriptions/{subscription_id}/receive", options)
    assert answer.status == 200, answer.body
    return answer.json["deliveries"]


def timed_receive(stage, key: str, subscription_id: str) -> tuple[list[dict], float]:
    """One long-polling receive: what it returned, and the seconds it took."""
    started = time.monotonic()
    deliveries = receive(stage, key, subscription_id, wait_seconds=EVENT_WAIT_SECONDS)
    return deliveries, time.monotonic() - started


def ack(stage, key: str, subscription_id: str, lease_token: str) -> str:
    answer = call(stage, key, "POST", f"/v1/subscriptions/{subscription_id}/ack", {"lease_tokens": [lease_token]})
    assert answer.status == 200, answer.body
    return answer.json["results"][0]["outcome"]


def report(capsys, message: str) -> None:
    """Shown whatever pytest's output capture."""
    with capsys.disabled():
        print(f"\n  {message}")


def test_an_event_shows_up_in_a_receive_of_a_matching_subscription(stage, make_key, capsys):
    """Through the events table's stream and the `fanout` function; an event the filter does not match does not."""
    key = make_key()
    subscription_id = create_subscription(
        stage, key, {"name": "invoices", "filter": {"sources": ["billing"], "event_types": ["invoice.*"]}}
    )
    timings = []
    for attempt in ("first (the fan-out's worker may still have to start)", "second"):
        create_event(stage, key, source="shipping", event_type="parcel.sent")  # matches no filter of this tenant
        event_id = create_event(stage, key)
        deliveries, seconds = timed_receive(stage, key, subscription_id)
        timings.append(seconds)
        report(capsys, f"{attempt} event: in a receive {seconds:.2f} s after its 201")

        assert [d["event"]["event_id"] for d in deliveries] == [event_id]
        assert deliveries[0]["delivery_count"] == 1
        assert ack(stage, key, subscription_id, deliveries[0]["lease_token"]) == "acknowledged"
    assert max(timings) < EVENT_WAIT_SECONDS + 5
    assert receive(stage, key, subscription_id) == [], "acknowledged, or matching no filter: nothing left"


def test_redrive_all_runs_on_the_jobs_queue_and_the_dead_letter_comes_back(stage, make_key, capsys):
    key = make_key()
    subscription_id = create_subscription(stage, key, {"name": "fragile", "max_deliveries": 1})
    event_id = create_event(stage, key)
    deliveries = receive(stage, key, subscription_id, wait_seconds=EVENT_WAIT_SECONDS, visibility_timeout=1)
    assert [d["event"]["event_id"] for d in deliveries] == [event_id]

    # Received max_deliveries (1) times and not acknowledged: once its lease ends, it is dead.
    deadline = time.monotonic() + 15
    dead_letters: list[dict] = []
    while not dead_letters:
        assert time.monotonic() < deadline, "the unacknowledged delivery never became a dead letter"
        time.sleep(1)
        receive(stage, key, subscription_id, wait_seconds=0)  # a receive after the lease ended buries it
        page = call(stage, key, "GET", f"/v1/subscriptions/{subscription_id}/dead-letters")
        assert page.status == 200, page.body
        dead_letters = page.json["dead_letters"]
    assert [d["event_id"] for d in dead_letters] == [event_id]

    started = call(stage, key, "POST", f"/v1/subscriptions/{subscription_id}/redrive", {"all": True})
    assert started.status == 202, started.body
    assert started.json["state"] == "running"
    clock = time.monotonic()
    job_url = started.headers["location"]
    while (job := call(stage, key, "GET", job_url).json)["state"] == "running":
        assert time.monotonic() - clock < JOB_WAIT_SECONDS, f"the job is still running: {job}"
        time.sleep(0.5)
    report(capsys, f"redrive job: {job['state']} {time.monotonic() - clock:.2f} s after its 202")
    assert job["state"] == "succeeded", job
    assert job["processed"] == 1
    assert job["errors"] == []

    page = call(stage, key, "GET", f"/v1/subscriptions/{subscription_id}/dead-letters")
    assert page.json["dead_letters"] == []
    deliveries = receive(stage, key, subscription_id, wait_seconds=5)
    assert [d["event"]["event_id"] for d in deliveries] == [event_id]
    assert deliveries[0]["delivery_count"] == 1  # redriven with a count of 0
    assert ack(stage, key, subscription_id, deliveries[0]["lease_token"]) == "acknowledged"


def test_a_push_subscription_is_pushed_a_signed_event_by_the_deliver_function(stage, make_key, capsys):
    """The `deliver` function runs under serverless-offline-sqs on the push queue; the receiver is on this machine
    (the local stage allows http://127.0.0.1 targets, as no deployed stage does)."""
    key = make_key()
    receiver = Receiver()
    try:
        created = call(
            stage,
            key,
            "POST",
            "/v1/subscriptions",
            {"name": "hook", "delivery": {"mode": "push", "url": receiver.url()}},
        )
        assert created.status == 201, created.body
        started = time.monotonic()
        event_id = create_event(stage, key)
        while not receiver.got and time.monotonic() - started < JOB_WAIT_SECONDS:
            time.sleep(0.2)
        took = time.monotonic() - started
        log = stage.log_path.read_text()[-4000:] if stage.log_path else ""
        assert receiver.got, f"no push in {took:.0f} s\n--- the stage's log, last lines ---\n{log}"
        [got] = receiver.got
        payload = Webhook(created.json["secret"]).verify(got["body"], got["headers"])
        assert payload["event_id"] == event_id
        report(capsys, f"push: the event reached the receiver {took:.1f}s after its create")
    finally:
        receiver.close()
