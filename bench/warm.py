"""Warm overhead per request, through each Lambda handler, with storage replaced by the in-memory double.

Subjects: ours (handlers/lambda_handler.py), the Flask + aws-wsgi reference, the raw-handler floor, and ours before
each performance lever (bench/levers.py). All share one process, one storage double and the same requests; their
calls take turns, 100 at a time, within each operation of each repeat, so a noisy moment hits them alike. A figure
is the median over repeats of (time for `calls` requests) / `calls`.

Worker of `python -m bench`; alone: python -m bench.warm --calls 1000 --repeats 5 --out warm.json
"""

import argparse
import contextlib
import gc
import json
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path

from bench import schemas, workload
from bench.gateway import lambda_context

OPERATIONS = ("health", "create", "create_invalid", "inbox", "ack", "get", "delete")
LEVER_OPERATIONS = ("health", "create", "create_invalid", "inbox", "ack")
EXPECTED_STATUS = {
    "health": 200,
    "create": 201,
    "create_invalid": 400,
    "inbox": 200,
    "ack": 200,
    "get": 200,
    "delete": 200,
}
INBOX_PAGE = 50
CHUNK = 100  # calls a handler makes before the next one takes its turn


class Requests:
    """The requests of each operation. Tenants are separate so that no operation changes another's data."""

    def __init__(self):
        from triggers.domain import events

        self.events = events
        self.create_key, _ = workload.new_tenant("create")
        self.inbox_key, inbox_tenant = workload.new_tenant("inbox")
        for _ in range(INBOX_PAGE + 10):
            events.create_event(inbox_tenant, "billing", "invoice.paid", {"n": 1})
        self.ack_key, self.ack_tenant = workload.new_tenant("ack")
        self.read_key, read_tenant = workload.new_tenant("read")
        stored = events.create_event(read_tenant, "billing", "invoice.paid", workload.VALID_EVENT["payload"])
        self.fixed = {
            "health": workload.health_request(),
            "create": workload.create_request(self.create_key),
            "create_invalid": workload.create_request(self.create_key, workload.INVALID_EVENT),
            "inbox": workload.inbox_request(self.inbox_key, INBOX_PAGE),
            "get": workload.event_request("GET", self.read_key, stored.event_id),
            # An id that never existed: a delete is idempotent (200), and still one DeleteItem.
            "delete": workload.event_request("DELETE", self.read_key, str(uuid.uuid4())),
        }

    def batch(self, operation: str, calls: int) -> list[dict]:
        if operation != "ack":
            return [self.fixed[operation]] * calls
        # Each ack needs its own pending event; they are made before the clock starts.
        return [workload.event_request("POST", self.ack_key, self._pending(), "/ack") for _ in range(calls)]

    def _pending(self) -> str:
        return self.events.create_event(self.ack_tenant, "billing", "invoice.paid", {"n": 1}).event_id


@contextlib.contextmanager
def without_info_lines():
    """Ours with its per-request INFO log line switched off: what the line costs, apart from the framework."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(level)


def subjects(include_levers: bool) -> dict[str, tuple]:
    """name → (handler, operations, context of its batches). Ours is imported first: it configures logging,
    which is then silenced."""
    from handlers.lambda_handler import handler as ours

    workload.silence_logs()
    from bench import levers, reference_flask, reference_raw

    chosen = {
        "ours": (ours, OPERATIONS, contextlib.nullcontext),
        "flask": (reference_flask.handler, OPERATIONS, contextlib.nullcontext),
        "raw": (reference_raw.handler, OPERATIONS, contextlib.nullcontext),
        "ours_no_log_line": (ours, OPERATIONS, without_info_lines),
    }
    if include_levers:
        for name, (pulled, _) in levers.VARIANTS.items():
            missing = levers.missing_modules(pulled)
            if missing:
                print(f"  {', '.join(missing)} not installed: the {name!r} row is skipped", file=sys.stderr)
                continue
            chosen[name] = (levers.variant(pulled), LEVER_OPERATIONS, contextlib.nullcontext)
        tests_setting = levers.variant(levers.ORDER, validate_responses=True)
        chosen["+validate_responses"] = (tests_setting, LEVER_OPERATIONS, contextlib.nullcontext)
    return chosen


def check(name: str, operation: str, response: dict) -> None:
    status = int(response["statusCode"])
    if status != EXPECTED_STATUS[operation]:
        raise SystemExit(f"{name} answered {operation} with {status}: {response.get('body', '')[:300]}")
    if operation == "inbox" and len(json.loads(response["body"])["events"]) != INBOX_PAGE:
        raise SystemExit(f"{name} answered an inbox page without {INBOX_PAGE} events")


def reference_schema_matches_spec() -> bool:
    """The references validate with a hand-copied NewEvent schema; it must still be the spec's."""
    from triggers.http.app import load_spec

    spec = load_spec()

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                target = spec
                for part in node["$ref"].lstrip("#/").split("/"):
                    target = target[part]
                return resolve(target)
            return {key: resolve(value) for key, value in node.items() if key not in ("example", "description")}
        return node

    return resolve(spec["components"]["schemas"]["NewEvent"]) == schemas.NEW_EVENT


def measure(calls: int, repeats: int, include_levers: bool) -> dict:
    from bench.storage_double import InMemoryDynamoDB
    from triggers.storage import dynamodb

    dynamodb.use_client(InMemoryDynamoDB())
    handlers = subjects(include_levers)
    requests = Requests()
    context = lambda_context()
    warmup = max(3, min(50, calls // 10))
    print(f"  warming up {len(handlers)} handlers ({warmup} calls per operation)", file=sys.stderr)
    for name, (handler, operations, batch_context) in handlers.items():
        for operation in operations:
            with batch_context():
                for request in requests.batch(operation, warmup):
                    response = handler(request, context)
            check(name, operation, response)
    runs = {
        operation: {name: [] for name, (_, ops, _) in handlers.items() if operation in ops} for operation in OPERATIONS
    }
    chunk = max(1, min(CHUNK, calls // 10))
    for repeat in range(repeats):
        print(f"  repeat {repeat + 1}/{repeats}: {calls} calls per operation and handler", file=sys.stderr, flush=True)
        for operation in OPERATIONS:
            names = list(runs[operation])
            batches = {name: requests.batch(operation, calls) for name in names}
            elapsed = dict.fromkeys(names, 0)
            gc.collect()
            # The handlers take turns `chunk` calls at a time, so each one's calls spread over the same seconds
            # and a noisy moment on this machine is shared; the order rotates so that no one always goes first.
            for turn, start in enumerate(range(0, calls, chunk)):
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    handler, _, batch_context = handlers[name]
                    with batch_context():
                        started = time.perf_counter_ns()
                        for request in batches[name][start : start + chunk]:
                            response = handler(request, context)
                        elapsed[name] += time.perf_counter_ns() - started
                    check(name, operation, response)
            for name in names:
                runs[operation][name].append(elapsed[name] / calls / 1000)
    return {
        "calls": calls,
        "repeats": repeats,
        "unit": "µs per request",
        "reference_schema_matches_spec": reference_schema_matches_spec(),
        "operations": {
            operation: {name: {"median": statistics.median(values), "runs": values} for name, values in by_name.items()}
            for operation, by_name in runs.items()
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-levers", action="store_true", help="only ours and the references")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    workload.configure_environment()
    args.out.write_text(json.dumps(measure(args.calls, args.repeats, not args.no_levers), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
