"""One JSON log line per request with its ids; never an API key, whatever the level."""

import io
import json
import logging

import pytest

from tests.support import new_event


@pytest.fixture
def log_output(lambda_handler):
    """What the app's own JSON log handler writes, captured for the test."""
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_request_log_lines_carry_ids_and_never_the_key(call, make_api_key, log_output):
    key, tenant = make_api_key()
    created = call(
        "POST",
        "/v1/events",
        key=key,
        body=new_event(payload={"secret_payload": "s3cr3t"}),
        headers={"X-Request-ID": "log-trace-1"},
    )
    call("GET", f"/v1/events/{created.json['event_id']}", key=key)
    call("GET", "/v1/inbox", key=key + "wrong")
    call("GET", "/v1/inbox", query={"api_key": key})
    output = log_output.getvalue()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines, "the app logs JSON lines to stdout"
    assert key not in output
    assert "s3cr3t" not in output  # no payload either, even at DEBUG
    assert key[4:20] not in output
    requests = [line for line in lines if line["logger"] == "triggers.request"]
    assert len(requests) == 4
    first = requests[0]
    assert first["request_id"] == "log-trace-1"
    assert first["tenant"] == tenant
    assert first["lambda_request_id"]
    assert first["method"] == "POST" and first["status"] == 201 and first["latency_ms"] >= 0
    assert first["operation"] == "createEvent"
    assert requests[1]["operation"] == "getEvent"
    assert [line["level"] for line in requests] == ["INFO", "INFO", "WARNING", "WARNING"]


def test_errors_log_a_stack_trace_that_the_client_never_sees(call, make_api_key, dynamodb_client, log_output):
    def broken(**_):
        return 1 / 0

    key, _ = make_api_key()
    dynamodb_client.meta.events.register("before-call.dynamodb.DeleteItem", broken)
    try:
        response = call("DELETE", "/v1/events/0f8fad5b-d9cb-469f-a165-70867728950e", key=key)
    finally:
        dynamodb_client.meta.events.unregister("before-call.dynamodb.DeleteItem", broken)
    output = log_output.getvalue()
    errors = [json.loads(line) for line in output.splitlines() if '"level": "ERROR"' in line]
    assert any("ZeroDivisionError" in line.get("stack", "") for line in errors)
    assert "ZeroDivisionError" not in response.body
