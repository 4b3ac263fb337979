"""DynamoDB budgets, counted on the real handler against moto: the calls each operation makes, and the items an
inbox or events page reads whatever the backlog (a page costs what it returns, not what the table holds)."""

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from bench.round_trips import Timeline
from tests.support import client_for, handler_for, invoke, new_event, stage_settings, unique, workers_for
from triggers.domain.model import ACKNOWLEDGED, PENDING, Delivery, Event, format_time
from triggers.storage.deliveries import DeliveryStore
from triggers.storage.events import EventStore

PAGE = 50
UNKNOWN = "0f8fad5b-d9cb-469f-a165-70867728950e"


class Recorder:
    """Counts the API calls one boto3 client makes, as `<operation> <table kind>`, each Query's ScannedCount and the
    keys each BatchGetItem asks for."""

    def __init__(self, client, tables: dict[str, str]):
        self.tables = tables  # table name → kind
        self.calls: list[str] = []
        self.scanned: list[int] = []
        self.batch_keys: list[int] = []
        self._table = ""
        client.meta.events.register("before-parameter-build.dynamodb", self._parameters)
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb.Query", self._after_query)
        client.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", self._before_batch_get)

    def _parameters(self, params, **_):
        transaction = [table for item in params.get("TransactItems", []) for table in _tables_of(item)]
        batch = list(params.get("RequestItems", {}))
        self._table = self.tables.get(params.get("TableName") or (transaction + batch)[0], "")

    def _before(self, model, **_):
        """Once per API call: botocore's retries happen below this event."""
        self.calls.append(f"{model.name} {self._table}".strip())

    def _after_query(self, parsed, **_):
        self.scanned.append(parsed.get("ScannedCount", 0))

    def _before_batch_get(self, params, **_):
        self.batch_keys.append(sum(len(request["Keys"]) for request in params["RequestItems"].values()))

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
        tables = {
            settings.events_table: "events",
            settings.keys_table: "keys",
            settings.rate_limits_table: "limits",
            settings.deliveries_table: "deliveries",
        }
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
    # The listing's keys-only index, then the items it names, consistently: two round trips in sequence.
    assert calls("GET", "/v1/events", 200)[0] == ["Query events", "BatchGetItem events"]
    assert calls("GET", "/v1/events", 200, query={"source": "nowhere"})[0] == ["Query events"]  # nothing to read
    assert calls("POST", f"/v1/events/{event_id}/ack", 200)[0] == ["UpdateItem events"]
    assert calls("POST", f"/v1/events/{event_id}/ack", 409)[0] == ["UpdateItem events"]  # the old item tells 409
    assert calls("POST", f"/v1/events/{UNKNOWN}/ack", 404)[0] == ["UpdateItem events"]  # ... and 404
    assert calls("DELETE", f"/v1/events/{event_id}", 200)[0] == ["DeleteItem events"]
    assert calls("GET", "/v1/health", 200)[0] == []
    assert calls("GET", "/v1/health/ready", 200)[0] == ["GetItem keys"]
    assert calls("POST", "/v1/events", 400, body={"source": "x"})[0] == []  # refused before the domain
    # An unknown key: its lookup, and a lease of its client address's limit (the next time, the lookup is cached).
    assert calls("GET", "/v1/inbox", 401, key="trg_" + "x" * 43)[0] == ["GetItem keys", "UpdateItem limits"]


# Untraced by the coverage gate (pytest-cov): tracing slows the 25 threads, and what is checked here is that they
# overlap.
@pytest.mark.no_cover
def test_a_batch_of_100_new_events_is_100_writes_sent_together(moto_endpoint, make_api_key):
    """Each item is its own conditional write (a put, or a transaction with its key's record), 25 in flight at once:
    100 new items in about ceil(100 / 25) = 4 round trips in sequence, keyed or not. How many exactly depends on the
    threads' timing (a pool keeps 25 in flight rather than sending waves; on a busy machine the chain was 6 in one run
    of many): the figure and its budget of 5 are `make bench`'s (docs/performance.md). Here: 100 writes, never one
    after another (that would be a chain of 100)."""
    # moto answers one call at a time: the 25th call in flight waits for 24 others, longer than 3 s on a busy machine.
    settings = stage_settings(
        moto_endpoint, API_KEY_CACHE_SECONDS="60", RATE_LIMIT_PER_MINUTE="0", DYNAMODB_TIMEOUT_SECONDS="20"
    )
    client = client_for(settings)
    recorder = Recorder(client, {settings.events_table: "events", settings.keys_table: "keys"})
    handler, (key, _) = handler_for(settings, client), make_api_key()
    invoke(handler, "GET", "/v1/inbox", key=key)  # the key lookup
    recorder.take()
    timeline = Timeline(client)
    plain = {"events": [new_event() for _ in range(100)]}
    keyed = {"events": [new_event(idempotency_key=unique("k")) for _ in range(100)]}
    for body, call in ((plain, "PutItem events"), (keyed, "TransactWriteItems events")):
        calls, sequence, _ = timeline.measure(
            lambda body=body: invoke(handler, "POST", "/v1/events/batch", key=key, body=body)
        )
        assert recorder.take() == [call] * 100
        assert calls == 100 and sequence <= 10


def test_a_cold_container_adds_the_key_lookup_and_two_leases(container):
    handler, recorder, key, _ = container()
    assert invoke(handler, "GET", "/v1/inbox", key=key).status == 200
    # The key, its last use (at most once a minute per key, across containers), the key's and the tenant's leases,
    # the page.
    assert recorder.take() == [
        "GetItem keys",
        "UpdateItem keys",
        "UpdateItem limits",
        "UpdateItem limits",
        "Query events",
    ]


def _store_events(
    store: EventStore,
    tenant: str,
    count: int,
    status: str = PENDING,
    source: str = "billing",
    event_type: str = "invoice.paid",
) -> None:
    now = datetime.now(UTC)
    for n in range(count):
        store.insert(
            Event(
                tenant_id=tenant,
                event_id=str(uuid.uuid4()),
                source=source,
                event_type=event_type,
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
    assert Counter(recorder.calls) == Counter({"Query events": 4, "GetItem keys": 4, "UpdateItem keys": 4})


def test_an_events_page_reads_what_it_returns_whatever_the_filters_skip(container, settings, dynamodb_client):
    """Index entries (ScannedCount) and items (BatchGetItem keys) one listing page of 10 matching events reads,
    beside a large backlog that matches neither filter, one of them, or belongs to another tenant."""
    backlog = 300
    store = EventStore(dynamodb_client, settings.events_table)
    handler, recorder, key, tenant = container(RATE_LIMIT_PER_MINUTE="0")
    _, _, _, stranger = container(RATE_LIMIT_PER_MINUTE="0")
    _store_events(store, tenant, 10, source="orders", event_type="order.placed")
    _store_events(store, tenant, backlog, source="orders", event_type="order.cancelled")
    _store_events(store, tenant, backlog, source="billing", event_type="order.placed", status=ACKNOWLEDGED)
    _store_events(store, stranger, backlog, source="orders", event_type="order.placed")
    recorder.take()
    query = {"source": "orders", "event_type": "order.placed", "limit": str(PAGE)}
    response = invoke(handler, "GET", "/v1/events", key=key, query=query)
    assert response.status == 200
    assert len(response.json["events"]) == 10 and response.json["next_cursor"] is None
    assert recorder.scanned == [10] and recorder.batch_keys == [10]
    # A cold container's key lookup and its last use, then the page.
    assert recorder.take() == ["GetItem keys", "UpdateItem keys", "Query events", "BatchGetItem events"]
    response = invoke(handler, "GET", "/v1/events", key=key, query={"event_type": "order.placed", "limit": str(PAGE)})
    assert len(response.json["events"]) == PAGE  # a full page, pending and acknowledged
    assert recorder.scanned[1:] == [PAGE] and recorder.batch_keys[1:] == [PAGE]
    assert recorder.take() == ["Query events", "BatchGetItem events"]


def _subscribe(handler, key: str) -> str:
    response = invoke(handler, "POST", "/v1/subscriptions", key=key, body={"name": "budget"})
    assert response.status == 201
    return response.json["subscription_id"]


def _fill(settings, dynamodb_client, tenant: str, subscription_id: str, count: int) -> None:
    """`count` receivable deliveries in a subscription, written as the fan-out writes them."""
    store = DeliveryStore(dynamodb_client, settings.deliveries_table, settings.delivery_shards, ThreadPoolExecutor(25))
    now, expires_at = datetime.now(UTC), int(time.time()) + 86400
    events = [
        Event(tenant, str(uuid.uuid4()), "billing", "invoice.paid", {"n": n}, PENDING, format_time(now), expires_at)
        for n in range(count)
    ]
    deliveries = [
        Delivery(tenant, subscription_id, event.event_id, 0, expires_at=expires_at, event=event.public())
        for event in events
    ]
    store.insert_many(deliveries, visible_at=int(time.time() * 1000) - 1000)


def test_receive_and_ack_cost_one_call_per_delivery_and_a_query_per_lane(container, settings, dynamodb_client):
    handler, recorder, key, tenant = container(RATE_LIMIT_PER_MINUTE="0")
    subscription = _subscribe(handler, key)
    _fill(settings, dynamodb_client, tenant, subscription, 120)
    recorder.take()
    path = f"/v1/subscriptions/{subscription}"
    received = invoke(handler, "POST", path + "/receive", key=key, body={"max_events": 10}).json["deliveries"]
    assert len(received) == 10
    shards = settings.delivery_shards
    # In sequence: the subscription; the lanes' Queries at once; the leases at once.
    assert Counter(recorder.take()) == Counter({"GetItem": 1, "Query deliveries": shards, "UpdateItem deliveries": 10})
    many = invoke(handler, "POST", path + "/receive", key=key, body={"max_events": 100}).json["deliveries"]
    recorder.take()
    tokens = [d["lease_token"] for d in many]
    acked = invoke(handler, "POST", path + "/ack", key=key, body={"lease_tokens": tokens}).json["results"]
    assert {r["outcome"] for r in acked} == {"acknowledged"} and len(acked) == 100
    # The subscription, then 100 conditional writes 25 at a time: 1 + 4 round trips in sequence.
    assert Counter(recorder.take()) == Counter({"GetItem": 1, "UpdateItem deliveries": 100})


def test_a_receive_reads_what_it_returns_whatever_else_is_held(container, settings, dynamodb_client):
    """Items a receive of 10 reads (ScannedCount over its lanes): with 10 deliveries; beside 600 in another
    subscription of the tenant and 600 of another tenant; with 600 of its own."""
    handler, recorder, key, tenant = container(RATE_LIMIT_PER_MINUTE="0")
    mine, neighbour = _subscribe(handler, key), _subscribe(handler, key)
    _, _, other_key, other_tenant = container(RATE_LIMIT_PER_MINUTE="0")
    stranger = _subscribe(handler, other_key)

    def scanned(subscription: str) -> int:
        recorder.scanned.clear()
        body = {"max_events": 10, "visibility_timeout": 1}
        assert invoke(handler, "POST", f"/v1/subscriptions/{subscription}/receive", key=key, body=body).status == 200
        return sum(recorder.scanned)

    _fill(settings, dynamodb_client, tenant, mine, 10)
    assert scanned(mine) == 10
    time.sleep(1.1)  # the leases end
    _fill(settings, dynamodb_client, tenant, neighbour, 600)
    _fill(settings, dynamodb_client, other_tenant, stranger, 600)
    assert scanned(mine) == 10
    _fill(settings, dynamodb_client, tenant, mine, 590)
    assert scanned(mine) <= 10 * settings.delivery_shards  # each lane reads at most what a receive can return


def test_a_replay_step_reads_its_window_whatever_the_tenant_holds_outside_it(
    moto_endpoint, settings, dynamodb_client, queue_client, make_api_key
):
    """One step of a replay whose window holds 10 events, beside 100 older and 100 newer events of the tenant and 100
    of another tenant inside the window's time: the job, one Query reading the window's 10 index entries, one
    BatchGetItem of those 10, the subscription, a conditional write per event, the step's record. No Scan."""
    backlog = 100
    store = EventStore(dynamodb_client, settings.events_table)
    key, tenant = make_api_key()
    _, stranger = make_api_key()
    now = datetime.now(UTC)

    def stored(tenant_id: str, count: int, hours_ago: float) -> None:
        created_at, expires_at = format_time(now - timedelta(hours=hours_ago)), int(time.time()) + 86400
        for n in range(count):
            store.insert(
                Event(
                    tenant_id, str(uuid.uuid4()), "billing", "invoice.paid", {"n": n}, PENDING, created_at, expires_at
                )
            )

    stored(tenant, backlog, hours_ago=3)
    stored(tenant, 10, hours_ago=2)
    stored(stranger, backlog, hours_ago=2)
    stored(tenant, backlog, hours_ago=1)
    api = handler_for(settings, dynamodb_client)
    subscription = _subscribe(api, key)
    window = {"from": format_time(now - timedelta(hours=2.5)), "to": format_time(now - timedelta(hours=1.5))}
    started = invoke(api, "POST", f"/v1/subscriptions/{subscription}/replay", key=key, body=window)
    assert started.status == 202, started.body

    recorded = stage_settings(moto_endpoint)
    client = client_for(recorded)
    kinds = ("events", "subscriptions", "deliveries", "jobs")
    recorder = Recorder(client, {getattr(recorded, f"{kind}_table"): kind for kind in kinds})
    jobs = workers_for(recorded, client).jobs
    # The step the queued message asks for, as the jobs function runs it (its message stays queued: once it
    # arrives, the step is done and it changes nothing).
    jobs.run_step({"tenant_id": tenant, "job_id": started.json["job_id"], "step": 0, "cursor": None})
    assert recorder.scanned == [10] and recorder.batch_keys == [10]
    assert recorder.take() == [
        "GetItem jobs",
        "Query events",
        "BatchGetItem events",
        "GetItem subscriptions",
        *["UpdateItem deliveries"] * 10,
        "UpdateItem jobs",
    ]
    job = invoke(api, "GET", f"/v1/jobs/{started.json['job_id']}", key=key).json
    assert (job["state"], job["examined"], job["processed"]) == ("succeeded", 10, 10)
