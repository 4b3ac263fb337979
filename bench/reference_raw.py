"""The floor: a raw Lambda handler, no web framework and no WSGI, for the same requests.

It reads the API Gateway event directly, routes with a dict and a regex, checks the key with
triggers.auth.api_keys.authenticate, validates with a compiled validator (jsonschema-rs) and calls the same domain
functions on the same storage as ours and the Flask reference. Nothing written on top of Lambda costs less.
"""

import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import jsonschema_rs

from bench import schemas
from triggers import __version__
from triggers.auth.api_keys import authenticate
from triggers.domain import events
from triggers.domain.errors import AlreadyAcknowledged, DomainError, EventNotFound, InvalidCursor, RateLimited
from triggers.domain.model import format_time

_new_event = jsonschema_rs.Draft4Validator(schemas.NEW_EVENT)
_EVENT_PATH = re.compile(r"/v1/events/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(/ack)?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_CURSOR = re.compile(r"[A-Za-z0-9_.-]{1,2048}")
_STATUS = {EventNotFound: 404, AlreadyAcknowledged: 409, InvalidCursor: 400, RateLimited: 429}


class Refused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _answer(status: int, body: dict, request_id: str, content_type: str = "application/json", headers=None) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, "X-Request-ID": request_id, **(headers or {})},
        "body": json.dumps({**body, "request_id": request_id}),
        "isBase64Encoded": False,
    }


def _tenant(headers: dict) -> str:
    key = headers.get("x-api-key")
    info = authenticate(key) if key else None
    if info is None:
        raise Refused(401, "A valid API key is required in the X-API-Key header.")
    return info["sub"]


def _create(headers: dict, event: dict) -> tuple[int, dict, dict | None]:
    tenant = _tenant(headers)
    if (headers.get("content-type") or "").split(";")[0].strip() != "application/json":
        raise Refused(415, "Invalid Content-type")
    try:
        body = json.loads(event.get("body") or "")
    except ValueError:
        raise Refused(400, "The body is not JSON") from None
    error = next(_new_event.iter_errors(body), None)
    if error is not None:
        raise Refused(400, error.message)
    created = events.create_event(
        tenant, body["source"], body["event_type"], body["payload"], headers.get("idempotency-key")
    )
    body = {"event_id": created.event_id, "status": "pending", "created_at": created.created_at}
    return 201, body, {"Location": f"/v1/events/{quote(created.event_id)}"}


def _inbox(headers: dict, event: dict) -> tuple[int, dict, None]:
    tenant = _tenant(headers)
    query = event.get("queryStringParameters") or {}
    if set(query) - {"limit", "cursor", "source", "event_type"}:
        raise Refused(400, "Extra query parameter")
    limit = query.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise Refused(400, "limit must be an integer from 1 to 100")
    cursor, source, event_type = query.get("cursor"), query.get("source"), query.get("event_type")
    if (cursor is not None and not _CURSOR.fullmatch(cursor)) or any(
        value is not None and not _NAME.fullmatch(value) for value in (source, event_type)
    ):
        raise Refused(400, "Invalid query parameter")
    page, next_cursor = events.list_inbox(tenant, int(limit), cursor, source, event_type)
    return 200, {"events": [item.public() for item in page], "next_cursor": next_cursor}, None


def _route(method: str, path: str, headers: dict, event: dict) -> tuple[int, dict, dict | None]:
    if path == "/v1/health" and method == "GET":
        return 200, {"status": "ok", "version": __version__, "time": format_time(datetime.now(UTC))}, None
    if path == "/v1/events" and method == "POST":
        return _create(headers, event)
    if path == "/v1/inbox" and method == "GET":
        return _inbox(headers, event)
    match = _EVENT_PATH.fullmatch(path)
    if match:
        event_id, ack = match.groups()
        if ack and method == "POST":
            at = events.acknowledge_event(_tenant(headers), event_id)
            return 200, {"event_id": event_id, "status": "acknowledged", "acknowledged_at": at}, None
        if not ack and method == "GET":
            return 200, events.get_event(_tenant(headers), event_id).public(), None
        if not ack and method == "DELETE":
            events.delete_event(_tenant(headers), event_id)
            return 200, {"event_id": event_id, "deleted": True}, None
    raise Refused(404, "Not Found")


def handler(event, context):
    request_id = str(uuid.uuid4())
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    try:
        status, body, extra = _route(event["httpMethod"], event["path"], headers, event)
    except Refused as exc:
        body = {"type": "/problems/refused", "title": "Refused", "status": exc.status, "detail": exc.detail}
        return _answer(exc.status, body, request_id, "application/problem+json")
    except DomainError as exc:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 503)
        body = {"type": "/problems/domain", "title": type(exc).__name__, "status": status, "detail": str(exc)}
        return _answer(status, body, request_id, "application/problem+json")
    return _answer(status, body, request_id, headers=extra)
