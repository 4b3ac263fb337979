"""A bounded load test against a stage, in one of two modes; then every answer is checked against what the stage
stored or handed out.

- `--mode inbox` (the default): concurrent clients create events, page their inbox and acknowledge events on it.
  Exit status 0 only if no answer was 5xx and the stored events match exactly what was answered 201 and
  acknowledged.
- `--mode subscription`: producers create events while consumers (`--clients`) share one subscription, each
  receiving with a visibility timeout and acknowledging what it got (optionally abandoning a share, `--abandon`, as a
  consumer that crashes would). It needs the stage's fan-out function to run (the local stage's
  serverless-offline-dynamodb-streams). Exit status 0 only if no answer was 5xx, every event answered 201 was
  received and acknowledged exactly once, a delivery was received again only after its lease had ended, no ack
  was `lease_lost` or `not_found`, and nothing ended among the dead letters.

Loopback only: by default it starts the local stage itself (scripts/local_stage.py) and stops it at the end; with
--url it drives a stage already running on 127.0.0.1 with keys from --key (repeatable, one per client, round-robin).
It stops by itself: after --seconds (and, in subscription mode, --max-events and --drain-seconds).
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlparse

import httpx

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Tally:
    """What the clients saw: answers by operation and status, latencies, and what the stage promised."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    created: dict[str, float] = field(default_factory=dict)  # event id → when its 201 arrived
    acknowledged: set[str] = field(default_factory=set)
    server_errors: list[str] = field(default_factory=list)

    def record(self, operation: str, response: httpx.Response, seconds: float) -> None:
        self.latencies[operation].append(seconds)
        self.statuses[operation][response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{operation} {response.status_code} {response.text[:200]}")


async def client_loop(http: httpx.AsyncClient, key: str, deadline: float, tally: Tally) -> None:
    headers = {"X-API-Key": key}

    async def timed(operation, method, path, **kwargs):
        started = time.perf_counter()
        response = await http.request(method, path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)
        tally.record(operation, response, time.perf_counter() - started)
        return response

    while time.monotonic() < deadline:
        body = {"source": "load", "event_type": "load.test", "payload": {"n": uuid.uuid4().hex}}
        created = await timed("create", "POST", "/v1/events", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if created.status_code == 201:
            tally.created[created.json()["event_id"]] = time.monotonic()
        page = await timed("inbox", "GET", "/v1/inbox", params={"limit": "10"})
        if page.status_code != 200:
            continue
        events = page.json()["events"]
        for event in random.sample(events, min(3, len(events))):  # noqa: S311 (spreading load, not security)
            acked = await timed("ack", "POST", f"/v1/events/{event['event_id']}/ack")
            if acked.status_code == 200:
                tally.acknowledged.add(event["event_id"])


async def verify(http: httpx.AsyncClient, keys: list[str], tally: Tally) -> list[str]:
    """Every 201 is stored once, in the state its answers say; the inbox holds exactly the rest, oldest first."""
    problems = []
    turn = iter(range(10**9))

    async def get(path, **params):
        """A read spread over the keys, waiting out their rate limit (Retry-After) rather than failing on it."""
        for _ in range(10):
            response = await http.get(path, params=params, headers={"X-API-Key": keys[next(turn) % len(keys)]})
            if response.status_code != 429:
                return response
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        return response

    inbox, cursor = [], None
    while True:
        page = await get("/v1/inbox", limit="100", **({"cursor": cursor} if cursor else {}))
        if page.status_code != 200:
            return [f"inbox answered {page.status_code} during verification"]
        inbox += [event["event_id"] for event in page.json()["events"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    expected_pending = [event_id for event_id in tally.created if event_id not in tally.acknowledged]
    if len(inbox) != len(set(inbox)):
        problems.append("the inbox lists an event twice")
    if set(inbox) != set(expected_pending):
        missing = set(expected_pending) - set(inbox)
        extra = set(inbox) - set(expected_pending)
        problems.append(f"inbox differs: {len(missing)} pending events missing, {len(extra)} unexpected")
    semaphore = asyncio.Semaphore(10)

    async def check(event_id: str) -> None:
        async with semaphore:
            response = await get(f"/v1/events/{event_id}")
        expected = "acknowledged" if event_id in tally.acknowledged else "pending"
        if response.status_code != 200 or response.json()["status"] != expected:
            problems.append(f"event {event_id}: {response.status_code} {response.text[:120]}, expected {expected}")

    await asyncio.gather(*(check(event_id) for event_id in tally.created))
    return problems


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def report(tally: Tally, seconds: float, who: str) -> str:
    lines = [f"{who} for {seconds:.0f} s"]
    total = sum(len(values) for values in tally.latencies.values())
    lines.append(f"requests: {total} ({total / seconds:.1f}/s)")
    lines.append(f"{'operation':<8} {'count':>6} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    everything = [value for values in tally.latencies.values() for value in values]
    for operation, values in [*sorted(tally.latencies.items()), ("all", everything)]:
        statuses = dict(tally.statuses[operation]) if operation != "all" else {}
        lines.append(
            f"{operation:<8} {len(values):>6} {statistics.median(values) * 1000 if values else float('nan'):>8.1f} "
            f"{percentile(values, 0.99) * 1000:>8.1f}  {statuses or ''}"
        )
    return "\n".join(lines)


async def run(url: str, keys: list[str], clients: int, seconds: float) -> tuple[Tally, list[str], float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients + 10)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        started = time.monotonic()
        deadline = started + seconds
        progress = asyncio.create_task(show_progress(tally, deadline))
        await asyncio.gather(*(client_loop(http, keys[i % len(keys)], deadline, tally) for i in range(clients)))
        progress.cancel()
        elapsed = time.monotonic() - started
        print("verifying what the stage stored...", flush=True)
        problems = await verify(http, keys, tally)
    return tally, problems, elapsed


async def show_progress(tally: Tally, deadline: float) -> None:
    while True:
        await asyncio.sleep(10)
        done = sum(len(values) for values in tally.latencies.values())
        print(f"  {done} requests, {max(0, deadline - time.monotonic()):.0f} s to go", flush=True)


# Subscription mode


@dataclass
class Receipt:
    """One delivery of an event to a consumer: its lease (on the stage's clock) and when the answer came."""

    delivery_count: int
    lease_token: str
    lease_starts: float  # epoch seconds, the stage's clock: lease_expires_at - the visibility timeout
    lease_ends: float
    received_at: float  # epoch seconds, this machine's clock (the stage is on loopback: the same clock)


@dataclass
class Deliveries(Tally):
    """What the producers and consumers saw beyond the answers: receipts, ack outcomes, abandoned leases."""

    visibility_timeout: int = 30
    created_at: dict[str, float] = field(default_factory=dict)  # event id → epoch seconds of its 201
    receipts: dict[str, list[Receipt]] = field(default_factory=lambda: defaultdict(list))
    acks: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # event id → acknowledged at
    outcomes: Counter = field(default_factory=Counter)  # ack outcome → count
    abandoned: int = 0
    empty_receives: int = 0
    failed_receives: int = 0  # not answered 200: what they leased comes back later with a higher count
    failed_creates: int = 0  # not answered 201: the event may exist all the same, and be delivered
    refused: list[str] = field(default_factory=list)  # acks answered lease_lost or not_found
    production_over: bool = False

    def all_processed(self) -> bool:
        return self.production_over and all(event_id in self.acks for event_id in self.created_at)


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def timed_call(http: httpx.AsyncClient, key: str, tally: Tally):
    """A request that counts in the tally, waiting out a 429 (Retry-After) rather than failing on it."""

    async def call(operation: str, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"X-API-Key": key, **kwargs.pop("headers", {})}
        while True:
            started = time.perf_counter()
            try:
                response = await http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:  # no answer: counted as a 5xx, and the caller goes on
                response = httpx.Response(599, text=f"{type(exc).__name__}: {exc}")
            tally.record(operation, response, time.perf_counter() - started)
            if response.status_code != 429:
                return response
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

    return call


async def producer_loop(http, key: str, deadline: float, max_events: int, tally: Deliveries) -> None:
    call = timed_call(http, key, tally)
    while time.monotonic() < deadline and len(tally.created) + tally.failed_creates < max_events:
        body = {"source": "load", "event_type": "load.subscription", "payload": {"n": uuid.uuid4().hex}}
        created = await call("create", "POST", "/v1/events", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if created.status_code != 201:
            tally.failed_creates += 1  # it may have been stored all the same: its delivery is then unknown
        else:
            tally.created[created.json()["event_id"]] = time.monotonic()
            tally.created_at[created.json()["event_id"]] = time.time()


async def consumer_loop(
    http, key: str, subscription_id: str, deadline: float, abandon: float, tally: Deliveries, delay: float = 0
) -> None:
    """Receive, then acknowledge in one request what was received, less what this consumer abandons (a crash after
    the receive: the lease ends and the delivery comes back). After an empty receive, a pause of about a second:
    each look costs the stage one Query per queue shard, and 20 consumers looking at once would take the local
    stage's DynamoDB (moto, one request at a time) from everything else."""
    call = timed_call(http, key, tally)
    path = f"/v1/subscriptions/{subscription_id}"
    timeout = tally.visibility_timeout
    await asyncio.sleep(delay)
    while time.monotonic() < deadline and not tally.all_processed():
        body = {"max_events": 10, "visibility_timeout": timeout}
        answer = await call("receive", "POST", path + "/receive", json=body)
        if answer.status_code != 200:
            tally.failed_receives += 1
            await asyncio.sleep(1)
            continue
        deliveries = answer.json()["deliveries"]
        if not deliveries:
            tally.empty_receives += 1
            await asyncio.sleep(random.uniform(0.5, 1.5))  # noqa: S311 (spreading load, not security)
            continue
        now = time.time()
        tokens = []
        for delivery in deliveries:
            ends = epoch(delivery["lease_expires_at"])
            receipt = Receipt(delivery["delivery_count"], delivery["lease_token"], ends - timeout, ends, now)
            tally.receipts[delivery["event"]["event_id"]].append(receipt)
            if random.random() < abandon:  # noqa: S311 (a simulated crash, not security)
                tally.abandoned += 1
            else:
                tokens.append(delivery["lease_token"])
        if not tokens:
            continue
        acked = await call("ack", "POST", path + "/ack", json={"lease_tokens": tokens})
        if acked.status_code != 200:
            continue
        at = time.time()
        for result in acked.json()["results"]:
            tally.outcomes[result["outcome"]] += 1
            event_id = result["lease_token"].partition(".")[0]
            if result["outcome"] == "acknowledged":
                tally.acks[event_id].append(at)
            else:
                tally.refused.append(f"ack of {result['lease_token']}: {result['outcome']}")


def check_deliveries(tally: Deliveries) -> list[str]:
    """Every event received and acknowledged once; a delivery received again only after its lease ended, never after
    its ack; no refused ack."""
    problems = []
    if tally.created and not tally.receipts:
        problems.append(
            f"none of {len(tally.created)} events was ever delivered: does the stage run the fan-out function "
            "(the local stage: serverless-offline-dynamodb-streams)?"
        )
    unreceived = [e for e in tally.created if e not in tally.receipts]
    unacknowledged = [e for e in tally.created if e not in tally.acks]
    if unreceived and tally.receipts:
        problems.append(f"{len(unreceived)} events answered 201 were never received, e.g. {unreceived[:3]}")
    if unacknowledged and tally.receipts:
        problems.append(f"{len(unacknowledged)} events were never acknowledged, e.g. {unacknowledged[:3]}")
    unknown = set(tally.receipts) - set(tally.created)
    if len(unknown) > tally.failed_creates:
        problems.append(
            f"{len(unknown)} deliveries of events not answered 201 (only {tally.failed_creates} creates failed), "
            f"e.g. {sorted(unknown)[:3]}"
        )
    for event_id, acks in tally.acks.items():
        if len(acks) > 1:
            problems.append(f"event {event_id} acknowledged {len(acks)} times")
    for event_id, receipts in tally.receipts.items():
        receipts.sort(key=lambda receipt: receipt.delivery_count)
        counts = [receipt.delivery_count for receipt in receipts]
        # A receive that failed (a 5xx, no answer) may have leased deliveries no consumer saw: a gap in the counts.
        if len(set(counts)) != len(counts) or (not tally.failed_receives and counts != list(range(1, len(counts) + 1))):
            problems.append(f"event {event_id} was received with delivery counts {counts}")
        for before, after in zip(receipts, receipts[1:], strict=False):
            if after.lease_starts < before.lease_ends:
                problems.append(
                    f"event {event_id} received again {before.lease_ends - after.lease_starts:.3f} s before its "
                    "lease ended"
                )
        acknowledged = tally.acks.get(event_id)
        if acknowledged and any(receipt.lease_starts > min(acknowledged) for receipt in receipts):
            problems.append(f"event {event_id} received again after it was acknowledged")
    return problems + tally.refused[:20]


async def verify_subscription(http, key: str, subscription_id: str) -> list[str]:
    """Nothing is left: no dead letter, and a receive finds nothing (every lease was acknowledged)."""
    problems = []
    path = f"/v1/subscriptions/{subscription_id}"
    dead = await http.get(path + "/dead-letters", headers={"X-API-Key": key})
    if dead.status_code != 200 or dead.json()["dead_letters"]:
        problems.append(f"dead letters: {dead.status_code} {dead.text[:200]}")
    left = await http.post(path + "/receive", json={"max_events": 100}, headers={"X-API-Key": key})
    if left.status_code != 200 or left.json()["deliveries"]:
        problems.append(f"a receive after the run: {left.status_code} {left.text[:200]}")
    return problems


async def run_subscription(
    url: str, keys: list[str], options: argparse.Namespace
) -> tuple[Deliveries, list[str], float]:
    tally = Deliveries(visibility_timeout=options.visibility_timeout)
    consumers, producers = options.clients, options.producers
    limits = httpx.Limits(max_connections=consumers + producers + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        created = await http.post(
            "/v1/subscriptions",
            json={"name": "load", "filter": {"event_types": ["load.subscription"]}},
            headers={"X-API-Key": keys[0]},
        )
        if created.status_code != 201:
            return tally, [f"creating the subscription answered {created.status_code} {created.text[:200]}"], 0.0
        subscription_id = created.json()["subscription_id"]
        started = time.monotonic()
        production_ends = started + options.seconds
        drain_ends = production_ends + options.drain_seconds
        progress = asyncio.create_task(show_subscription_progress(tally, drain_ends))

        async def produce() -> None:
            await asyncio.gather(
                *(
                    producer_loop(http, keys[(consumers + i) % len(keys)], production_ends, options.max_events, tally)
                    for i in range(producers)
                )
            )
            tally.production_over = True

        await asyncio.gather(
            produce(),
            # Consumers join a quarter of a second apart: each one's first request starts a Python worker (a cold
            # start), and 20 of them at once would leave the 25 s function timeout behind on a small machine.
            *(
                consumer_loop(http, keys[i % len(keys)], subscription_id, drain_ends, options.abandon, tally, i / 4)
                for i in range(consumers)
            ),
        )
        progress.cancel()
        elapsed = time.monotonic() - started
        print("verifying what the consumers saw and what the subscription holds...", flush=True)
        problems = check_deliveries(tally) + await verify_subscription(http, keys[0], subscription_id)
    return tally, problems, elapsed


async def show_subscription_progress(tally: Deliveries, deadline: float) -> None:
    while True:
        await asyncio.sleep(10)
        print(
            f"  {len(tally.created)} created, {len(tally.receipts)} received, {len(tally.acks)} acknowledged, "
            f"at most {max(0, deadline - time.monotonic()):.0f} s to go",
            flush=True,
        )


def subscription_figures(tally: Deliveries) -> dict:
    redeliveries = sum(len(receipts) - 1 for receipts in tally.receipts.values())
    first_receipt = [
        receipts[0].received_at - tally.created_at[e] for e, receipts in tally.receipts.items() if e in tally.created_at
    ]
    acknowledged = [min(acks) - tally.created_at[e] for e, acks in tally.acks.items() if e in tally.created_at]
    return {
        "created": len(tally.created),
        "received": len(tally.receipts),
        "receipts": sum(len(receipts) for receipts in tally.receipts.values()),
        "redeliveries_after_expired_lease": redeliveries,
        "abandoned": tally.abandoned,
        "acknowledged": len(tally.acks),
        "ack_outcomes": dict(tally.outcomes),
        "empty_receives": tally.empty_receives,
        "failed_receives": tally.failed_receives,
        "created_to_received_ms": {
            "p50": round(percentile(first_receipt, 0.5) * 1000),
            "p99": round(percentile(first_receipt, 0.99) * 1000),
        }
        if first_receipt
        else {},
        "created_to_acknowledged_ms": {
            "p50": round(percentile(acknowledged, 0.5) * 1000),
            "p99": round(percentile(acknowledged, 0.99) * 1000),
        }
        if acknowledged
        else {},
    }


def report_subscription(tally: Deliveries, seconds: float, options: argparse.Namespace) -> str:
    figures = subscription_figures(tally)
    lines = [
        report(tally, seconds, f"{options.producers} producers and {options.clients} consumers of one subscription")
    ]
    lines.append(
        f"events: {figures['created']} created, {figures['received']} received, {figures['acknowledged']} acknowledged"
    )
    lines.append(
        f"receipts: {figures['receipts']}; received again after an expired lease: "
        f"{figures['redeliveries_after_expired_lease']} ({figures['abandoned']} leases abandoned on purpose)"
    )
    lines.append(
        f"ack outcomes: {figures['ack_outcomes']}; receives: {figures['empty_receives']} empty, "
        f"{figures['failed_receives']} failed"
    )
    lines.append(
        f"created → received ms: {figures['created_to_received_ms']}; "
        f"created → acknowledged ms: {figures['created_to_acknowledged_ms']}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running stage on 127.0.0.1 (default: start the local stage)")
    parser.add_argument("--key", action="append", default=[], help="an API key of one tenant (repeatable)")
    parser.add_argument("--mode", choices=("inbox", "subscription"), default="inbox")
    parser.add_argument("--clients", type=int, default=20, help="clients (subscription mode: consumers)")
    parser.add_argument("--seconds", type=float, default=60, help="how long clients (producers) create events")
    parser.add_argument("--producers", type=int, default=4, help="subscription mode: clients creating events")
    parser.add_argument("--max-events", type=int, default=1000, help="subscription mode: events created at most")
    parser.add_argument(
        "--visibility-timeout", type=int, default=30, help="subscription mode: seconds each lease lasts"
    )
    parser.add_argument(
        "--abandon",
        type=float,
        default=0.0,
        help="subscription mode: the share of deliveries a consumer leaves unacknowledged, as if it crashed",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=60,
        help="subscription mode: how long consumers may go on after the producers stop, to process what is left",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.clients < 1 or not 1 <= args.seconds <= 600:
        parser.error("--clients must be at least 1 and --seconds between 1 and 600")
    if args.mode == "subscription":
        if args.producers < 1 or not 1 <= args.max_events <= 100_000 or not 0 <= args.abandon < 1:
            parser.error("--producers must be at least 1, --max-events 1 to 100000, --abandon from 0 to under 1")
        if not 1 <= args.visibility_timeout <= 600 or not 0 <= args.drain_seconds <= 600:
            parser.error("--visibility-timeout must be 1 to 600 and --drain-seconds 0 to 600")
        if args.abandon and args.drain_seconds <= args.visibility_timeout:
            parser.error("with --abandon, --drain-seconds must exceed --visibility-timeout (abandoned leases end)")
    clients = args.clients + (args.producers if args.mode == "subscription" else 0)

    stage = None
    if args.url:
        if urlparse(args.url).hostname not in LOOPBACK_HOSTS:
            parser.error("the load test only sends traffic to this machine (127.0.0.1, localhost, ::1)")
        if not args.key:
            parser.error("--url needs at least one --key")
        url, keys = args.url.rstrip("/"), args.key
    else:
        from scripts import local_stage

        log = tempfile.NamedTemporaryFile("w", prefix="load-stage-", suffix=".log", delete=False)  # noqa: SIM115
        print(f"starting the local stage (its output: {log.name})...", flush=True)
        # Several keys of one tenant, one per client: the per-key limit (1,000 a minute) stays what it is deployed.
        stage = local_stage.start(output=log, progress=lambda message: print("  " + message, flush=True))
        url = stage.url
        keys = [stage.create_key("load", name=f"load client {i}") for i in range(clients)]
    tally: Tally
    try:
        if args.mode == "subscription":
            print(
                f"load: {args.producers} producers (for {args.seconds:.0f} s, at most {args.max_events} events) and "
                f"{args.clients} consumers of one subscription against {url}",
                flush=True,
            )
            tally, problems, elapsed = asyncio.run(run_subscription(url, keys, args))
            print(report_subscription(tally, elapsed, args))
        else:
            print(f"load: {args.clients} clients, {args.seconds:.0f} s against {url}", flush=True)
            tally, problems, elapsed = asyncio.run(run(url, keys, args.clients, args.seconds))
            print(report(tally, elapsed, f"{args.clients} clients"))
            print(f"events answered 201: {len(tally.created)}, acknowledged (200): {len(tally.acknowledged)}")
    finally:
        if stage is not None:
            stage.stop()
    if args.json:
        figures = {
            "mode": args.mode,
            "clients": args.clients,
            "seconds": round(elapsed, 1),
            "requests": sum(len(v) for v in tally.latencies.values()),
            "statuses": {op: dict(codes) for op, codes in tally.statuses.items()},
            "p50_ms": {op: round(statistics.median(v) * 1000, 1) for op, v in tally.latencies.items() if v},
            "p99_ms": {op: round(percentile(v, 0.99) * 1000, 1) for op, v in tally.latencies.items()},
            "created": len(tally.created),
            "acknowledged": len(tally.acknowledged),
            "server_errors": tally.server_errors[:20],
            "problems": problems[:20],
        }
        if isinstance(tally, Deliveries):
            figures |= {"producers": args.producers, **subscription_figures(tally)}
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    for line in tally.server_errors[:10] + problems[:20]:
        print("FAIL:", line, file=sys.stderr)
    if tally.server_errors or problems:
        return 1
    if args.mode == "subscription":
        print("OK: no 5xx; every event received and acknowledged once, again only after an expired lease")
    else:
        print("OK: no 5xx, and the stored events match every 201 and every acknowledgement")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
