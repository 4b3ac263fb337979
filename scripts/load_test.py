"""A bounded load test: concurrent clients create, page and acknowledge events on a stage, then every answer is
checked against what the stage stored.

Loopback only: by default it starts the local stage itself (scripts/local_stage.py) and stops it at the end; with
--url it drives a stage already running on 127.0.0.1 with keys from --key (repeatable, one per client, round-robin).
It stops by itself after --seconds. Exit status 0 only if no answer was 5xx and the stored events match exactly
what was answered 201 and acknowledged.
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
from collections import defaultdict
from dataclasses import dataclass, field
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


def report(tally: Tally, seconds: float, clients: int) -> str:
    lines = [f"{clients} clients for {seconds:.0f} s"]
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
    lines.append(f"events answered 201: {len(tally.created)}, acknowledged (200): {len(tally.acknowledged)}")
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running stage on 127.0.0.1 (default: start the local stage)")
    parser.add_argument("--key", action="append", default=[], help="an API key of one tenant (repeatable)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.clients < 1 or not 1 <= args.seconds <= 600:
        parser.error("--clients must be at least 1 and --seconds between 1 and 600")

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
        keys = [stage.create_key("load", name=f"load client {i}") for i in range(args.clients)]
    try:
        print(f"load: {args.clients} clients, {args.seconds:.0f} s against {url}", flush=True)
        tally, problems, elapsed = asyncio.run(run(url, keys, args.clients, args.seconds))
    finally:
        if stage is not None:
            stage.stop()
    print(report(tally, elapsed, args.clients))
    if args.json:
        figures = {
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
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    for line in tally.server_errors[:10] + problems[:20]:
        print("FAIL:", line, file=sys.stderr)
    if tally.server_errors or problems:
        return 1
    print("OK: no 5xx, and the stored events match every 201 and every acknowledgement")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
