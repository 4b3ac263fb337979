"""The event service and its store against moto: key design, expiry, malformed items, cursors, the listing's
batch reads and page budget."""

import time
import uuid

import pytest

from tests.support import client_for, expire, unique
from triggers.domain.cursors import CursorSigner
from triggers.domain.errors import (
    AlreadyAcknowledged,
    EventNotFound,
    IdempotencyKeyReused,
    InvalidCursor,
    StorageUnavailable,
)
from triggers.domain.events import EventService
from triggers.storage.events import BATCH_GET_ATTEMPTS, EventStore


@pytest.fixture
def tenant(dynamodb_client):
    return unique("tenant")


@pytest.fixture
def table(settings):
    return settings.events_table


@pytest.fixture
def cursors(settings):
    return CursorSigner(*settings.cursor_secrets)


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


def test_listing_keys_follow_the_design(tenant, service, dynamodb_client, table):
    event_id, created_at = service.create_event(tenant, "src", "type", {})
    service.acknowledge_event(tenant, event_id)  # listed whatever the state: an ack leaves the listing keys
    item = dynamodb_client.get_item(TableName=table, Key={"pk": {"S": f"{tenant}#{event_id}"}})["Item"]
    assert item["list_tenant"]["S"] == tenant
    assert item["list_source"]["S"] == f"{tenant}#src"
    assert item["list_type"]["S"] == f"{tenant}#type"
    assert item["list_source_type"]["S"] == f"{tenant}#src#type"
    assert item["list_sort"]["S"] == f"{created_at}#{event_id}"


def test_a_listing_page_stops_when_its_payloads_reach_the_byte_budget(tenant, dynamodb_client, table, cursors):
    service = EventService(EventStore(dynamodb_client, table, page_bytes=1000), cursors, retention_days=30)
    created = [service.create_event(tenant, "src", "type", {"blob": "x" * 290})[0] for _ in range(5)]  # 301 bytes
    first, cursor = service.list_events(tenant, 50, None, None, None)
    assert [event.event_id for event in first] == created[:1:-1]  # three fit in 1,000 bytes, the fourth not
    rest, end = service.list_events(tenant, 50, cursor, None, None)
    assert [event.event_id for event in rest] == created[1::-1]
    assert end is None


def test_one_event_larger_than_the_byte_budget_is_still_a_page(tenant, dynamodb_client, table, cursors):
    service = EventService(EventStore(dynamodb_client, table, page_bytes=10), cursors, retention_days=30)
    created = [service.create_event(tenant, "src", "type", {"blob": "x" * 100})[0] for _ in range(2)]
    page, cursor = service.list_events(tenant, 50, None, None, None)
    assert [event.event_id for event in page] == created[1:]
    assert [event.event_id for event in service.list_events(tenant, 50, cursor, None, None)[0]] == created[:1]


def _leave_unprocessed(client, table: str, *, always: bool) -> list[int]:
    """Make the client's first BatchGetItem answer (every one, if `always`) return only its first item (none, if
    `always`) and the keys of the rest as UnprocessedKeys, as DynamoDB does when throttled or past 16 MB. Returns
    the number of items each call found, as the calls come."""
    found: list[int] = []

    def after(parsed, **_):
        items = parsed["Responses"][table]
        found.append(len(items))
        if len(found) > 1 and not always:
            return
        keep = 0 if always else 1
        parsed["Responses"][table] = items[:keep]
        if items[keep:]:
            keys = [{"pk": item["pk"]} for item in items[keep:]]
            parsed["UnprocessedKeys"] = {table: {"Keys": keys, "ConsistentRead": True}}

    client.meta.events.register("after-call.dynamodb.BatchGetItem", after)
    return found


def test_keys_a_batch_read_leaves_unprocessed_are_read_again(tenant, settings, table, cursors):
    client = client_for(settings)
    calls = _leave_unprocessed(client, table, always=False)
    service = EventService(EventStore(client, table), cursors, retention_days=30)
    created = [service.create_event(tenant, "src", "type", {"n": n})[0] for n in range(4)]
    page, _ = service.list_events(tenant, 50, None, "src", None)
    assert [event.event_id for event in page] == created[::-1]
    assert calls == [4, 3]


def test_keys_left_unprocessed_every_time_are_storage_unavailable(tenant, settings, table, cursors):
    client = client_for(settings)
    calls = _leave_unprocessed(client, table, always=True)
    service = EventService(EventStore(client, table), cursors, retention_days=30)
    service.create_event(tenant, "src", "type", {})
    with pytest.raises(StorageUnavailable):
        service.list_events(tenant, 50, None, None, None)
    assert len(calls) == BATCH_GET_ATTEMPTS


def test_malformed_listed_items_are_skipped_not_fatal(tenant, service, dynamodb_client, table):
    good, _ = service.create_event(tenant, "src", "type", {})
    dynamodb_client.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"{tenant}#{uuid.uuid4()}"},
            "list_tenant": {"S": tenant},
            "list_sort": {"S": "9999#broken"},  # listed first, newest first
            "payload": {"N": "1"},
        },
    )
    page, end = service.list_events(tenant, 50, None, None, None)
    assert [event.event_id for event in page] == [good]
    assert end is None


def test_listing_cursors_are_bound_to_the_tenant_and_the_listing(tenant, service, cursors):
    for _ in range(2):
        service.create_event(tenant, "src", "type", {})
    _, cursor = service.list_events(tenant, 1, None, None, None)
    assert cursor
    with pytest.raises(InvalidCursor):
        service.list_events("someone-else", 1, cursor, None, None)
    with pytest.raises(InvalidCursor):
        service.list_inbox(tenant, 1, cursor, None, None)
    with pytest.raises(InvalidCursor):
        cursors.decode(cursor, tenant, length=2)  # the unscoped signer of the inbox
    assert len(service.list_events(tenant, 1, cursor, None, None)[0]) == 1


def test_a_put_retried_after_it_succeeded_is_its_own_event_not_a_failure(dynamodb_client, table, tenant):
    """botocore retries a put whose answer timed out; if the first attempt was written, the retry fails the
    `attribute_not_exists` condition on the very same event: that is a success. Another item under the id is not."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from botocore.exceptions import ClientError

    from triggers.domain.model import PENDING, Event, format_time

    store = EventStore(dynamodb_client, table)
    event = Event(tenant, str(uuid.uuid4()), "s", "t", {"n": 1.5}, PENDING, format_time(datetime.now(UTC)), 2**31)
    store.insert(event)
    store.insert(event)  # the retry
    with pytest.raises(ClientError):
        store.insert(replace(event, payload={"n": 2}))
