"""CloudEvents 1.0 over HTTP (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md):
the event a CloudEvent stands for, which answer an Accept header asks for, and binary mode read as the structured
event it stands for. The CloudEvent an event is (for reads and for pushes) is the domain's:
triggers/domain/cloudevents.py.

openapi.yaml declares structured mode (`application/cloudevents+json`) and batched mode
(`application/cloudevents-batch+json`) with their schemas. Binary mode sends the data as the body, in its own
media type, and the attributes as `ce-` headers; a schema cannot tie headers to a body, so `CloudEventsRequests`
rewrites such a request into structured mode before routing, and the structured schema then validates it whole.

Mapping: `type` is `event_type`, `source` is `source`, `data` (a JSON object) is `payload` (absent: `{}`), `time`
and `subject` are kept as sent, and `source` + `id` are the idempotency key. Other attributes (`dataschema`,
extensions) are accepted and not stored. Data that is not JSON is 415, before validation (which would call a text
`data` a 400): a schema cannot make a status depend on another field's value.
"""

import json
import re
from urllib.parse import unquote

from connexion.exceptions import BadRequestProblem, UnsupportedMediaTypeProblem
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triggers.domain.cloudevents import STRUCTURED
from triggers.domain.events import NewEvent
from triggers.http.json_body import loads

BATCH = "application/cloudevents-batch+json"
# The media types whose data is JSON (the SDK's rule): application/json, text/json, and any `+json` type.
_JSON_DATA = re.compile(r"^(application|text)/([a-z0-9.!#$&^_-]+\+)?json$")
_PREFIX = b"ce-"


def _is_json(content_type: str) -> bool:
    return bool(_JSON_DATA.match(content_type.partition(";")[0].strip().lower()))


def _unsupported_data(event: object) -> str | None:
    """Why a structured CloudEvent's data is not JSON, if it is not."""
    if not isinstance(event, dict):
        return None  # the schema refuses it
    content_type = event.get("datacontenttype")
    if isinstance(content_type, str) and not _is_json(content_type):
        return f"The datacontenttype {content_type[:60]!r} is not JSON; events hold JSON data."
    if "data_base64" in event:
        return "Binary data (data_base64) is not accepted; events hold JSON data."
    return None


def to_new_event(attributes: dict) -> NewEvent:
    """The create a structured CloudEvent (as the spec's schema and `CloudEventsRequests` let it through) asks for."""
    return NewEvent(
        source=attributes["source"],
        event_type=attributes["type"],
        payload=attributes.get("data", {}),
        time=attributes.get("time"),
        subject=attributes.get("subject"),
        cloudevents_id=attributes["id"],
    )


def prefers_structured(accept: str | None) -> bool:
    """Whether an Accept header asks for `application/cloudevents+json` at least as much as for `application/json`
    (wildcards name neither: JSON stays the default)."""
    weights: dict[str, float] = {}
    for media_range in (accept or "").split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media_type.lower()] = max(weight, weights.get(media_type.lower(), 0.0))
    return weights.get(STRUCTURED, 0.0) > 0 and weights[STRUCTURED] >= weights.get("application/json", 0.0)


def cloudevents_paths(spec_paths: dict) -> tuple[str, ...]:
    """The paths whose POST takes CloudEvents (structured or batched, as the spec says): binary mode is read there
    only."""
    return tuple(
        path
        for path, operations in spec_paths.items()
        if {STRUCTURED, BATCH} & set(operations.get("post", {}).get("requestBody", {}).get("content", {}))
    )


class CloudEventsRequests:
    """On the paths that take structured CloudEvents, before routing:
    - binary mode: a POST with a `ce-specversion` header and a JSON body is read as the structured event it stands
      for: the `ce-` headers (percent-decoded) are its attributes, the Content-Type its `datacontenttype` and the
      body its `data` (a binary event of another media type passes as it is, and meets the spec's 415);
    - structured and batched mode: an event whose data is not JSON is 415 (the whole batch for one such item).
    Runs after the body size limit, so the limit applies to what was sent."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...]):
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        path = scope.get("path", "")[len(scope.get("root_path", "")) :]
        if scope["type"] != "http" or scope["method"] != "POST" or path not in self.paths:
            await self.app(scope, receive, send)
        elif content_type.startswith((STRUCTURED, BATCH)):
            raw = await _body(receive)
            value = loads(raw)
            for event in value if isinstance(value, list) else [value]:
                if reason := _unsupported_data(event):
                    raise UnsupportedMediaTypeProblem(detail=reason)
            await self.app(scope, _replay(raw, receive), send)
        elif b"ce-specversion" in headers and _is_json(content_type):
            attributes = {}
            for name, value in scope["headers"]:
                if name.startswith(_PREFIX) and len(name) > len(_PREFIX):
                    attributes[name[len(_PREFIX) :].decode("latin-1")] = _decoded(value)
            attributes["datacontenttype"] = content_type
            data = loads(await _body(receive))
            if data is not None:
                attributes["data"] = data
            body = json.dumps(attributes, ensure_ascii=False).encode()
            rewritten = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
            rewritten += [(b"content-type", STRUCTURED.encode()), (b"content-length", str(len(body)).encode())]
            await self.app({**scope, "headers": rewritten}, _replay(body, receive), send)
        else:
            await self.app(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            return raw


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` as the request's, then whatever the original receive gives (a disconnect)."""
    sent = False

    async def receive_body() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_body


def _decoded(value: bytes) -> str:
    """A header value as the binding encodes it: percent-encoded UTF-8."""
    try:
        return unquote(value.decode("latin-1"), errors="strict")
    except UnicodeDecodeError:
        raise BadRequestProblem(detail="A ce- header is not percent-encoded UTF-8.") from None
