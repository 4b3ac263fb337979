"""Every operation that needs a key refuses a request without a valid one, with one and the same answer."""

import pytest

from tests.support import assert_problem, new_event
from triggers.auth.api_keys import hash_key
from triggers.storage.api_keys import ApiKeyStore

EVENT = "0f8fad5b-d9cb-469f-a165-70867728950e"  # no event has it; fixed, as test ids must be (pytest-xdist)
PROTECTED = [
    ("POST", "/v1/events", new_event()),
    ("GET", "/v1/events", None),
    ("GET", f"/v1/events/{EVENT}", None),
    ("DELETE", f"/v1/events/{EVENT}", None),
    ("POST", f"/v1/events/{EVENT}/ack", None),
    ("GET", "/v1/inbox", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("key", [None, "", "trg_unknown0000000000000000000000000", "x" * 5000])
def test_missing_or_unknown_key_is_401(call, method, path, body, key):
    problem = assert_problem(call(method, path, key=key, body=body), 401, "/problems/unauthorized")
    assert problem["detail"] == "A valid API key is required in the X-API-Key header."


def test_key_in_query_string_is_not_accepted(call, make_api_key):
    key, _ = make_api_key()
    assert_problem(call("GET", "/v1/inbox", query={"api_key": key}), 401)
    assert_problem(call("GET", "/v1/inbox", query={"X-API-Key": key}), 401)


def test_revoked_key_is_401(call, make_api_key, settings, dynamodb_client):
    key, _ = make_api_key()
    assert call("GET", "/v1/inbox", key=key).status == 200
    assert ApiKeyStore(dynamodb_client, settings.keys_table).deactivate(hash_key(key))
    assert_problem(call("GET", "/v1/inbox", key=key), 401)


@pytest.mark.parametrize("path", ["/v1/health", "/v1/health/ready", "/v1/openapi.json", "/v1/docs/"])
def test_health_and_docs_need_no_key(call, path):
    assert call("GET", path).status == 200


@pytest.mark.parametrize("name", ["X_API_KEY", "x_api_key", "X-API_Key"])
def test_a_header_named_with_underscores_is_not_the_key(call, make_api_key, name):
    """API Gateway passes `X_API_KEY` on, and a CGI-style environ would fold it into `X-API-Key`; nginx and most
    proxies drop such names as ambiguous. It is a header of another name here: ignored."""
    key, _ = make_api_key()
    assert_problem(call("GET", "/v1/inbox", headers={name: key}), 401, "/problems/unauthorized")


def test_an_idempotency_key_named_with_underscores_is_ignored(call, make_api_key):
    key, _ = make_api_key()
    first = call("POST", "/v1/events", key=key, body=new_event(), headers={"Idempotency_Key": "k-1"})
    second = call("POST", "/v1/events", key=key, body=new_event(), headers={"Idempotency_Key": "k-1"})
    assert (first.status, second.status) == (201, 201)
    assert first.json["event_id"] != second.json["event_id"]
