"""API Gateway REST (payload v1) events, built from the real one stored in tests/events/rest_api_event.json.

Tests and the benchmark drive the Lambda handler with these, so both send what API Gateway sends.
"""

import copy
import json
import uuid
from pathlib import Path

STORED_EVENT = Path(__file__).resolve().parents[1] / "tests" / "events" / "rest_api_event.json"
_TEMPLATE = json.loads(STORED_EVENT.read_text())


def rest_event(method: str, path: str, *, body=None, headers=None, query=None, stage: str = "dev") -> dict:
    """The event for one request; `query` values may be lists (repeated parameters)."""
    event = copy.deepcopy(_TEMPLATE)
    event["httpMethod"] = method
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"].update(httpMethod=method, stage=stage, path=f"/{stage}{path}", requestId=str(uuid.uuid4()))
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    if query:
        multi = {
            name: [str(v) for v in value] if isinstance(value, list) else [str(value)] for name, value in query.items()
        }
        event["multiValueQueryStringParameters"] = multi
        event["queryStringParameters"] = {name: values[-1] for name, values in multi.items()}
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"].setdefault("Content-Type", "application/json")
        event["multiValueHeaders"].setdefault("Content-Type", [event["headers"]["Content-Type"]])
    return event
