"""DynamoDB budgets, counted on the real handler against moto: the calls each operation makes, and the items an
inbox page reads whatever the backlog (a page costs what it returns, not what the table holds)."""

import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.support import client_for, handler_for, invoke, new_event, stage_settings, unique
from triggers.domain.model import ACKNOWLEDGED, PENDING, Event, format_time
from triggers.storage.events import EventStore

PAGE = 50
UNKNOWN = "0f8fad5b-d9cb-469f-a165-70867728950e"


class Recorder:
    """Counts the API calls one boto3 client makes, as `<operation> <table kind>`, and each Query's ScannedCount."""

    def __init__(self, client, tables: dict[str, str]):
        self.tables = tables  # table name → kind
        self.calls: list[str] = []
        self.scanned: list[int] = []
        self._table = ""
        client.meta.events.register("before-parameter-build.dynamodb", self._parameters)
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb.Query", self._after_query)

    def _parameters(self, params, **_):
        transaction = [table for item in params.get("TransactItems", []) for table in _tables_of(item)]
        self._table = self.tables.get(params.get("TableName") or transaction[0], "")

    def _before(self, model, **_):
        """Once per API call: botocore's retries happen below this event."""
        self.calls.append(f"{model.name} {self._table}".strip())

    def _after_query(self, parsed, **_):
        self.scanned.append(parsed.get("ScannedCount", 0))

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


def _tables_of(transact_item: dict) -> list[str]:
    return [operation["TableName"] for operation in transact_item.values()]


@pytest.fixture
def container(moto_endpoint, dynamodb_client, make_api_key):
    """make(**settings): a new container (its own client, key cache and leases) whose calls are recorded, and a key
    of a new tenant."""

    def make(**overrides):
        settings = stage_settings(moto_endpoint, API_KEY_CACHE_SECONDS="60", **overrides)
        client = client_for(settings)
        tables = {settings.events_table: "events", settings.keys_table: "keys", settings.rate_limits_table: "limits"}
        recorder = Recorder(client, tables)
        key, tenant = make_api_key()
        return handler_for(settings, client), recorder, key, tenant

    return make


def test_every_operation_is_one_call_in_a_warm_container(container):
    handler, recorder, key, _ = container(RATE_LIMIT_PER_MINUTE="0")
    invoke(handler, "GET", "/v1/inbox", key=key)  # the container's first request looks the key up
    recorder.take()

    def calls(method, path, expected_status, **options):
        response = invoke(handler, method, path, **{"key": key, **options})
        assert response.status == expected_status
        return recorder.take(), response

    created = calls("POST", "/v1/events", 201, body=new_event())
    assert created[0] == ["PutItem events"]
    event_id = created[1].json["event_id"]
    body, once = new_event(), {"Idempotency-Key": unique("key")}
    assert calls("POST", "/v1/events", 201, body=body, headers=once)[0] == ["TransactWriteItems events"]
    assert calls("POST", "/v1/events", 201, body=body, headers=once)[0] == ["TransactWriteItems events"]  # replay
    assert calls("POST", "/v1/events", 422, body=new_event(), headers=once)[0] == ["TransactWriteItems events"]
    assert calls("GET", f"/v1/events/{event_id}", 200)[0] == ["GetItem events"]
    assert calls("GET", f"/v1/events/{UNKNOWN}", 404)[0] == ["GetItem events"]
    assert calls("GET", "/v1/inbox", 200)[0] == ["Query events"]
    assert calls("POST", f"/v1/events/{event_id}/ack", 200)[0] == ["UpdateItem events"]
    assert calls("POST", f"/v1/events/{event_id}/ack", 409)[0] == ["UpdateItem events"]  # the old item tells 409
    assert calls("POST", f"/v1/events/{UNKNOWN}/ack", 404)[0] == ["UpdateItem events"]  # ... and 404
    assert calls("DELETE", f"/v1/events/{event_id}", 200)[0] == ["DeleteItem events"]
    assert calls("GET", "/v1/health", 200)[0] == []
    assert calls("GET", "/v1/health/ready", 200)[0] == ["GetItem keys"]
    assert calls("POST", "/v1/events", 400, body={"source": "x"})[0] == []  # refused before the domain
    assert calls("GET", "/v1/inbox", 401, key="trg_" + "x" * 43)[0] == ["GetItem keys"]


def test_a_cold_container_adds_the_key_lookup_and_one_lease(container):
    handler, recorder, key, _ = container()
    assert invoke(handler, "GET", "/v1/inbox", key=key).status == 200
    assert recorder.take() == ["GetItem keys", "UpdateItem limits", "Query events"]


def _store_events(store: EventStore, tenant: str, count: int, status: str = PENDING) -> None:
    now = datetime.now(UTC)
    for n in range(count):
        store.insert(
            Event(
                tenant_id=tenant,
                event_id=str(uuid.uuid4()),
                source="billing",
                event_type="invoice.paid",
                payload={"n": n},
                status=status,
                created_at=format_time(now),
                expires_at=int(time.time()) + 86400,
                acknowledged_at=format_time(now) if status == ACKNOWLEDGED else None,
            )
        )


def test_an_inbox_page_reads_what_it_returns_whatever_the_backlog(container, settings, dynamodb_client):
    """ScannedCount of one page (limit 50): 10 pending; a large backlog; 10 pending beside another tenant's large
    backlog; 10 pending and a large number acknowledged."""
    backlog = 600
    store = EventStore(dynamodb_client, settings.events_table)
    handler, recorder, _, _ = container(RATE_LIMIT_PER_MINUTE="0")

    def scanned(key: str) -> int:
        recorder.scanned.clear()
        assert invoke(handler, "GET", "/v1/inbox", key=key, query={"limit": str(PAGE)}).status == 200
        (count,) = recorder.scanned
        return count

    def tenant_with(pending: int, acknowledged: int = 0) -> str:
        _, _, key, tenant = container(RATE_LIMIT_PER_MINUTE="0")
        _store_events(store, tenant, pending)
        _store_events(store, tenant, acknowledged, ACKNOWLEDGED)
        return key

    assert scanned(tenant_with(10)) == 10
    assert scanned(tenant_with(backlog)) == PAGE
    assert scanned(tenant_with(10)) == 10  # beside the tenant with the backlog
    assert scanned(tenant_with(10, acknowledged=backlog)) == 10
    assert Counter(recorder.calls) == Counter({"Query events": 4, "GetItem keys": 4})
