"""The event service and its store against moto: key design, expiry, malformed items, cursors."""

import time
import uuid

import pytest

from tests.support import expire, unique
from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import AlreadyAcknowledged, EventNotFound, IdempotencyKeyReused, InvalidCursor
from triggers.domain.events import EventService
from triggers.storage.events import EventStore


@pytest.fixture
def tenant(dynamodb_client):
    return unique("tenant")


@pytest.fixture
def table(settings):
    return settings.events_table


@pytest.fixture
def cursors(settings):
    return CursorSigner(settings.cursor_secret)


@pytest.fixture
def service(dynamodb_client, table, cursors):
    return EventService(EventStore(dynamodb_client, table), cursors, retention_days=30)


def test_event_round_trips_with_exact_payload(tenant, service):
    payload = {"big": 123456789012345678901234567890, "float": 0.1, "nested": [{"a": None}], "text": "\u0000é"}
    event_id, _ = service.create_event(tenant, "src", "type", payload)
    stored = service.get_event(tenant, event_id)
    assert stored.payload == payload
    assert stored.status == "pending"
    assert stored.tenant_id == tenant


def test_item_keys_follow_the_design(tenant, service, dynamodb_client, table):
    event_id, created_at = service.create_event(tenant, "src", "type", {})
    item = dynamodb_client.get_item(TableName=table, Key={"pk": {"S": f"{tenant}#{event_id}"}})["Item"]
    assert item["inbox_tenant"]["S"] == tenant
    assert item["inbox_sort"]["S"] == f"{created_at}#{event_id}"
    assert int(item["expires_at"]["N"]) > time.time() + 29 * 86400
    service.acknowledge_event(tenant, event_id)
    item = dynamodb_client.get_item(TableName=table, Key={"pk": {"S": f"{tenant}#{event_id}"}})["Item"]
    assert "inbox_tenant" not in item and "inbox_sort" not in item  # out of the sparse index
    assert item["status"]["S"] == "acknowledged"


def test_an_idempotent_create_is_one_call_and_its_retry_writes_nothing(tenant, service, dynamodb_client):
    calls = []

    def count(model, **_):
        calls.append(model.name)

    dynamodb_client.meta.events.register("before-call.dynamodb", count)
    try:
        first = service.create_event(tenant, "src", "type", {"n": 1}, idempotency_key="one-call")
        assert calls == ["TransactWriteItems"]
        assert service.create_event(tenant, "src", "type", {"n": 1}, idempotency_key="one-call") == first
        assert calls == ["TransactWriteItems"] * 2
    finally:
        dynamodb_client.meta.events.unregister("before-call.dynamodb", count)
    page, _ = service.list_inbox(tenant, 50, None, None, None)
    assert [event.event_id for event in page] == [first[0]]


def test_expired_events_are_hidden_everywhere(tenant, service, dynamodb_client, table):
    event_id, _ = service.create_event(tenant, "src", "type", {"n": 1})
    expire(dynamodb_client, table, tenant, event_id)
    with pytest.raises(EventNotFound):
        service.get_event(tenant, event_id)
    with pytest.raises(EventNotFound):
        service.acknowledge_event(tenant, event_id)
    page, _ = service.list_inbox(tenant, 50, None, None, None)
    assert page == []


def test_an_expired_event_keeps_its_idempotency_key(tenant, service, dynamodb_client, table):
    first, _ = service.create_event(tenant, "src", "type", {"n": 1}, idempotency_key="k")
    expire(dynamodb_client, table, tenant, first)
    assert service.create_event(tenant, "src", "type", {"n": 1}, idempotency_key="k")[0] == first
    with pytest.raises(IdempotencyKeyReused):
        service.create_event(tenant, "src", "type", {"n": 2}, idempotency_key="k")


def test_ack_conflict_tells_404_from_409(tenant, service):
    event_id, _ = service.create_event(tenant, "src", "type", {})
    service.acknowledge_event(tenant, event_id)
    with pytest.raises(AlreadyAcknowledged):
        service.acknowledge_event(tenant, event_id)
    with pytest.raises(EventNotFound):
        service.acknowledge_event(tenant, str(uuid.uuid4()))


def test_malformed_items_are_skipped_not_fatal(tenant, service, dynamodb_client, table):
    good, _ = service.create_event(tenant, "src", "type", {})
    broken_id = str(uuid.uuid4())
    dynamodb_client.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"{tenant}#{broken_id}"},
            "inbox_tenant": {"S": tenant},
            "inbox_sort": {"S": "0000#broken"},
            "payload": {"S": "not json"},
        },
    )
    # No source, and a payload of the wrong type. (A wrongly typed expires_at is not tried: moto's filter
    # evaluation crashes on it where DynamoDB just finds no match.)
    dynamodb_client.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"{tenant}#{uuid.uuid4()}"},
            "inbox_tenant": {"S": tenant},
            "inbox_sort": {"S": "0001"},
            "expires_at": {"N": "99999999999"},
            "payload": {"N": "1"},
        },
    )
    page, _ = service.list_inbox(tenant, 50, None, None, None)
    assert [event.event_id for event in page] == [good]
    with pytest.raises(EventNotFound):
        service.get_event(tenant, broken_id)


def test_cursor_is_bound_to_the_tenant(tenant, service, cursors):
    for _ in range(2):
        service.create_event(tenant, "src", "type", {})
    _, cursor = service.list_inbox(tenant, 1, None, None, None)
    assert cursor
    with pytest.raises(InvalidCursor):
        cursors.decode(cursor, "someone-else", length=2)
    with pytest.raises(InvalidCursor):
        service.list_inbox("someone-else", 1, cursor, None, None)
    body, _, signature = cursor.partition(".")
    with pytest.raises(InvalidCursor):
        cursors.decode(f"{body}x.{signature}", tenant, length=2)
    page, _ = service.list_inbox(tenant, 1, cursor, None, None)
    assert len(page) == 1
