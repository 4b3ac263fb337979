"""DynamoDB round trips in sequence (the latency a caller waits for) and items read, on the real code against moto.

Every call the services make is timed from `before-call` to `after-call` (botocore's events, in the calling thread),
with a pause of PAUSE seconds before each send so that calls that go out together are seen to overlap. The round
trips in sequence are the longest chain of calls each of which started after the one before it ended. What a
receive reads is the sum of its Queries' ScannedCount.
"""

import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3

from scripts import dynamodb_tables, moto_dynamodb
from triggers.domain.events import NewEvent
from triggers.domain.model import PENDING, Delivery, Event, Filter, format_time
from triggers.services import build_services
from triggers.settings import from_environment
from triggers.storage.deliveries import DeliveryStore
from triggers.storage.dynamodb import make_client

PAUSE = 0.02
FANOUT_SUBSCRIPTIONS = 50


class Timeline:
    def __init__(self, client):
        self.calls: list[tuple[float, float]] = []
        self.scanned = 0
        self.open: dict[int, float] = {}
        client.meta.events.register("before-call.dynamodb", self._start)
        client.meta.events.register("before-send.dynamodb", lambda **_: time.sleep(PAUSE))
        client.meta.events.register("after-call.dynamodb", self._end)

    def _start(self, context, **_):
        context["started"] = time.perf_counter()

    def _end(self, context, parsed, **_):
        self.calls.append((context["started"], time.perf_counter()))
        self.scanned += parsed.get("ScannedCount", 0)

    def measure(self, action) -> tuple[int, int, int]:
        """(calls, round trips in sequence, items scanned) of one action."""
        self.calls, self.scanned = [], 0
        action()
        chain, last_end = 0, 0.0
        for start, end in sorted(self.calls, key=lambda call: call[1]):
            if start >= last_end:
                chain, last_end = chain + 1, end
        return len(self.calls), chain, self.scanned


def _events(tenant: str, count: int) -> list[Event]:
    now, expires_at = format_time(datetime.now(UTC)), int(time.time()) + 86400
    return [
        Event(tenant, str(uuid.uuid4()), "billing", "invoice.paid", {"n": n}, PENDING, now, expires_at)
        for n in range(count)
    ]


def _hold(store: DeliveryStore, tenant: str, subscription_id: str, count: int) -> None:
    """`count` receivable deliveries in a subscription, written as the fan-out writes them."""
    for start in range(0, count, 1000):
        deliveries = [
            Delivery(tenant, subscription_id, event.event_id, 0, expires_at=event.expires_at, event=event.public())
            for event in _events(tenant, min(1000, count - start))
        ]
        store.insert_many(deliveries, visible_at=int(time.time() * 1000) - 1000)
        print(f"  held {start + len(deliveries)} of {count} deliveries", file=sys.stderr, flush=True)


def measure(backlog: int) -> dict:
    port = moto_dynamodb.free_port()
    server = moto_dynamodb.start(port)
    try:
        environment = {"STAGE": "bench", "CURSOR_SECRET": "bench-cursor-secret-0123456789abcdef"}
        settings = from_environment({**environment, "DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")  # noqa: S106 (moto takes any)
        setup = make_client(settings, session)
        names = {kind: dynamodb_tables.table_name(kind, settings.stage) for kind in dynamodb_tables.TABLE_RESOURCES}
        dynamodb_tables.ensure_tables(setup, names)
        client = make_client(settings, session)
        services, timeline = build_services(settings, client), Timeline(client)
        store = DeliveryStore(setup, settings.deliveries_table, settings.delivery_shards, ThreadPoolExecutor(25))
        tenant, other = "bench-tenant", "bench-other"
        mine = services.subscriptions.create(tenant, "mine", Filter(), 5)
        _hold(store, tenant, mine.subscription_id, 110)
        figures: dict = {"pause_ms": PAUSE * 1000}

        leased: list = []
        figures["receive 10"] = timeline.measure(
            lambda: leased.extend(services.deliveries.receive(tenant, mine.subscription_id, 10, 300, 0))
        )
        leased += services.deliveries.receive(tenant, mine.subscription_id, 90, 300, 0)
        tokens = [f"{d.event_id}.{d.lease}" for d in leased]
        figures["ack 100"] = timeline.measure(
            lambda: services.deliveries.settle(tenant, mine.subscription_id, "acknowledge", tokens)
        )
        batch = [NewEvent("billing", "invoice.paid", {"n": n}) for n in range(100)]
        figures["batch 100"] = timeline.measure(lambda: services.events.create_many(tenant, batch))
        for _ in range(FANOUT_SUBSCRIPTIONS):
            services.subscriptions.create(other, "fan-out", Filter(), 5)
        (event,) = _events(other, 1)
        figures[f"fan-out to {FANOUT_SUBSCRIPTIONS}"] = timeline.measure(lambda: services.fanout.created(event))

        scanned = {}
        quiet = services.subscriptions.create(tenant, "quiet", Filter(), 5)
        _hold(store, tenant, quiet.subscription_id, 10)
        scanned["10 held"] = timeline.measure(lambda: _receive(services, tenant, quiet.subscription_id))[2]
        neighbour = services.subscriptions.create(tenant, "neighbour", Filter(), 5)
        _hold(store, tenant, neighbour.subscription_id, backlog)
        _hold(store, tenant, quiet.subscription_id, 10)
        scanned[f"10 held, {backlog} in another subscription"] = timeline.measure(
            lambda: _receive(services, tenant, quiet.subscription_id)
        )[2]
        figures["items read by a receive of 10"] = scanned
    finally:
        server.terminate()
        server.wait(timeout=10)
    return figures


def _receive(services, tenant: str, subscription_id: str) -> None:
    services.deliveries.receive(tenant, subscription_id, 10, 300, 0)
