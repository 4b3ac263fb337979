"""Receives racing on one subscription, through the Lambda handler: while a lease holds, no other receive gets its
delivery, whether the receives come from processes (as Lambda runs concurrent requests: each in a container of its
own) or from threads (each with its own container); and an ack with an ended lease's token, racing the receive that
takes the delivery again, either wins before it or is `lease_lost` and changes nothing.
"""

import multiprocessing
import queue
import threading
import time
from collections import Counter
from typing import Any

import pytest

from tests.support import handler_for, invoke, new_event

RECEIVERS = 8
EVENTS = 24  # fewer than the receivers could take together (8 x 10): they contend for the same oldest ones
HOLD = 300  # seconds: every lease holds throughout the test


@pytest.fixture
def tenant(make_api_key):
    key, _ = make_api_key()
    return key


def receive_path(subscription_id: str) -> str:
    return f"/v1/subscriptions/{subscription_id}/receive"


def subscribe_and_publish(call, key, stream, count) -> tuple[str, list[str]]:
    """A new subscription, then `count` events fanned out to it; (subscription id, event ids)."""
    created = call("POST", "/v1/subscriptions", key=key, body={"name": "racers"})
    assert created.status == 201
    ids = []
    for _ in range(count):
        response = call("POST", "/v1/events", key=key, body=new_event())
        assert response.status == 201
        ids.append(response.json["event_id"])
    stream.pump()
    return created.json["subscription_id"], ids


def receive_in_a_container(settings, key: str, subscription_id: str, barrier: Any, results: Any) -> None:
    """One concurrent invocation: a new container built from explicit settings, ready before the race starts, then
    one receive; puts (status, body) on `results`."""
    handler = handler_for(settings)
    barrier.wait(timeout=120)
    body = {"max_events": 10, "visibility_timeout": HOLD}
    response = invoke(handler, "POST", receive_path(subscription_id), key=key, body=body)
    results.put((response.status, response.json))


def assert_leased_at_most_once(answers: list[tuple[int, dict]], published: list[str]) -> list[dict]:
    """Every receive answered 200, and no delivery came back from two of them; the deliveries leased."""
    assert [status for status, _ in answers] == [200] * RECEIVERS, answers
    leased = [delivery for _, body in answers for delivery in body["deliveries"]]
    twice = [e for e, n in Counter(d["event"]["event_id"] for d in leased).items() if n > 1]
    assert twice == [], f"leased by two receives at once: {twice}"
    assert {d["event"]["event_id"] for d in leased} <= set(published)
    assert all(d["delivery_count"] == 1 for d in leased)
    assert leased, "no receive leased anything"
    return leased


def assert_the_rest_is_there(call, key, subscription_id, published, leased) -> None:
    """A later receive gets exactly what the racers left (the leases hold); then everything acknowledges once."""
    rest = call("POST", receive_path(subscription_id), key=key, body={"max_events": 100, "visibility_timeout": HOLD})
    assert rest.status == 200
    got = {d["event"]["event_id"] for d in rest.json["deliveries"]}
    assert got == set(published) - {d["event"]["event_id"] for d in leased}
    tokens = [d["lease_token"] for d in leased + rest.json["deliveries"]]
    acked = call("POST", f"/v1/subscriptions/{subscription_id}/ack", key=key, body={"lease_tokens": tokens})
    assert [r["outcome"] for r in acked.json["results"]] == ["acknowledged"] * len(published)


def test_concurrent_receives_in_processes_never_lease_a_delivery_twice(call, tenant, stream, settings):
    """8 processes started with 'spawn' (nothing inherited: each imports the app and builds its container from the
    settings it is handed, as a Lambda container does), released together once all are ready."""
    subscription_id, published = subscribe_and_publish(call, tenant, stream, EVENTS)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RECEIVERS)
    results = context.Queue()
    processes = [
        context.Process(target=receive_in_a_container, args=(settings, tenant, subscription_id, barrier, results))
        for _ in range(RECEIVERS)
    ]
    for process in processes:
        process.start()
    try:
        answers = [results.get(timeout=180) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0] * RECEIVERS
    leased = assert_leased_at_most_once(answers, published)
    assert_the_rest_is_there(call, tenant, subscription_id, published, leased)


def test_concurrent_receives_in_threads_never_lease_a_delivery_twice(call, tenant, stream, settings):
    """The same race from 8 threads of one process, each with a container of its own (a threaded host)."""
    subscription_id, published = subscribe_and_publish(call, tenant, stream, EVENTS)
    barrier = threading.Barrier(RECEIVERS)
    results: queue.Queue = queue.Queue()
    threads = [
        threading.Thread(target=receive_in_a_container, args=(settings, tenant, subscription_id, barrier, results))
        for _ in range(RECEIVERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    answers = [results.get_nowait() for _ in threads]
    leased = assert_leased_at_most_once(answers, published)
    assert_the_rest_is_there(call, tenant, subscription_id, published, leased)


def test_an_ended_leases_ack_racing_the_receive_that_retakes_it(call, tenant, stream, settings):
    """Leases of 1 s end; then one container acks with their tokens while two others receive again. Each delivery
    went one way: acknowledged by the old token and never received again, or received again (count 2) with the old
    token's ack `lease_lost` and nothing changed by it: the new lease extends and acknowledges."""
    count = 8
    subscription_id, published = subscribe_and_publish(call, tenant, stream, count)
    path = f"/v1/subscriptions/{subscription_id}"
    first = call("POST", path + "/receive", key=tenant, body={"max_events": count, "visibility_timeout": 1})
    old = {d["event"]["event_id"]: d["lease_token"] for d in first.json["deliveries"]}
    assert sorted(old) == sorted(published)
    time.sleep(1.1)

    containers = [handler_for(settings) for _ in range(3)]
    barrier = threading.Barrier(3)
    answers: list[Any] = [None] * 3

    def ack():
        barrier.wait()
        answers[0] = invoke(containers[0], "POST", path + "/ack", key=tenant, body={"lease_tokens": list(old.values())})

    def receive(index):
        barrier.wait()
        body = {"max_events": count, "visibility_timeout": HOLD}
        answers[index] = invoke(containers[index], "POST", path + "/receive", key=tenant, body=body)

    threads = [threading.Thread(target=ack), threading.Thread(target=receive, args=(1,))]
    threads.append(threading.Thread(target=receive, args=(2,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [answer.status for answer in answers] == [200, 200, 200]
    outcomes = {
        token.partition(".")[0]: result["outcome"]
        for token, result in zip(old.values(), answers[0].json["results"], strict=True)
    }
    retaken = [d for answer in answers[1:] for d in answer.json["deliveries"]]
    retaken_ids = [d["event"]["event_id"] for d in retaken]
    assert len(retaken_ids) == len(set(retaken_ids)), "two receives took one delivery"
    for event_id in published:
        if event_id in retaken_ids:
            assert outcomes[event_id] == "lease_lost", (event_id, outcomes[event_id])
        else:
            assert outcomes[event_id] == "acknowledged", (event_id, outcomes[event_id])
    assert all(d["delivery_count"] == 2 for d in retaken)

    # The old tokens changed nothing: every new lease still holds, extends, and acknowledges once.
    assert call("POST", path + "/receive", key=tenant, body={"max_events": count}).json["deliveries"] == []
    if retaken:
        items = [{"lease_token": d["lease_token"], "visibility_timeout": 60} for d in retaken]
        extended = call("POST", path + "/extend", key=tenant, body={"items": items}).json["results"]
        assert [r["outcome"] for r in extended] == ["extended"] * len(retaken)
        tokens = [d["lease_token"] for d in retaken]
        acked = call("POST", path + "/ack", key=tenant, body={"lease_tokens": tokens}).json["results"]
        assert [r["outcome"] for r in acked] == ["acknowledged"] * len(retaken)
    again = call("POST", path + "/ack", key=tenant, body={"lease_tokens": list(old.values())}).json["results"]
    assert [r["outcome"] for r in again] == ["not_found"] * count  # all acknowledged now, by one token or the other
