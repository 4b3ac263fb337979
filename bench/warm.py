"""Warm: µs per request through each Lambda handler, ours and the Flask + aws-wsgi reference, per operation.

Both live in one process on one in-memory DynamoDB double (bench/storage_double.py) and get the same API Gateway
events. Within each operation of each repeat they take turns, CHUNK calls at a time and in rotating order, so a
noisy moment on the machine hits both alike. A figure is the median over repeats of (time for `calls` requests) /
`calls`; the ratio is the median over repeats of ours / the reference in the same repeat (paired, so a repeat that
the machine slowed down counts like any other).
"""

import gc
import json
import statistics
import sys
import time
import uuid
from typing import Any

from bench import reference_flask, workload
from bench.storage_double import new_client
from scripts.api_gateway_events import rest_event
from triggers.app import create_app
from triggers.http.wsgi import lambda_handler
from triggers.services import build_services
from triggers.settings import from_environment

# create_idempotent: each with a new Idempotency-Key (a transaction of two Puts); create_invalid: no event_type.
OPERATIONS = ("health", "create", "create_idempotent", "create_invalid", "inbox", "ack", "get", "delete")
STATUS = {"create": 201, "create_idempotent": 201, "create_invalid": 400}  # the others: 200
INBOX_PAGE = 50
CHUNK = 100


class Requests:
    """The requests of each operation. Tenants are separate, so that no operation changes another's data."""

    def __init__(self, settings, dynamodb):
        self.events = build_services(settings, dynamodb).events  # makes the data the requests read
        self.create_key, _ = workload.new_tenant(settings, dynamodb, "create")
        inbox_key, inbox_tenant = workload.new_tenant(settings, dynamodb, "inbox")
        for _ in range(INBOX_PAGE + 10):
            self.events.create_event(inbox_tenant, "billing", "invoice.paid", {"n": 1})
        self.ack_key, self.ack_tenant = workload.new_tenant(settings, dynamodb, "ack")
        read_key, read_tenant = workload.new_tenant(settings, dynamodb, "read")
        stored, _ = self.events.create_event(read_tenant, "billing", "invoice.paid", workload.VALID_EVENT["payload"])
        self.fixed = {
            "health": rest_event("GET", "/v1/health"),
            "create": workload.create_request(self.create_key),
            "create_invalid": workload.create_request(self.create_key, workload.INVALID_EVENT),
            "inbox": rest_event("GET", "/v1/inbox", headers={"X-API-Key": inbox_key}, query={"limit": INBOX_PAGE}),
            "get": rest_event("GET", f"/v1/events/{stored}", headers={"X-API-Key": read_key}),
            # An id that never existed: a delete is idempotent (200), and still one DeleteItem.
            "delete": rest_event("DELETE", f"/v1/events/{uuid.uuid4()}", headers={"X-API-Key": read_key}),
        }

    def batch(self, operation: str, calls: int) -> list[dict]:
        """`calls` requests, made before the clock starts: acks each need a pending event, idempotent creates a key."""
        if operation == "ack":
            new = (self.events.create_event(self.ack_tenant, "billing", "invoice.paid", {})[0] for _ in range(calls))
            return [rest_event("POST", f"/v1/events/{id_}/ack", headers={"X-API-Key": self.ack_key}) for id_ in new]
        if operation == "create_idempotent":
            return [workload.create_request(self.create_key, None, str(uuid.uuid4())) for _ in range(calls)]
        return [self.fixed[operation]] * calls


def paired_ratio(ours: list[float], reference: list[float]) -> float:
    """The median of ours / the reference over runs made side by side."""
    return statistics.median(mine / theirs for mine, theirs in zip(ours, reference, strict=True))


def check(name: str, operation: str, response: dict) -> None:
    status = int(response["statusCode"])
    if status != STATUS.get(operation, 200):
        raise SystemExit(f"{name} answered {operation} with {status}: {response.get('body', '')[:300]}")
    if operation == "inbox" and len(json.loads(response["body"])["events"]) != INBOX_PAGE:
        raise SystemExit(f"{name} answered an inbox page without {INBOX_PAGE} events")


def measure(calls: int, repeats: int) -> dict:
    settings, dynamodb = from_environment(workload.ENVIRONMENT), new_client()
    handlers = {"ours": lambda_handler(create_app(settings, dynamodb))}
    workload.silence_logs()  # create_app configured logging
    services = build_services(settings, dynamodb)
    handlers["flask"] = reference_flask.lambda_handler(services.events, services.authenticator)
    requests, context = Requests(settings, dynamodb), workload.lambda_context()
    for name, handler in handlers.items():
        for operation in OPERATIONS:
            for request in requests.batch(operation, max(3, min(50, calls // 10))):  # warm-up
                response = handler(request, context)
            check(name, operation, response)
    runs: dict[str, dict[str, list[float]]] = {operation: {name: [] for name in handlers} for operation in OPERATIONS}
    chunk = max(1, min(CHUNK, calls // 10))
    for repeat in range(repeats):
        print(f"  repeat {repeat + 1}/{repeats}: {calls} calls per operation and handler", file=sys.stderr, flush=True)
        for operation in OPERATIONS:
            names = list(handlers)
            batches = {name: requests.batch(operation, calls) for name in names}
            elapsed = dict.fromkeys(names, 0)
            gc.collect()
            for turn, start in enumerate(range(0, calls, chunk)):
                for name in names[turn % 2 :] + names[: turn % 2]:
                    handler = handlers[name]
                    started = time.perf_counter_ns()
                    for request in batches[name][start : start + chunk]:
                        response = handler(request, context)
                    elapsed[name] += time.perf_counter_ns() - started
                    check(name, operation, response)
            for name in names:
                runs[operation][name].append(elapsed[name] / calls / 1000)
    operations = {}
    for operation, by_name in runs.items():
        figures: dict[str, Any] = {name: {"median": statistics.median(v), "runs": v} for name, v in by_name.items()}
        operations[operation] = figures | {"ratio": paired_ratio(by_name["ours"], by_name["flask"])}
    return {"calls": calls, "repeats": repeats, "unit": "µs per request", "operations": operations}
