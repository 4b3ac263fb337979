"""Faults in DynamoDB, injected below botocore's retry logic so the real retry path runs."""

import json
import socket
import threading
from pathlib import Path

import pytest
import yaml
from botocore.awsrequest import AWSResponse, HTTPHeaders

from tests.support import (
    FakeRawResponse,
    assert_problem,
    client_for,
    counter_client_for,
    handler_for,
    invoke,
    new_event,
    stage_settings,
)
from triggers.settings import from_environment
from triggers.storage.dynamodb import longest_call_seconds

SERVERLESS = Path(__file__).resolve().parents[2] / "serverless.yml"


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


class SilentDynamoDB:
    """A DynamoDB on 127.0.0.1 that accepts connections, reads what it is sent and never answers; it counts the
    requests (sends, retries included) it received."""

    REQUEST_LINE = b"POST / HTTP/1.1\r\n"  # every DynamoDB call is a POST to /

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received: list[bytearray] = []  # per connection
        self.connections: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def requests(self) -> int:
        return sum(bytes(data).count(self.REQUEST_LINE) for data in list(self.received))

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                connection = self.listener.accept()[0]
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed: the test is over
            self.connections.append(connection)
            data = bytearray()
            self.received.append(data)
            threading.Thread(target=self._read, args=(connection, data), daemon=True).start()

    def _read(self, connection: socket.socket, data: bytearray) -> None:
        try:
            while chunk := connection.recv(65536):
                data.extend(chunk)
        except OSError:
            return  # closed by the client (its timeout) or by close()

    def close(self) -> None:
        self.stop.set()
        for connection in self.connections:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent_dynamodb():
    """A DynamoDB that accepts connections and never answers (SilentDynamoDB)."""
    server = SilentDynamoDB()
    yield server
    server.close()


def test_a_silent_dynamodb_is_503_within_the_sends_the_settings_allow(silent_dynamodb):
    """Each call to a DynamoDB that never answers is DYNAMODB_MAX_ATTEMPTS sends, each cut at its timeout; the rate
    limiter's counter is one send (its own client), after which the container stops asking it for a while. The
    sends are counted where they arrive, so the bound holds without timing anything."""
    settings = stage_settings(
        silent_dynamodb.url,
        AUTH_MODE="local",  # the dev key needs no lookup: the request reaches the limiter and then the operation
        DYNAMODB_TIMEOUT_SECONDS="0.2",
        RATE_LIMIT_TIMEOUT_SECONDS="0.2",
    )
    handler = handler_for(settings, client_for(settings), counter_client_for(settings))
    dev_key = settings.dev_api_key
    response = invoke(handler, "GET", "/v1/events/0f8fad5b-d9cb-469f-a165-70867728950e", key=dev_key)
    problem = assert_problem(response, 503, "/problems/service-unavailable")
    assert problem["detail"] == "Storage is unavailable; retry later."
    assert response.headers["retry-after"] == "1"
    # The key's counter (1 send, then the tenant's limit does not ask: the counter just failed), and the GetItem.
    assert settings.dynamodb_max_attempts == 3
    assert silent_dynamodb.requests == 1 + settings.dynamodb_max_attempts
    # Within FAIL_OPEN_SECONDS the container does not ask the counter again: only the operation's sends.
    assert_problem(invoke(handler, "GET", "/v1/events/0f8fad5b-d9cb-469f-a165-70867728950e", key=dev_key), 503)
    assert silent_dynamodb.requests == 1 + 2 * settings.dynamodb_max_attempts
    assert_problem(invoke(handler, "GET", "/v1/health/ready"), 503)  # one GetItem
    assert silent_dynamodb.requests == 1 + 3 * settings.dynamodb_max_attempts


def test_a_silent_dynamodb_answers_well_inside_the_lambda_timeout():
    """The bound the previous test counts, with the deployed settings: the counter's one send, then one call of the
    stores (every call that gives up ends the request with 503). It was 24 s: `max_attempts` counted retries, so
    3 meant four sends of 3 s, and the limiter's fail-open chained a second such call."""
    deployed = from_environment({"CURSOR_SECRET_PARAMETER": "/triggers-api/prod/cursor-secret"})
    lambda_timeout = yaml.safe_load(SERVERLESS.read_text())["params"]["default"]["timeout"]
    assert lambda_timeout == 25
    counter_sends, store_sends = 1, deployed.dynamodb_max_attempts
    # Connections accepted, never answered (the previous test): each send waits out its read timeout.
    silent = counter_sends * deployed.rate_limit_timeout_seconds + store_sends * deployed.dynamodb_timeout_seconds
    assert silent == 1 * 0.5 + 3 * 3.0 == 9.5
    # Also every connect waiting out its timeout, and botocore's longest sleeps between sends.
    worst = longest_call_seconds(counter_sends, deployed.rate_limit_timeout_seconds) + longest_call_seconds(
        store_sends, deployed.dynamodb_timeout_seconds
    )
    assert worst == (0.5 + 0.5) + (3 * (1.0 + 3.0) + 1.0 + 2.0) == 16.0
    assert silent < lambda_timeout / 2 and worst < lambda_timeout * 2 / 3
