"""Key scopes, expiry and last use, through the Lambda handler. openapi.yaml names each operation's scope; the
key's record lists the scopes it holds (a key stored before scopes existed holds them all)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import assert_problem, handler_for, invoke, new_event
from triggers.auth.api_keys import hash_key
from triggers.domain.model import format_time
from triggers.storage.api_keys import ApiKeyStore

SOME_ID = str(uuid.uuid4())

# One operation of each scope, with what it needs to get past validation.
BY_SCOPE = {
    "events:write": ("POST", "/v1/events", new_event()),
    "events:read": ("GET", f"/v1/events/{SOME_ID}", None),
    "inbox:read": ("GET", "/v1/inbox", None),
    "inbox:ack": ("POST", f"/v1/events/{SOME_ID}/ack", None),
    "subscriptions:manage": ("GET", "/v1/subscriptions", None),
}


@pytest.mark.parametrize("scope", BY_SCOPE)
def test_a_key_without_the_operations_scope_is_403_naming_it(call, make_api_key, scope):
    others = tuple(s for s in BY_SCOPE if s != scope)
    key, _ = make_api_key(scopes=others)
    method, path, body = BY_SCOPE[scope]
    problem = assert_problem(call(method, path, key=key, body=body), 403, "/problems/missing-scope")
    assert repr(scope) in problem["detail"]


@pytest.mark.parametrize("scope", BY_SCOPE)
def test_a_key_with_only_the_operations_scope_gets_past_the_check(call, make_api_key, scope):
    key, _ = make_api_key(scopes=(scope,))
    method, path, body = BY_SCOPE[scope]
    assert call(method, path, key=key, body=body).status not in (401, 403)


def test_a_key_with_no_scope_at_all_is_refused_everywhere_but_health(call, make_api_key):
    key, _ = make_api_key(scopes=())
    for method, path, body in BY_SCOPE.values():
        assert_problem(call(method, path, key=key, body=body), 403, "/problems/missing-scope")
    assert call("GET", "/v1/health", key=key).status == 200


def test_a_key_stored_before_scopes_existed_holds_them_all(call, settings, dynamodb_client):
    key = f"trg_legacy-{uuid.uuid4().hex}"
    dynamodb_client.put_item(
        TableName=settings.keys_table,
        Item={
            "key_hash": {"S": hash_key(key)},
            "tenant_id": {"S": f"legacy-{uuid.uuid4().hex[:8]}"},
            "name": {"S": "from 1.1"},
            "is_active": {"BOOL": True},
            "created_at": {"S": "2026-11-01T00:00:00.000000Z"},
        },
    )
    for method, path, body in BY_SCOPE.values():
        assert call(method, path, key=key, body=body).status not in (401, 403)


def test_an_expired_key_is_401_like_any_invalid_key(call, make_api_key):
    past = format_time(datetime.now(UTC) - timedelta(seconds=1))
    future = format_time(datetime.now(UTC) + timedelta(hours=1))
    expired, _ = make_api_key(expires_at=past)
    valid, _ = make_api_key(expires_at=future)
    assert_problem(call("GET", "/v1/inbox", key=expired), 401, "/problems/unauthorized")
    assert call("GET", "/v1/inbox", key=valid).status == 200


def test_last_use_is_written_once_a_minute_whatever_the_containers(settings, dynamodb_client, make_api_key):
    key, _ = make_api_key()
    store = ApiKeyStore(dynamodb_client, settings.keys_table)

    def last_used() -> str | None:
        record = store.find(hash_key(key))
        assert record is not None
        return record.last_used_at

    assert last_used() is None
    invoke(handler_for(settings, dynamodb_client), "GET", "/v1/inbox", key=key)
    first = last_used()
    assert first is not None
    for _ in range(3):  # new containers: nothing cached
        assert invoke(handler_for(settings, dynamodb_client), "GET", "/v1/inbox", key=key).status == 200
    assert last_used() == first
    # A minute later, the next use moves it on.
    dynamodb_client.update_item(
        TableName=settings.keys_table,
        Key={"key_hash": {"S": hash_key(key)}},
        UpdateExpression="SET last_used_at = :then",
        ExpressionAttributeValues={":then": {"S": format_time(datetime.now(UTC) - timedelta(minutes=2))}},
    )
    invoke(handler_for(settings, dynamodb_client), "GET", "/v1/inbox", key=key)
    later = last_used()
    assert later is not None and later > first


def test_a_producer_key_writes_only_its_sources_and_event_types(call, make_api_key):
    key, tenant = make_api_key(sources=("billing",), event_types=("invoice.",))
    assert (
        call("POST", "/v1/events", key=key, body=new_event(source="billing", event_type="invoice.paid")).status == 201
    )
    for source, event_type in (("payroll", "invoice.paid"), ("billing", "order.placed")):
        refused = call("POST", "/v1/events", key=key, body=new_event(source=source, event_type=event_type))
        problem = assert_problem(refused, 403, "/problems/event-not-allowed")
        assert repr(source if source != "billing" else event_type) in problem["detail"]
    assert len(call("GET", "/v1/events", key=key).json["events"]) == 1  # nothing of the refused was stored


def test_a_batch_refuses_only_the_items_the_key_may_not_write(call, make_api_key):
    key, _ = make_api_key(sources=("billing",))
    items = [new_event(source="billing"), new_event(source="payroll"), new_event(source="billing")]
    results = call("POST", "/v1/events/batch", key=key, body={"events": items}).json["results"]
    assert [r["status"] for r in results] == [201, 403, 201]
    assert results[1]["error"]["type"] == "/problems/event-not-allowed"


@pytest.mark.parametrize("scopes", [(), ("events:read",), ("events:write", "subscriptions:manage")])
def test_any_valid_key_reads_its_own_tenant_id_and_scopes(call, make_api_key, scopes):
    key, tenant = make_api_key(scopes=scopes)
    response = call("GET", "/v1/key", key=key)
    assert response.status == 200, response.body
    assert response.json["tenant"] == tenant
    assert response.json["key_id"] == hash_key(key)[:12]
    assert response.json["scopes"] == list(scopes)


def test_the_key_operation_needs_a_valid_key(call):
    assert_problem(call("GET", "/v1/key", key="tk_not_a_key"), 401, "/problems/unauthorized")
