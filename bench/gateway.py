"""API Gateway REST (payload v1) events for the benchmark, built from the real event the tests store."""

import copy
import json
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
_STORED_EVENT = ROOT / "tests" / "events" / "rest_api_event.json"
_TEMPLATE = json.loads(_STORED_EVENT.read_text())


def rest_event(method: str, path: str, *, body=None, headers=None, query=None, stage: str = "dev") -> dict:
    """One request as API Gateway hands it to the function (the same shape tests/conftest.py builds)."""
    event = copy.deepcopy(_TEMPLATE)
    event["httpMethod"] = method
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"].update(httpMethod=method, stage=stage, path=f"/{stage}{path}", requestId=str(uuid.uuid4()))
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    if query:
        event["multiValueQueryStringParameters"] = {name: [str(value)] for name, value in query.items()}
        event["queryStringParameters"] = {name: str(value) for name, value in query.items()}
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    return event


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="triggers-api-bench-api")
