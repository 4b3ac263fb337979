"""The reference: the same API written by hand with Flask behind aws-wsgi, no Connexion.

It routes the same paths, checks the same API key the same way (triggers.auth.api_keys.authenticate: its key
cache and the rate limit),
validates the create body against the spec's NewEvent schema with `jsonschema` (the library a hand-written app
reaches for, compiled once) and every parameter with hand-written checks, calls the same domain functions on
the same storage, and answers the same bodies, problem documents and X-Request-ID. What it leaves out is the
framework: no spec loaded at run time, no middleware stack, no log line.

The schema is written out (bench/schemas.py) as a hand-written app would; bench/warm.py checks it still equals
the spec's.
"""

import re
import uuid
from datetime import UTC, datetime

import awsgi
from flask import Flask, g, request
from jsonschema import Draft4Validator, ValidationError

from bench import schemas
from triggers import __version__
from triggers.auth.api_keys import authenticate
from triggers.domain import events
from triggers.domain.errors import (
    AlreadyAcknowledged,
    DomainError,
    EventNotFound,
    IdempotencyKeyReused,
    InvalidCursor,
    RateLimited,
    StorageUnavailable,
)
from triggers.domain.model import format_time

_new_event = Draft4Validator(schemas.NEW_EVENT)

_EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_CURSOR = re.compile(r"[A-Za-z0-9_.-]{1,2048}")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7E]{1,128}")
_INBOX_PARAMETERS = {"limit", "cursor", "source", "event_type"}

_DOMAIN = {
    EventNotFound: (404, "/problems/not-found", "Not Found", "No event with this id."),
    AlreadyAcknowledged: (409, "/problems/already-acknowledged", "Conflict", "The event is already acknowledged."),
    IdempotencyKeyReused: (422, "/problems/idempotency-key-reused", "Unprocessable Entity", "Key reused."),
    InvalidCursor: (400, "/problems/invalid-cursor", "Bad Request", None),
    StorageUnavailable: (503, "/problems/service-unavailable", "Service Unavailable", "Retry later."),
    RateLimited: (429, "/problems/rate-limited", "Too Many Requests", "Retry later."),
}

app = Flask(__name__)


class Refused(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _problem(status: int, type_: str, title: str, detail: str):
    body = {"type": type_, "title": title, "status": status, "detail": detail, "request_id": g.request_id}
    return app.json.response(body), status, {"Content-Type": "application/problem+json", "X-Request-ID": g.request_id}


def _ok(body: dict, status: int = 200, headers: dict | None = None):
    return {**body, "request_id": g.request_id}, status, {"X-Request-ID": g.request_id, **(headers or {})}


@app.before_request
def _begin():
    g.request_id = str(uuid.uuid4())


@app.errorhandler(Refused)
def _refused(exc: Refused):
    return _problem(exc.status, f"/problems/{exc.title.lower().replace(' ', '-')}", exc.title, exc.detail)


@app.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    status, type_, title, detail = next(mapping for cls, mapping in _DOMAIN.items() if isinstance(exc, cls))
    return _problem(status, type_, title, detail or str(exc))


def _tenant() -> str:
    key = request.headers.get("X-API-Key")
    info = authenticate(key) if key else None
    if info is None:
        raise Refused(401, "Unauthorized", "A valid API key is required in the X-API-Key header.")
    return info["sub"]


def _event_id(event_id: str) -> str:
    if not _EVENT_ID.fullmatch(event_id):
        raise Refused(400, "Bad Request", f"'{event_id}' is not a valid event id")
    return event_id


@app.get("/v1/health")
def get_health():
    return _ok({"status": "ok", "version": __version__, "time": format_time(datetime.now(UTC))})


@app.post("/v1/events")
def create_event():
    tenant = _tenant()
    if request.mimetype != "application/json":
        raise Refused(415, "Unsupported Media Type", f"Invalid Content-type ({request.mimetype})")
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise Refused(400, "Bad Request", "Invalid Idempotency-Key")
    body = request.get_json(silent=True)
    if body is None:
        raise Refused(400, "Bad Request", "The body is not JSON")
    try:
        _new_event.validate(body)
    except ValidationError as exc:
        raise Refused(400, "Bad Request", exc.message) from None
    event = events.create_event(tenant, body["source"], body["event_type"], body["payload"], idempotency_key)
    created = {"event_id": event.event_id, "status": "pending", "created_at": event.created_at}
    return _ok(created, 201, {"Location": f"{request.script_root}/v1/events/{event.event_id}"})


@app.get("/v1/events/<event_id>")
def get_event(event_id):
    return _ok(events.get_event(_tenant(), _event_id(event_id)).public())


@app.delete("/v1/events/<event_id>")
def delete_event(event_id):
    events.delete_event(_tenant(), _event_id(event_id))
    return _ok({"event_id": event_id, "deleted": True})


@app.post("/v1/events/<event_id>/ack")
def acknowledge_event(event_id):
    acknowledged_at = events.acknowledge_event(_tenant(), _event_id(event_id))
    return _ok({"event_id": event_id, "status": "acknowledged", "acknowledged_at": acknowledged_at})


@app.get("/v1/inbox")
def list_inbox():
    tenant = _tenant()
    args = request.args
    extra = set(args) - _INBOX_PARAMETERS
    if extra:
        raise Refused(400, "Bad Request", f"Extra query parameter(s) {','.join(sorted(extra))} not in spec")
    limit = args.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise Refused(400, "Bad Request", "limit must be an integer from 1 to 100")
    cursor, source, event_type = args.get("cursor"), args.get("source"), args.get("event_type")
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise Refused(400, "Bad Request", "Invalid cursor")
    for value in (source, event_type):
        if value is not None and not _NAME_RE.fullmatch(value):
            raise Refused(400, "Bad Request", f"Invalid filter {value!r}")
    page, next_cursor = events.list_inbox(tenant, int(limit), cursor, source, event_type)
    return _ok({"events": [event.public() for event in page], "next_cursor": next_cursor})


def handler(event, context):
    return awsgi.response(app, event, context)
