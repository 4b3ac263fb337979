"""The reference: the same API written by hand with Flask behind aws-wsgi, no Connexion.

It routes the same paths, checks the API key with the same `Authenticator` (its key cache and rate limit), validates
the create body with `jsonschema` against the spec's NewEvent schema (the library a hand-written app reaches for,
compiled once) and every parameter with hand-written checks, calls the same `EventService` on the same storage, and
answers the same bodies, problem documents and X-Request-ID. What it leaves out is the framework: no spec read at
run time, no middleware stack, no log line. The schema is written out, as a hand-written app would;
tests/bench checks that it still is the spec's.
"""

import re
import uuid
from datetime import UTC, datetime

import awsgi
from flask import Flask, g, request
from jsonschema import Draft4Validator, ValidationError

from triggers import __version__
from triggers.auth.api_keys import Authenticator
from triggers.domain import errors
from triggers.domain.events import EventService
from triggers.domain.model import format_time

_NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:/-]*$(?!\\n)"}
_SOURCE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 256,
    "pattern": "^(?:[A-Za-z0-9._~:/?\\[\\]@!$&'()+,;=-]|%[0-9A-Fa-f]{2})+$(?!\\n)",
}
NEW_EVENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "event_type", "payload"],
    "properties": {
        "source": _SOURCE,
        "event_type": _NAME,
        "payload": {"type": "object"},
        "ttl_seconds": {"type": "integer", "minimum": 60},
    },
}
_new_event = Draft4Validator(NEW_EVENT)

_EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
_CURSOR = re.compile(r"[A-Za-z0-9_.-]{1,2048}")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7E]{1,128}")
_INBOX_PARAMETERS = {"limit", "cursor", "source", "event_type"}

_DOMAIN = {
    errors.EventNotFound: (404, "/problems/not-found", "Not Found", "No event with this id."),
    errors.AlreadyAcknowledged: (409, "/problems/already-acknowledged", "Conflict", "Already acknowledged."),
    errors.IdempotencyKeyReused: (422, "/problems/idempotency-key-reused", "Unprocessable Entity", "Key reused."),
    errors.InvalidCursor: (400, "/problems/invalid-cursor", "Bad Request", None),
    errors.StorageUnavailable: (503, "/problems/service-unavailable", "Service Unavailable", "Retry later."),
    errors.RateLimited: (429, "/problems/rate-limited", "Too Many Requests", "Retry later."),
}


class Refused(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def create_reference_app(events: EventService, authenticator: Authenticator) -> Flask:
    app = Flask(__name__)

    def problem(status: int, type_: str, title: str, detail: str):
        body = {"type": type_, "title": title, "status": status, "detail": detail, "request_id": g.request_id}
        headers = {"Content-Type": "application/problem+json", "X-Request-ID": g.request_id}
        return app.json.response(body), status, headers

    def ok(body: dict, status: int = 200, headers: dict | None = None):
        return {**body, "request_id": g.request_id}, status, {"X-Request-ID": g.request_id, **(headers or {})}

    @app.before_request
    def begin():
        g.request_id = str(uuid.uuid4())

    @app.errorhandler(Refused)
    def refused(exc: Refused):
        return problem(exc.status, f"/problems/{exc.title.lower().replace(' ', '-')}", exc.title, exc.detail)

    @app.errorhandler(errors.DomainError)
    def domain_error(exc: errors.DomainError):
        status, type_, title, detail = next(mapping for cls, mapping in _DOMAIN.items() if isinstance(exc, cls))
        return problem(status, type_, title, detail or str(exc))

    def tenant() -> str:
        key = request.headers.get("X-API-Key")
        info = authenticator.authenticate(key) if key else None
        if info is None:
            raise Refused(401, "Unauthorized", "A valid API key is required in the X-API-Key header.")
        return info["sub"]

    def checked_id(event_id: str) -> str:
        if not _EVENT_ID.fullmatch(event_id):
            raise Refused(400, "Bad Request", f"'{event_id}' is not a valid event id")
        return event_id

    @app.get("/v1/health")
    def get_health():
        return ok({"status": "ok", "version": __version__, "time": format_time(datetime.now(UTC))})

    @app.post("/v1/events")
    def create_event():
        user = tenant()
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
        event_id, created_at = events.create_event(
            user, body["source"], body["event_type"], body["payload"], idempotency_key
        )
        created = {"event_id": event_id, "status": "pending", "created_at": created_at}
        return ok(created, 201, {"Location": f"{request.script_root}/v1/events/{event_id}"})

    @app.get("/v1/events/<event_id>")
    def get_event(event_id):
        return ok(events.get_event(tenant(), checked_id(event_id)).public())

    @app.delete("/v1/events/<event_id>")
    def delete_event(event_id):
        events.delete_event(tenant(), checked_id(event_id))
        return ok({"event_id": event_id, "deleted": True})

    @app.post("/v1/events/<event_id>/ack")
    def acknowledge_event(event_id):
        acknowledged_at = events.acknowledge_event(tenant(), checked_id(event_id))
        return ok({"event_id": event_id, "status": "acknowledged", "acknowledged_at": acknowledged_at})

    @app.get("/v1/inbox")
    def list_inbox():
        user, args = tenant(), request.args
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
        page, next_cursor = events.list_inbox(user, int(limit), cursor, source, event_type)
        return ok({"events": [event.public() for event in page], "next_cursor": next_cursor})

    return app


def lambda_handler(events: EventService, authenticator: Authenticator):
    """The reference's Lambda handler: API Gateway REST events → aws-wsgi → Flask."""
    app = create_reference_app(events, authenticator)

    def handler(event, context):
        return awsgi.response(app, event, context)

    return handler
