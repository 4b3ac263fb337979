"""A smoke run of the event lifecycle against a stage: what a client does first, checked end to end.

    TRIGGERS_API_KEY=... python -m scripts.smoke_stage <stage-url>        (or: make smoke URL=<stage-url>)

<stage-url> is where the stage serves /v1/... (the local stage's http://127.0.0.1:3000, or a deployed stage's
ServiceEndpoint). The steps, in order, each printed on one line as it passes:

    GET /v1/health, GET /v1/health/ready                     200, 200
    POST /v1/events (an Idempotency-Key of this run)         201, pending
    the same POST again                                      201, the same event (the idempotent replay)
    GET /v1/events/{id}, GET /v1/inbox                       200, the event; 200, the event is in the inbox
    POST /v1/events/{id}/ack                                 200, acknowledged
    DELETE /v1/events/{id}, then GET /v1/events/{id}         200, 404
    GET /v1/inbox without a key                              401

The first step that gets anything else stops the run with what it got (exit status 1). The event is this run's own
(source `smoke`) and is deleted by the run; a run stopped half-way leaves at most that one event, which expires after
`ttl_seconds` (an hour). The deploy workflow runs this right after a deploy, then `make fuzz` (scripts/fuzz_stage.py).
"""

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3

# (method, url, headers, body) -> (status, headers with lower-case names, body)
Send = Callable[[str, str, dict[str, str], bytes | None], tuple[int, dict[str, str], bytes]]
TIMEOUT_SECONDS = 30
HTTP = urllib3.PoolManager()


class SmokeFailed(Exception):
    """A step got an answer it should not have: the message says which step, and what came back."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any  # the JSON body, or the text when it is not JSON


def send_http(method: str, url: str, headers: dict[str, str], body: bytes | None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request, not retried and not redirected; an HTTP error status is an answer like any other."""
    response = HTTP.request(
        method, url, body=body, headers=headers, timeout=TIMEOUT_SECONDS, retries=False, redirect=False
    )
    return response.status, {k.lower(): v for k, v in response.headers.items()}, response.data


class Smoke:
    def __init__(self, url: str, api_key: str, send: Send = send_http, out=None):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.send = send
        self.out = out or sys.stdout

    def call(self, method: str, path: str, *, body: dict | None = None, key: bool = True, headers=None) -> Answer:
        sent = {"Accept": "application/json", **(headers or {})}
        if key:
            sent["X-API-Key"] = self.api_key
        data = None
        if body is not None:
            sent["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        status, received, raw = self.send(method, f"{self.url}{path}", sent, data)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(status, received, parsed)

    def step(self, name: str, answer: Answer, status: int, check: Callable[[Any], bool] = lambda body: True) -> Any:
        if answer.status != status or not check(answer.body):
            shown = json.dumps(answer.body)[:500] if not isinstance(answer.body, str) else answer.body[:500]
            raise SmokeFailed(f"{name}: expected {status}, got {answer.status}: {shown}")
        print(f"ok  {name} ({answer.status})", file=self.out)
        return answer.body

    def run(self) -> None:
        self.step("GET /v1/health", self.call("GET", "/v1/health", key=False), 200, lambda b: b["status"] == "ok")
        self.step(
            "GET /v1/health/ready",
            self.call("GET", "/v1/health/ready", key=False),
            200,
            lambda b: b["status"] == "ready",
        )
        run_id = uuid.uuid4().hex
        event = {
            "source": "smoke",
            "event_type": "smoke.checked",
            "payload": {"run": run_id},
            "ttl_seconds": 3600,
        }
        idempotency = {"Idempotency-Key": f"smoke-{run_id}"}
        created = self.step(
            "POST /v1/events",
            self.call("POST", "/v1/events", body=event, headers=idempotency),
            201,
            lambda b: b["status"] == "pending",
        )
        event_id = created["event_id"]
        self.step(
            "POST /v1/events again (idempotent replay)",
            self.call("POST", "/v1/events", body=event, headers=idempotency),
            201,
            lambda b: b["event_id"] == event_id,
        )
        self.step(
            "GET /v1/events/{id}",
            self.call("GET", f"/v1/events/{event_id}"),
            200,
            lambda b: b["event_id"] == event_id and b["payload"] == {"run": run_id},
        )
        self.step(
            "GET /v1/inbox",
            self.call("GET", "/v1/inbox?limit=100"),
            200,
            lambda b: event_id in [e["event_id"] for e in b["events"]] or b.get("next_cursor") is not None,
        )
        self.step(
            "POST /v1/events/{id}/ack",
            self.call("POST", f"/v1/events/{event_id}/ack"),
            200,
            lambda b: b["status"] == "acknowledged",
        )
        self.step("DELETE /v1/events/{id}", self.call("DELETE", f"/v1/events/{event_id}"), 200)
        self.step("GET /v1/events/{id} after the delete", self.call("GET", f"/v1/events/{event_id}"), 404)
        self.step("GET /v1/inbox without a key", self.call("GET", "/v1/inbox", key=False), 401)


def main(argv=None, env=os.environ, send: Send = send_http) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.smoke_stage",
        description="A smoke run of the event lifecycle against a stage (the key in TRIGGERS_API_KEY).",
    )
    parser.add_argument("url", help="the stage's URL, where it serves /v1/... (its ServiceEndpoint)")
    args = parser.parse_args(argv)
    if urlsplit(args.url).scheme not in ("https", "http"):
        parser.error(f"the stage's URL is https://... (or the local stage's http://...), not {args.url!r}")
    key = env.get("TRIGGERS_API_KEY")
    if not key:
        print(
            "error: set TRIGGERS_API_KEY to a key of the stage (python -m triggers.cli.api_keys create)",
            file=sys.stderr,
        )
        return 2
    try:
        Smoke(args.url, key, send).run()
    except SmokeFailed as failure:
        print(f"FAILED  {failure}", file=sys.stderr)
        return 1
    except (OSError, urllib3.exceptions.HTTPError, KeyError, TypeError) as error:  # unreachable, or the wrong shape
        print(f"FAILED  {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"smoke: the event lifecycle works on {args.url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
