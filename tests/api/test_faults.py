"""Faults in DynamoDB, injected below botocore's retry logic so the real retry path runs."""

import json
import socket
import threading
import time

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from tests.support import FakeRawResponse, assert_problem, handler_for, invoke, new_event, stage_settings


@pytest.fixture
def throttle(dynamodb_client):
    """throttle("PutItem", n): the next n attempts of that call answer ThrottlingException; returns a counter."""
    client = dynamodb_client
    registered = []

    def install(operation: str, times: int):
        attempts = {"sent": 0, "throttled": 0}

        def before_send(request, **_):
            attempts["sent"] += 1
            if attempts["throttled"] < times:
                attempts["throttled"] += 1
                body = json.dumps(
                    {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}
                ).encode()
                headers = HTTPHeaders()
                headers["Content-Type"] = "application/x-amz-json-1.0"
                return AWSResponse(request.url, 400, headers, FakeRawResponse(body))
            return None

        event_name = f"before-send.dynamodb.{operation}"
        client.meta.events.register(event_name, before_send)
        registered.append((event_name, before_send))
        return attempts

    yield install
    for event_name, handler in registered:
        client.meta.events.unregister(event_name, handler)


def test_throttling_within_the_retry_budget_succeeds_once(call, make_api_key, throttle):
    key, _ = make_api_key()
    attempts = throttle("PutItem", 2)
    response = call("POST", "/v1/events", key=key, body=new_event())
    assert response.status == 201
    assert attempts == {"sent": 3, "throttled": 2}
    assert len(call("GET", "/v1/inbox", key=key).json["events"]) == 1


def test_throttling_beyond_the_budget_is_503_and_stores_nothing(call, make_api_key, throttle):
    key, _ = make_api_key()
    throttle("PutItem", 10)
    response = call("POST", "/v1/events", key=key, body=new_event())
    problem = assert_problem(response, 503, "/problems/service-unavailable")
    assert response.headers["retry-after"] == "1"
    assert "Throttling" not in problem["detail"]
    assert call("GET", "/v1/inbox", key=key).json["events"] == []


@pytest.mark.parametrize("operation", ["Query", "GetItem", "UpdateItem", "DeleteItem", "TransactWriteItems"])
def test_every_operation_answers_503_when_throttled(call, make_api_key, throttle, operation):
    key, _ = make_api_key()
    event_id = call("POST", "/v1/events", key=key, body=new_event()).json["event_id"]
    request = {
        "Query": ("GET", "/v1/inbox"),
        "GetItem": ("GET", f"/v1/events/{event_id}"),
        "UpdateItem": ("POST", f"/v1/events/{event_id}/ack"),
        "DeleteItem": ("DELETE", f"/v1/events/{event_id}"),
        "TransactWriteItems": ("POST", "/v1/events"),
    }[operation]
    throttle(operation, 10)
    assert_problem(call(*request, key=key, body=new_event(), headers={"Idempotency-Key": "throttled"}), 503)


@pytest.fixture
def on_call(dynamodb_client):
    """on_call("before-call", "GetItem", hook): run hook at that point of every such call the app makes."""
    registered = []

    def install(stage: str, operation: str, hook):
        event_name = f"{stage}.dynamodb.{operation}"
        dynamodb_client.meta.events.register(event_name, hook)
        registered.append((event_name, hook))

    yield install
    for event_name, hook in registered:
        dynamodb_client.meta.events.unregister(event_name, hook)


def test_an_unexpected_error_is_500_without_internals(call, make_api_key, on_call):
    def broken(**_):
        raise RuntimeError("secret internal detail")

    key, _ = make_api_key()
    on_call("before-call", "GetItem", broken)
    response = call("GET", "/v1/events/0f8fad5b-d9cb-469f-a165-70867728950e", key=key)
    problem = assert_problem(response, 500, "/problems/internal-error")
    assert "secret" not in response.body and "Traceback" not in response.body
    assert problem["detail"].startswith("An unexpected error occurred")


def test_crash_after_the_write_is_healed_by_the_idempotent_retry(call, make_api_key, on_call):
    """The write succeeds, then the function dies before answering; the client's retry gets the same event."""
    key, _ = make_api_key()
    crashes: list[int] = []

    def crash_once(**_):
        if not crashes:
            crashes.append(1)
            raise RuntimeError("crashed after the write")

    body, headers = new_event(), {"Idempotency-Key": "crash-retry"}
    on_call("after-call", "TransactWriteItems", crash_once)
    assert call("POST", "/v1/events", key=key, body=body, headers=headers).status == 500
    retry = call("POST", "/v1/events", key=key, body=body, headers=headers)
    assert retry.status == 201
    inbox = call("GET", "/v1/inbox", key=key).json["events"]
    assert [event["event_id"] for event in inbox] == [retry.json["event_id"]]


@pytest.fixture
def silent_dynamodb():
    """The endpoint of a DynamoDB that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed: the test is over

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    for connection in held:
        connection.close()
    listener.close()


def test_a_silent_dynamodb_is_503_not_a_hang(silent_dynamodb):
    handler = handler_for(
        stage_settings(
            silent_dynamodb, DYNAMODB_MAX_ATTEMPTS="2", DYNAMODB_TIMEOUT_SECONDS="0.5", RATE_LIMIT_PER_MINUTE="0"
        )
    )
    started = time.monotonic()
    assert_problem(invoke(handler, "GET", "/v1/health/ready"), 503)
    response = invoke(handler, "GET", "/v1/events/0f8fad5b-d9cb-469f-a165-70867728950e", key="trg_any")
    assert_problem(response, 503)
    # Bounded by the timeouts (2 attempts x 0.5 s each, plus backoff), far below a Lambda timeout.
    assert time.monotonic() - started < 20
