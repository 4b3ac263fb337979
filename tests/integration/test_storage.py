"""Storage and domain against moto: key design, expiry, malformed items, cursors."""

import time
import uuid

import pytest

from tests.conftest import unique
from triggers.domain import events
from triggers.domain.errors import AlreadyAcknowledged, EventNotFound, InvalidCursor
from triggers.settings import current
from triggers.storage import events as store


@pytest.fixture
def tenant(dynamodb_client):
    return unique("tenant")


def put_raw(client, item):
    client.put_item(TableName=current().events_table, Item=item)


def expire(client, tenant, event_id):
    """Time passes for one event: its TTL is in the past, and DynamoDB has not deleted it yet."""
    client.update_item(
        TableName=current().events_table,
        Key={"pk": {"S": f"{tenant}#{event_id}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )


def test_event_round_trips_with_exact_payload(tenant):
    payload = {"big": 123456789012345678901234567890, "float": 0.1, "nested": [{"a": None}], "text": "\u0000é"}
    created = events.create_event(tenant, "src", "type", payload)
    stored = events.get_event(tenant, created.event_id)
    assert stored.payload == payload
    assert stored.status == "pending"
    assert stored.tenant_id == tenant


def test_item_keys_follow_the_design(tenant, dynamodb_client):
    created = events.create_event(tenant, "src", "type", {})
    item = dynamodb_client.get_item(
        TableName=current().events_table, Key={"pk": {"S": f"{tenant}#{created.event_id}"}}
    )["Item"]
    assert item["inbox_tenant"]["S"] == tenant
    assert item["inbox_sort"]["S"] == f"{created.created_at}#{created.event_id}"
    assert int(item["expires_at"]["N"]) > time.time() + 29 * 86400
    events.acknowledge_event(tenant, created.event_id)
    item = dynamodb_client.get_item(
        TableName=current().events_table, Key={"pk": {"S": f"{tenant}#{created.event_id}"}}
    )["Item"]
    assert "inbox_tenant" not in item and "inbox_sort" not in item  # out of the sparse index
    assert item["status"]["S"] == "acknowledged"


def test_expired_events_are_hidden_everywhere(tenant, dynamodb_client):
    created = events.create_event(tenant, "src", "type", {"n": 1})
    expire(dynamodb_client, tenant, created.event_id)
    with pytest.raises(EventNotFound):
        events.get_event(tenant, created.event_id)
    with pytest.raises(EventNotFound):
        events.acknowledge_event(tenant, created.event_id)
    page, _ = events.list_inbox(tenant, 50, None, None, None)
    assert page == []


def test_expired_idempotent_event_can_be_created_again(tenant, dynamodb_client):
    first = events.create_event(tenant, "src", "type", {"n": 1}, idempotency_key="k")
    expire(dynamodb_client, tenant, first.event_id)
    again = events.create_event(tenant, "src", "type", {"n": 2}, idempotency_key="k")
    assert again.event_id == first.event_id
    assert events.get_event(tenant, first.event_id).payload == {"n": 2}


def test_ack_conflict_tells_404_from_409(tenant):
    created = events.create_event(tenant, "src", "type", {})
    events.acknowledge_event(tenant, created.event_id)
    with pytest.raises(AlreadyAcknowledged):
        events.acknowledge_event(tenant, created.event_id)
    with pytest.raises(EventNotFound):
        events.acknowledge_event(tenant, str(uuid.uuid4()))


def test_malformed_items_are_skipped_not_fatal(tenant, dynamodb_client):
    good = events.create_event(tenant, "src", "type", {})
    broken_id = str(uuid.uuid4())
    put_raw(
        dynamodb_client,
        {
            "pk": {"S": f"{tenant}#{broken_id}"},
            "inbox_tenant": {"S": tenant},
            "inbox_sort": {"S": "0000#broken"},
            "payload": {"S": "not json"},
        },
    )
    # No source, and a payload of the wrong type. (A wrongly typed expires_at is not tried: moto's filter
    # evaluation crashes on it where DynamoDB just finds no match.)
    put_raw(
        dynamodb_client,
        {
            "pk": {"S": f"{tenant}#{uuid.uuid4()}"},
            "inbox_tenant": {"S": tenant},
            "inbox_sort": {"S": "0001"},
            "expires_at": {"N": "99999999999"},
            "payload": {"N": "1"},
        },
    )
    page, _ = events.list_inbox(tenant, 50, None, None, None)
    assert [event.event_id for event in page] == [good.event_id]
    with pytest.raises(EventNotFound):
        events.get_event(tenant, broken_id)


def test_cursor_is_bound_to_the_tenant(tenant):
    for _ in range(2):
        events.create_event(tenant, "src", "type", {})
    _, cursor = events.list_inbox(tenant, 1, None, None, None)
    assert cursor
    with pytest.raises(InvalidCursor):
        store.decode_cursor(cursor, "someone-else")
    body, _, signature = cursor.partition(".")
    with pytest.raises(InvalidCursor):
        store.decode_cursor(f"{body}x.{signature}", tenant)
    page, end = events.list_inbox(tenant, 1, cursor, None, None)
    assert len(page) == 1
