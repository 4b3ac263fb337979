"""DynamoDB calls per operation, and the items an inbox page reads against the backlog, on the real code and moto.

A moto server stands in for DynamoDB (tables from serverless.yml); the Lambda handler is the real one, with its own
boto3 client. botocore's `before-call` event counts every API call the handler makes, and `after-call` on Query
keeps the ScannedCount DynamoDB reports. Each operation is counted twice: in a warm container (the API key's
lookup cached and a rate-limit lease in hand) and in a cold one (neither).

Worker of `python -m bench`; alone: python -m bench.dynamodb_calls --backlog 10000 --out calls.json
"""

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from bench import workload

PAGE = 50


class Recorder:
    """Counts the API calls made through one boto3 client, by operation and table (`GetItem keys`)."""

    def __init__(self, client, tables: dict[str, str]):
        self.tables = tables  # table name → kind
        self.calls: Counter = Counter()
        self.scanned: list[int] = []
        self._table = None
        client.meta.events.register("before-parameter-build.dynamodb", self._parameters)
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb.Query", self._after_query)

    def _parameters(self, params, **_):
        self._table = self.tables.get(params.get("TableName"), params.get("TableName"))

    def _before(self, model, **_):
        """Once per API call (botocore's retries happen after this event)."""
        self.calls[f"{model.name} {self._table}"] += 1

    def _after_query(self, parsed, **_):
        self.scanned.append(parsed.get("ScannedCount", 0))

    def reset(self) -> None:
        self.calls.clear()
        self.scanned.clear()


class Counting:
    def __init__(self, handler, recorder: Recorder):
        self.handler = handler
        self.recorder = recorder

    def __call__(self, event: dict, warm: bool) -> tuple[int, dict, dict]:
        """Send one request; (status, calls by operation, body). Cold: no cached key, no rate-limit lease."""
        from bench.gateway import lambda_context
        from triggers.auth import api_keys, rate_limits

        if not warm:
            api_keys.forget_cached_keys()
            rate_limits.forget_leases()
        self.recorder.reset()
        response = self.handler(event, lambda_context())
        return int(response["statusCode"]), dict(self.recorder.calls), json.loads(response["body"] or "null")


def _operations(send: Counting, key: str, warm: bool) -> dict:
    """Each operation once, in the order a client would use them; every call counted."""
    counted = {}

    def count(name: str, event: dict, expected: int) -> dict:
        status, calls, body = send(event, warm)
        if status != expected:
            raise SystemExit(f"{name} answered {status}, not {expected}: {body}")
        counted[name] = calls
        return body

    created = count("create", workload.create_request(key), 201)
    event_id = created["event_id"]
    retry = dict(workload.create_request(key))
    retry["headers"] = {**retry["headers"], "Idempotency-Key": f"bench-{uuid.uuid4().hex}"}
    count("create (Idempotency-Key)", retry, 201)
    count("create (same key again)", retry, 201)
    count("get", workload.event_request("GET", key, event_id), 200)
    count("inbox page", workload.inbox_request(key, PAGE), 200)
    count("ack", workload.event_request("POST", key, event_id, "/ack"), 200)
    count("ack again (409)", workload.event_request("POST", key, event_id, "/ack"), 409)
    count("ack unknown (404)", workload.event_request("POST", key, str(uuid.uuid4()), "/ack"), 404)
    count("delete", workload.event_request("DELETE", key, event_id), 200)
    count("health", workload.health_request(), 200)
    return counted


def _seed(client, table: str, tenant: str, count: int, *, acknowledged: bool = False) -> None:
    """`count` events of a tenant written straight to the table (25 a call), in the storage module's item format."""
    from datetime import UTC, datetime

    from triggers.domain.model import ACKNOWLEDGED, PENDING, Event, format_time
    from triggers.storage.events import _to_item  # the item format is the storage module's to define

    now = datetime.now(UTC)
    expires = int(time.time()) + 86400
    items = []
    for n in range(count):
        event = Event(
            tenant_id=tenant,
            event_id=str(uuid.uuid4()),
            source="billing",
            event_type="invoice.paid",
            payload={"n": n},
            status=ACKNOWLEDGED if acknowledged else PENDING,
            created_at=format_time(now),
            expires_at=expires,
            acknowledged_at=format_time(now) if acknowledged else None,
        )
        items.append({"PutRequest": {"Item": _to_item(event)}})
    for start in range(0, len(items), 25):
        batch = {table: items[start : start + 25]}
        while batch:
            batch = client.batch_write_item(RequestItems=batch).get("UnprocessedItems")


def _scanned(send: Counting, recorder: Recorder, key: str) -> int:
    status, calls, body = send(workload.inbox_request(key, PAGE), True)
    if status != 200 or calls.get("Query events") != 1:
        raise SystemExit(f"inbox page: {status}, calls {calls}")
    return recorder.scanned[-1]


def backlog(send: Counting, recorder: Recorder, client, table: str, size: int) -> dict:
    """ScannedCount of one page (limit 50) for: 10 pending; `size` pending; 10 pending while another tenant has
    `size`; 10 pending and `size` acknowledged."""
    results = {}
    small_key, small_tenant = workload.new_tenant("small")
    _seed(client, table, small_tenant, 10)
    results["10 pending"] = _scanned(send, recorder, small_key)

    big_key, big_tenant = workload.new_tenant("big")
    print(f"  writing {size} pending events of one tenant", file=sys.stderr, flush=True)
    _seed(client, table, big_tenant, size)
    results[f"{size} pending"] = _scanned(send, recorder, big_key)

    neighbour_key, neighbour_tenant = workload.new_tenant("neighbour")
    _seed(client, table, neighbour_tenant, 10)
    results[f"10 pending, {size} of another tenant"] = _scanned(send, recorder, neighbour_key)

    done_key, done_tenant = workload.new_tenant("done")
    print(f"  writing {size} acknowledged events of a tenant with 10 pending", file=sys.stderr, flush=True)
    _seed(client, table, done_tenant, 10)
    _seed(client, table, done_tenant, size, acknowledged=True)
    results[f"10 pending, {size} acknowledged"] = _scanned(send, recorder, done_key)
    return results


def measure(backlog_size: int) -> dict:
    from scripts import dynamodb_tables, moto_dynamodb

    port = moto_dynamodb.free_port()
    print(f"  starting moto on port {port}", file=sys.stderr, flush=True)
    server = moto_dynamodb.start(port)
    try:
        stage = workload.ENVIRONMENT["STAGE"]
        tables = {kind: dynamodb_tables.table_name(kind, stage) for kind in dynamodb_tables.TABLE_RESOURCES}
        os.environ["DYNAMODB_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        os.environ["RATE_LIMIT_PER_MINUTE"] = "1000"  # the default: leases of 20 requests
        import boto3

        admin = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT_URL"])
        dynamodb_tables.ensure_tables(admin, tables)

        from handlers.lambda_handler import handler
        from triggers.auth import rate_limits
        from triggers.storage import dynamodb

        workload.silence_logs()
        recorder = Recorder(dynamodb.client(), {name: kind for kind, name in tables.items()})
        send = Counting(handler, recorder)
        key, _ = workload.new_tenant("calls")
        print("  counting calls per operation (warm and cold container)", file=sys.stderr, flush=True)
        send(workload.create_request(key), False)  # the container's first request: clients and leases made
        warm = _operations(send, key, warm=True)
        cold = _operations(send, key, warm=False)
        scanned = backlog(send, recorder, admin, tables["events"], backlog_size)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {
        "operations": {name: {"warm": warm[name], "cold": cold[name]} for name in warm},
        "rate_limit_lease": rate_limits.lease_size(int(os.environ["RATE_LIMIT_PER_MINUTE"])),
        "backlog": backlog_size,
        "page_limit": PAGE,
        "scanned": scanned,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    workload.configure_environment()
    args.out.write_text(json.dumps(measure(args.backlog), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
